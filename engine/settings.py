"""The engine's settings from the environment (pydantic-settings): one base for the pod worker's and the
LLM policy's, refusing a bad value with its environment variable named.

The engine runs on GPU pods without the platform's services, so it reads its own variables (listed in
docs/worker-api.md) and imports nothing from `services/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


class EnvSettings(BaseSettings):
    """Fields from keyword arguments (highest), then environment variables, then defaults.

    A field's variable is its `validation_alias`, else the subclass's `env_prefix` + its name in capitals.
    """

    model_config = SettingsConfigDict(
        env_ignore_empty=True,  # an empty variable means "not set"
        validate_by_name=True,  # keyword arguments use the field names
        extra="forbid",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the documented variables; no .env or secrets files on a pod."""
        return init_settings, _DocumentedVariables(settings_cls)

    @classmethod
    def from_env(cls, **values: Any) -> Self:
        """The settings with `values` that are not None on top; SettingsError naming each bad variable."""
        try:
            return cls(**{name: value for name, value in values.items() if value is not None})
        except ValidationError as exc:
            refused = {cls.variable(str(e["loc"][0]) if e["loc"] else ""): e["msg"] for e in exc.errors()}
            raise SettingsError(refused) from exc

    @classmethod
    def variable(cls, key: str) -> str:
        """The environment variable of a field (`key`: its name, or its alias, as an error locates it)."""
        field = cls.model_fields.get(key)
        if field is None or field.validation_alias:
            return str(field.validation_alias) if field else key
        return f"{cls.model_config.get('env_prefix', '')}{key.upper()}"


class _DocumentedVariables(EnvSettingsSource):
    """The environment without the prefixed field names of aliased fields: with `validate_by_name`
    pydantic-settings would also read SIMSWARM_TOKEN for the token (SIMSWARM_POD_TOKEN) or
    SIMSWARM_LLM_MODEL (the gateway's model) for the run's model (SIMSWARM_MODEL)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        fields = self.settings_cls.model_fields
        shadowed = {f"{self.env_prefix}{name}" for name, f in fields.items() if f.validation_alias}
        shadowed = shadowed if self.case_sensitive else {name.lower() for name in shadowed}
        return {var: value for var, value in super()._load_env_vars().items() if var not in shadowed}


class SettingsError(ValueError):
    """Values the environment (or the caller) gave that cannot be used: {variable: why}."""

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused = refused
        super().__init__("; ".join(f"{var}: {why}" for var, why in refused.items()))
