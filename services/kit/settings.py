"""Settings from the environment and `$SIMSWARM_HOME/stack.json` (written by `simswarm up`): one typed
object (pydantic-settings), read in this module only, refusing a bad value with the variable named.

Precedence, lowest first: defaults < `stack.json` < environment variables < keyword arguments.
Each field's environment variable is its `validation_alias` (`Settings.variables()` lists them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import msgspec
from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.spec import DEFAULT_TIERS, Tier, TierConfig, load_tiers
from services.kit.secretfiles import private_dir, read_or_create_secret, write_secret


def _tier_table(value: object) -> dict[Tier, TierConfig]:
    """The routing table from stack.json's builtins (or as it is): msgspec checks the rows."""
    return msgspec.convert(value, dict[Tier, TierConfig])


TierTable = Annotated[
    dict[Tier, TierConfig],
    BeforeValidator(_tier_table),
    PlainSerializer(lambda tiers: msgspec.to_builtins(tiers)),
]


def default_home() -> Path:
    """$SIMSWARM_HOME (an empty one is unset, like every variable here), else ~/.simswarm."""
    return Path(os.environ.get("SIMSWARM_HOME") or Path.home() / ".simswarm").expanduser()


class Settings(BaseSettings):
    """Everything a service (or the CLI) is configured with; the comments say what the less obvious ones do."""

    model_config = SettingsConfigDict(
        case_sensitive=True,  # NATS_URL, never nats_url or HOME's cousin `home`
        env_ignore_empty=True,  # an empty variable means "not set", as compose's ${VAR:-} gives it
        validate_by_name=True,  # keyword arguments, stack.json and model_copy use the field names
        extra="forbid",
        arbitrary_types_allowed=True,  # TierConfig: a msgspec Struct of contracts/, checked by TierTable
    )

    home: Path = Field(default_factory=default_home, validation_alias="SIMSWARM_HOME")
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="NATS_URL")
    database_url: str = Field(
        "postgresql://postgres:@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL"
    )
    s3_endpoint: str = Field("http://127.0.0.1:8333", validation_alias="S3_ENDPOINT")
    # No fixed default: `simswarm up` makes a key pair per home (docs/security.md).
    s3_access_key: str = Field("", validation_alias="S3_ACCESS_KEY")
    s3_secret_key: str = Field("", validation_alias="S3_SECRET_KEY")
    s3_region: str = Field("us-east-1", validation_alias="S3_REGION")
    s3_bucket: str = Field("simswarm", validation_alias="S3_BUCKET")
    pod_provider: str = Field("local", validation_alias="SIMSWARM_POD_PROVIDER")
    podmanager_secret: str = Field("", validation_alias="SIMSWARM_PODMANAGER_SECRET")
    runpod_api_key: str | None = Field(None, validation_alias="RUNPOD_API_KEY")
    runpod_api_url: str = Field("https://api.runpod.io/graphql", validation_alias="RUNPOD_API_URL")
    # The GPU pod's image (deploy/pod/).
    runpod_image: str = Field("ghcr.io/simswarm/pod:latest", validation_alias="SIMSWARM_RUNPOD_IMAGE")
    # RunRequested followed at once by the pod manager; more wait on the stream (docs/podmanager.md).
    podmanager_max_runs: int = Field(64, ge=1, validation_alias="SIMSWARM_PODMANAGER_MAX_RUNS")
    llm_url: str | None = Field(None, validation_alias="SIMSWARM_LLM_URL")
    llm_model: str | None = Field(None, validation_alias="SIMSWARM_LLM_MODEL")
    # The reporter's model (an OpenAI-compatible base URL ending in /v1, and a model id): when both are
    # set the report is written by the model with tools over the artifacts, else computed.
    reporter_llm_url: str | None = Field(None, validation_alias="SIMSWARM_REPORTER_LLM_URL")
    reporter_llm_model: str | None = Field(None, validation_alias="SIMSWARM_REPORTER_LLM_MODEL")
    reporter_llm_api_key: str | None = Field(None, validation_alias="SIMSWARM_REPORTER_LLM_API_KEY")
    neo4j_uri: str | None = Field(None, validation_alias="NEO4J_URI")
    neo4j_user: str = Field("neo4j", validation_alias="NEO4J_USER")
    neo4j_password: str | None = Field(None, validation_alias="NEO4J_PASSWORD")
    gateway_host: str = Field("127.0.0.1", validation_alias="SIMSWARM_HOST")
    gateway_port: int = Field(8080, validation_alias="SIMSWARM_PORT")
    public_url: str | None = Field(None, validation_alias="SIMSWARM_PUBLIC_URL")
    # The routing table: stack.json's, replaced by the JSON file SIMSWARM_TIERS_FILE names.
    tiers: TierTable = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    tiers_file: Path | None = Field(None, validation_alias="SIMSWARM_TIERS_FILE")
    max_live_jobs_per_user: int = Field(20, validation_alias="SIMSWARM_MAX_LIVE_JOBS")
    # Open SSE streams, each holding a JetStream consumer: per user and in all, per gateway process.
    max_streams_per_user: int = Field(10, validation_alias="SIMSWARM_MAX_STREAMS_PER_USER")
    max_open_streams: int = Field(500, validation_alias="SIMSWARM_MAX_OPEN_STREAMS")
    # Gateway rate limits: "name=N/SECONDS,..." overriding the defaults in services.gateway.ratelimit.
    rate_limits: str = Field("", validation_alias="SIMSWARM_RATE_LIMITS")
    # Reverse proxies whose X-Forwarded-For is believed: "ip,cidr,..."; "" trusts nobody, "*" everyone.
    trusted_proxies: str = Field("", validation_alias="SIMSWARM_TRUSTED_PROXIES")
    log_level: str = Field("INFO", validation_alias="SIMSWARM_LOG_LEVEL")
    # NATS credentials (docs/security.md, "Credentials"): this process's own user, or a file of
    # per-service passwords (what `simswarm up` writes); `nats_auth=False` only for a NATS without users.
    nats_user: str | None = Field(None, validation_alias="NATS_USER")
    nats_password: str | None = Field(None, validation_alias="NATS_PASSWORD")
    nats_credentials_file: Path | None = Field(None, validation_alias="SIMSWARM_NATS_CREDENTIALS")
    nats_auth: bool = Field(True, validation_alias="SIMSWARM_NATS_AUTH")
    # The bearer token that lets an operator (or Prometheus) read the gateway's /metrics.
    metrics_token: str = Field("", validation_alias="SIMSWARM_METRICS_TOKEN")
    # Every other service's Prometheus endpoint (docs/operations.md#metrics): 0 = off.
    metrics_port: int = Field(0, validation_alias="SIMSWARM_METRICS_PORT")
    metrics_host: str = Field("127.0.0.1", validation_alias="SIMSWARM_METRICS_HOST")
    # Replicas of each JetStream stream when a service creates it: 3 on a 3-node cluster.
    stream_replicas: int = Field(1, validation_alias="SIMSWARM_STREAM_REPLICAS")
    # Partitions of the orchestrator's inbound events (by job id): how many jobs it advances at once,
    # shared by its replicas (docs/orchestrator.md#partitions). Fixed once its inbound stream exists.
    # 32: at 50 jobs at once, 8 left a partition's events queued behind its saves (p99 0.5 s vs 0.1 s).
    orchestrator_partitions: int = Field(32, validation_alias="SIMSWARM_ORCHESTRATOR_PARTITIONS")
    # Read-only showcase: no registration, no job creation (403 `demo_mode`); the jobs listed in
    # `demo_jobs` (comma-separated ids, completed) are public at GET /api/share/demos.
    demo_mode: bool = Field(False, validation_alias="SIMSWARM_DEMO_MODE")
    demo_jobs: str = Field("", validation_alias="SIMSWARM_DEMO_JOBS")
    # Outgoing mail (verification, password reset): "smtp://user:pass@host:port" or "smtps://...";
    # "" writes each mail to the gateway's log instead.
    smtp_url: str = Field("", validation_alias="SIMSWARM_SMTP_URL")
    mail_from: str = Field("SimSwarm <no-reply@simswarm.local>", validation_alias="SIMSWARM_MAIL_FROM")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then the environment (only the variables named here), then stack.json."""
        origin = _origin.get()
        if origin is None:
            return init_settings, _Environment(settings_cls, os.environ), _StackFile(settings_cls)
        env = _Environment(settings_cls, origin.env)
        return (init_settings, env, _StackFile(settings_cls)) if origin.stack_file else (init_settings, env)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every environment variable read, with the field it sets."""
        return {str(f.validation_alias): name for name, f in cls.model_fields.items() if f.validation_alias}

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, home: Path) -> Path:
        return home.expanduser()

    @model_validator(mode="after")
    def _read_tiers_file(self) -> Settings:
        if self.tiers_file is not None:
            try:
                self.tiers = load_tiers(self.tiers_file.read_bytes())
            except (OSError, msgspec.DecodeError) as exc:
                raise ValueError(f"SIMSWARM_TIERS_FILE {self.tiers_file}: {exc}") from exc
        return self

    @property
    def api_url(self) -> str:
        return self.public_url or f"http://{self.gateway_host}:{self.gateway_port}"

    def nats_login(self, user: str) -> NatsLogin | None:
        """The NATS user and password the `user` service connects with; None when NATS has no users.

        Raises SettingsError, naming what to set, when auth is on and no credentials are found: a
        service must not fall back to an anonymous connection.
        """
        if self.nats_user and self.nats_password:
            return NatsLogin(user=self.nats_user, password=self.nats_password)
        path = self.nats_credentials_file or nats_credentials_file(self.home)
        if path.exists():
            try:
                creds = msgspec.json.decode(path.read_bytes(), type=dict[str, str])
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise SettingsError(f"NATS credentials file {path} is unreadable: {exc}") from exc
            if user in creds:
                return NatsLogin(user=user, password=creds[user])
            raise SettingsError(f"NATS credentials file {path} has no password for the {user!r} user")
        url = urlsplit(self.nats_url.split(",", 1)[0])
        if url.username and url.password:  # nats://user:password@host
            return NatsLogin(user=unquote(url.username), password=unquote(url.password))
        if not self.nats_auth:
            return None  # a NATS without users (development only)
        raise SettingsError(
            f"no NATS credentials for the {user!r} service: set NATS_USER and NATS_PASSWORD to its own user "
            "(see docs/security.md), or SIMSWARM_NATS_CREDENTIALS to a credentials file; "
            "SIMSWARM_NATS_AUTH=false only for a NATS server without users"
        )


