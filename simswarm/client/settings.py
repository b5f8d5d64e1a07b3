"""Where the SDK finds the API: `SIMSWARM_API_URL` and `SIMSWARM_API_KEY`, else the local `simswarm up`
of `SIMSWARM_HOME` (the gateway its stack.json records, the key in its `api-key` file)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.kit.settings import default_home, recorded_settings
from simswarm.client.errors import NotConfigured


class ClientSettings(BaseSettings):
    """The SDK's settings: keyword arguments, then `SIMSWARM_<FIELD>` variables, then the defaults."""

    model_config = SettingsConfigDict(env_prefix="SIMSWARM_", env_ignore_empty=True, extra="forbid")

    api_url: str | None = None
    api_key: str | None = Field(None, repr=False)
    home: Path = Field(default_factory=default_home)

    def endpoint(self) -> tuple[str, str]:
        """(api_url, api_key); NotConfigured saying what to do when either cannot be found."""
        home = self.home.expanduser()
        local = recorded_settings(home) if not self.api_url else None
        url = self.api_url or (local.api_url if local else None)
        key = self.api_key
        if not key and (home / "api-key").exists():
            key = (home / "api-key").read_text().strip()
        if not url or not key:
            raise NotConfigured(
                f"no SimSwarm API found: start one with `simswarm up` (home {home}), "
                "or set SIMSWARM_API_URL and SIMSWARM_API_KEY"
            )
        return url.rstrip("/"), key
