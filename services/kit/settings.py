"""Settings from the environment (and `$SIMSWARM_HOME/stack.json` written by `simswarm up`)."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

import msgspec

from contracts.spec import DEFAULT_TIERS, Tier, TierConfig, load_tiers


class Settings(msgspec.Struct, kw_only=True):
    home: Path
    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres:@127.0.0.1:5432/postgres"
    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_access_key: str = "simswarm"
    s3_secret_key: str = "simswarm-secret"
    s3_region: str = "us-east-1"
    s3_bucket: str = "simswarm"
    pod_provider: str = "local"
    podmanager_secret: str = ""
    runpod_api_key: str | None = None
    runpod_api_url: str = "https://api.runpod.io/graphql"
    llm_url: str | None = None
    llm_model: str | None = None
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    public_url: str | None = None
    tiers: dict[Tier, TierConfig] = msgspec.field(default_factory=lambda: dict(DEFAULT_TIERS))
    max_live_jobs_per_user: int = 20
    # Gateway rate limits: "name=N/SECONDS,..." overriding the defaults in services.gateway.ratelimit.
    rate_limits: str = ""
    # Reverse proxies whose X-Forwarded-For is believed: "ip,cidr,..."; "" trusts nobody, "*" everyone.
    trusted_proxies: str = ""
    log_level: str = "INFO"

    @property
    def api_url(self) -> str:
        return self.public_url or f"http://{self.gateway_host}:{self.gateway_port}"


def default_home() -> Path:
    return Path(os.environ.get("SIMSWARM_HOME", Path.home() / ".simswarm")).expanduser()


def stack_file(home: Path) -> Path:
    """Where `simswarm up` records the endpoints of the parts it started."""
    return home / "stack.json"


_ENV_FIELDS = {
    "NATS_URL": "nats_url",
    "DATABASE_URL": "database_url",
    "S3_ENDPOINT": "s3_endpoint",
    "S3_ACCESS_KEY": "s3_access_key",
    "S3_SECRET_KEY": "s3_secret_key",
    "S3_REGION": "s3_region",
    "S3_BUCKET": "s3_bucket",
    "SIMSWARM_POD_PROVIDER": "pod_provider",
    "SIMSWARM_PODMANAGER_SECRET": "podmanager_secret",
    "RUNPOD_API_KEY": "runpod_api_key",
    "RUNPOD_API_URL": "runpod_api_url",
    "SIMSWARM_LLM_URL": "llm_url",
    "SIMSWARM_LLM_MODEL": "llm_model",
    "NEO4J_URI": "neo4j_uri",
    "NEO4J_USER": "neo4j_user",
    "NEO4J_PASSWORD": "neo4j_password",
    "SIMSWARM_HOST": "gateway_host",
    "SIMSWARM_PORT": "gateway_port",
    "SIMSWARM_PUBLIC_URL": "public_url",
    "SIMSWARM_MAX_LIVE_JOBS": "max_live_jobs_per_user",
    "SIMSWARM_RATE_LIMITS": "rate_limits",
    "SIMSWARM_TRUSTED_PROXIES": "trusted_proxies",
    "SIMSWARM_LOG_LEVEL": "log_level",
}


def load_settings(env: Mapping[str, str] | None = None, home: Path | None = None) -> Settings:
    """Settings: defaults < `$SIMSWARM_HOME/stack.json` < environment variables.

    The pod-manager secret is generated once per home and kept in `$SIMSWARM_HOME/secret` (0600).
    """
    env = os.environ if env is None else env
    home = (home or Path(env.get("SIMSWARM_HOME", "") or default_home())).expanduser()
    values: dict[str, object] = {"home": str(home)}
    sf = stack_file(home)
    if sf.exists():
        values.update(json.loads(sf.read_text()))
    for var, field in _ENV_FIELDS.items():
        if env.get(var):
            values[field] = env[var]
    tiers_file = env.get("SIMSWARM_TIERS_FILE")
    try:
        settings = msgspec.convert(values, Settings, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid setting: {exc}") from exc
    if tiers_file:
        settings.tiers = load_tiers(Path(tiers_file).read_bytes())
    if not settings.podmanager_secret:
        settings.podmanager_secret = _home_secret(home)
    return settings


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


def _dec_hook(typ: type, value: object) -> object:
    if typ is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _home_secret(home: Path) -> str:
    path = home / "secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        home.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value
    except OSError:
        return secrets.token_hex(32)


def write_stack_file(home: Path, values: dict[str, object]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = stack_file(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(values, indent=2))
    tmp.replace(stack_file(home))