class _Environment(EnvSettingsSource):
    """The variables of `Settings.variables()` in `env`: a mapping a caller (a test) gives, or os.environ.

    Only the named variables: with `validate_by_name` pydantic-settings would also take a variable
    spelled like a field (`nats_url`), which nobody documents or sets on purpose.
    """

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._env = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {var: self._env[var] for var in Settings.variables() if self._env.get(var)}


class _StackFile(PydanticBaseSettingsSource):
    """`$SIMSWARM_HOME/stack.json` (field names, as `simswarm up` writes them), below the environment.

    The home is the one the higher sources give (keyword argument or SIMSWARM_HOME), else the default.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        home = self.current_state.get("SIMSWARM_HOME")
        path = stack_file(Path(home).expanduser() if home else default_home())
        if not path.exists():
            return {}
        try:
            values = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SettingsError(f"{path} is unreadable: {exc}; `simswarm up` writes it again") from exc
        fields = Settings.model_fields
        return {
            str(fields[name].validation_alias or name): value
            for name, value in values.items()
            if name in fields
        }


class NatsLogin(msgspec.Struct, frozen=True, kw_only=True):
    user: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"NatsLogin(user={self.user!r})"


def stack_file(home: Path) -> Path:
    """Where `simswarm up` records the endpoints of the parts it started (0600: it holds the S3 keys)."""
    return home / "stack.json"


def nats_credentials_file(home: Path) -> Path:
    """Per-service NATS passwords of the embedded stack (0600), as `{"gateway": "...", ...}`."""
    return home / "nats-credentials.json"


def load_settings(env: Mapping[str, str] | None = None, home: Path | None = None) -> Settings:
    """Settings: defaults < `$SIMSWARM_HOME/stack.json` < environment variables (`env`, else os.environ).

    `home` (else SIMSWARM_HOME, else ~/.simswarm) is where stack.json and the secrets live. The pod-manager
    secret and the metrics token are generated once per home and kept in `$SIMSWARM_HOME/secret` and
    `$SIMSWARM_HOME/metrics-token` (0600) unless set. Raises SettingsError naming a bad variable.
    """
    env = os.environ if env is None else env
    home = (home or Path(env.get("SIMSWARM_HOME", "") or default_home())).expanduser()
    settings = _read(env, home)
    if not settings.podmanager_secret:
        settings.podmanager_secret = _home_secret(home, "secret", "SIMSWARM_PODMANAGER_SECRET")
    if not settings.metrics_token:
        settings.metrics_token = _home_secret(home, "metrics-token", "SIMSWARM_METRICS_TOKEN")
    return settings


def environment_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment sets, by field name, checked: no defaults, no stack.json.

    What `simswarm up` takes from the operator (an external database, S3) instead of starting the part.
    """
    env = os.environ if env is None else env
    settings = _read(env, None, stack_file=False)
    return {name: getattr(settings, name) for name in settings.model_fields_set}


