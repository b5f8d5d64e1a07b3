"""The engine's settings from the environment (pydantic-settings): one base for the pod worker's and the
LLM policy's, refusing a bad value with its environment variable named.

The engine runs on GPU pods without the platform's services, so it reads its own variables (listed in
docs/worker-api.md) and imports nothing from `services/`.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class SettingsError(ValueError):
    """Values the environment (or the caller) gave that cannot be used: {variable: why}."""

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused = refused
        super().__init__("; ".join(f"{var}: {why}" for var, why in refused.items()))