def recorded_settings(home: Path) -> Settings | None:
    """What `simswarm up` recorded in `home`: its stack.json over the defaults, without the environment
    (where the SDK finds the local gateway); None when no stack runs from there."""
    return _read({}, home) if stack_file(home).exists() else None


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class _Origin:
    """The sources of the Settings `_read` builds; a plain `Settings()` reads os.environ and stack.json."""

    env: Mapping[str, str]
    stack_file: bool = True


_origin: ContextVar[_Origin | None] = ContextVar("settings_origin", default=None)


def _read(env: Mapping[str, str], home: Path | None, *, stack_file: bool = True) -> Settings:
    """Settings from `env` (not os.environ), `home`'s stack.json unless told not to, the defaults;
    SettingsError naming each value refused."""
    token = _origin.set(_Origin(env, stack_file))
    try:
        return Settings(home=home) if home else Settings()
    except ValidationError as exc:
        raise SettingsError(_explain(exc, env, home)) from exc
    finally:
        _origin.reset(token)


def _explain(exc: ValidationError, env: Mapping[str, str], home: Path | None) -> str:
    """One line per refused value, naming the environment variable (or stack.json) it came from."""
    fields = {
        str(f.validation_alias): name for name, f in Settings.model_fields.items() if f.validation_alias
    }
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        # A ValueError raised by a validator says itself what it is about (SIMSWARM_TIERS_FILE).
        msg = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        if key in fields and env.get(key):
            problems.append(f"environment variable {key}: {msg}")
        elif key:
            problems.append(f"{fields.get(key, key)} in {stack_file(home) if home else 'stack.json'}: {msg}")
        else:
            problems.append(msg)
    return "invalid setting: " + "; ".join(problems)


def _home_secret(home: Path, name: str, env_var: str) -> str:
    """The secret kept in the home, made once; a home that cannot hold it is an error naming both ways out.

    Never a random secret for this process only: another process would hold another one (the pod
    manager's pod tokens, the gateway's metrics token) and nothing would say why they disagree.
    """
    try:
        private_dir(home)
        return read_or_create_secret(home / name)
    except OSError as exc:
        raise SettingsError(
            f"cannot read or create {home / name} ({exc.strerror or exc}): set {env_var}, "
            f"or make SIMSWARM_HOME ({home}) writable"
        ) from exc


def write_stack_file(home: Path, values: dict[str, object]) -> None:
    private_dir(home)
    write_secret(stack_file(home), json.dumps(values, indent=2))
