"""Settings from the environment (and `$SIMSWARM_HOME/stack.json` written by `simswarm up`)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import msgspec

from contracts.spec import DEFAULT_TIERS, Tier, TierConfig, load_tiers
from services.kit.secretfiles import private_dir, read_or_create_secret, write_secret


class Settings(msgspec.Struct, kw_only=True):
    home: Path
    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres:@127.0.0.1:5432/postgres"
    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_access_key: str = ""  # no fixed default: `simswarm up` makes a key pair per home (docs/security.md)
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    s3_bucket: str = "simswarm"
    pod_provider: str = "local"
    podmanager_secret: str = ""
    runpod_api_key: str | None = None
    runpod_api_url: str = "https://api.runpod.io/graphql"
    runpod_image: str = "ghcr.io/simswarm/pod:latest"  # the GPU pod's image (deploy/pod/)
    # RunRequested followed at once by the pod manager; more wait on the stream (docs/podmanager.md).
    podmanager_max_runs: Annotated[int, msgspec.Meta(ge=1)] = 64
    llm_url: str | None = None
    llm_model: str | None = None
    # The reporter's model (an OpenAI-compatible base URL ending in /v1, and a model id): when both are
    # set the report is written by the model with tools over the artifacts, else computed.
    reporter_llm_url: str | None = None
    reporter_llm_model: str | None = None
    reporter_llm_api_key: str | None = None
    neo4j_uri: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    public_url: str | None = None
    tiers: dict[Tier, TierConfig] = msgspec.field(default_factory=lambda: dict(DEFAULT_TIERS))
    max_live_jobs_per_user: int = 20
    # Open SSE streams, each holding a JetStream consumer: per user and in all, per gateway process.
    max_streams_per_user: int = 10
    max_open_streams: int = 500
    # Gateway rate limits: "name=N/SECONDS,..." overriding the defaults in services.gateway.ratelimit.
    rate_limits: str = ""
    # Reverse proxies whose X-Forwarded-For is believed: "ip,cidr,..."; "" trusts nobody, "*" everyone.
    trusted_proxies: str = ""
    log_level: str = "INFO"
    # NATS credentials (docs/security.md, "Credentials"): this process's own user, or a file of
    # per-service passwords (what `simswarm up` writes); `nats_auth=False` only for a NATS without users.
    nats_user: str | None = None
    nats_password: str | None = None
    nats_credentials_file: Path | None = None
    nats_auth: bool = True
    # The bearer token that lets an operator (or Prometheus) read the gateway's /metrics.
    metrics_token: str = ""
    # Every other service's Prometheus endpoint (docs/operations.md#metrics): 0 = off.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Replicas of each JetStream stream when a service creates it: 3 on a 3-node cluster.
    stream_replicas: int = 1
    # Partitions of the orchestrator's inbound events (by job id): how many jobs it advances at once,
    # shared by its replicas (docs/orchestrator.md#partitions). Fixed once its inbound stream exists.
    orchestrator_partitions: int = 8
    # Read-only showcase: no registration, no job creation (403 `demo_mode`); the jobs listed in
    # `demo_jobs` (comma-separated ids, completed) are public at GET /api/share/demos.
    demo_mode: bool = False
    demo_jobs: str = ""
    # Outgoing mail (verification, password reset): "smtp://user:pass@host:port" or "smtps://...";
    # "" writes each mail to the gateway's log instead.
    smtp_url: str = ""
    mail_from: str = "SimSwarm <no-reply@simswarm.local>"

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


class NatsLogin(msgspec.Struct, frozen=True, kw_only=True):
    user: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"NatsLogin(user={self.user!r})"


def default_home() -> Path:
    return Path(os.environ.get("SIMSWARM_HOME", Path.home() / ".simswarm")).expanduser()


def stack_file(home: Path) -> Path:
    """Where `simswarm up` records the endpoints of the parts it started (0600: it holds the S3 keys)."""
    return home / "stack.json"


def nats_credentials_file(home: Path) -> Path:
    """Per-service NATS passwords of the embedded stack (0600), as `{"gateway": "...", ...}`."""
    return home / "nats-credentials.json"


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
    "SIMSWARM_RUNPOD_IMAGE": "runpod_image",
    "SIMSWARM_PODMANAGER_MAX_RUNS": "podmanager_max_runs",
    "SIMSWARM_LLM_URL": "llm_url",
    "SIMSWARM_LLM_MODEL": "llm_model",
    "SIMSWARM_REPORTER_LLM_URL": "reporter_llm_url",
    "SIMSWARM_REPORTER_LLM_MODEL": "reporter_llm_model",
    "SIMSWARM_REPORTER_LLM_API_KEY": "reporter_llm_api_key",
    "NEO4J_URI": "neo4j_uri",
    "NEO4J_USER": "neo4j_user",
    "NEO4J_PASSWORD": "neo4j_password",
    "SIMSWARM_HOST": "gateway_host",
    "SIMSWARM_PORT": "gateway_port",
    "SIMSWARM_PUBLIC_URL": "public_url",
    "SIMSWARM_MAX_LIVE_JOBS": "max_live_jobs_per_user",
    "SIMSWARM_MAX_STREAMS_PER_USER": "max_streams_per_user",
    "SIMSWARM_MAX_OPEN_STREAMS": "max_open_streams",
    "SIMSWARM_RATE_LIMITS": "rate_limits",
    "SIMSWARM_TRUSTED_PROXIES": "trusted_proxies",
    "SIMSWARM_LOG_LEVEL": "log_level",
    "NATS_USER": "nats_user",
    "NATS_PASSWORD": "nats_password",
    "SIMSWARM_NATS_CREDENTIALS": "nats_credentials_file",
    "SIMSWARM_NATS_AUTH": "nats_auth",
    "SIMSWARM_METRICS_TOKEN": "metrics_token",
    "SIMSWARM_METRICS_PORT": "metrics_port",
    "SIMSWARM_METRICS_HOST": "metrics_host",
    "SIMSWARM_STREAM_REPLICAS": "stream_replicas",
    "SIMSWARM_ORCHESTRATOR_PARTITIONS": "orchestrator_partitions",
    "SIMSWARM_DEMO_MODE": "demo_mode",
    "SIMSWARM_DEMO_JOBS": "demo_jobs",
    "SIMSWARM_SMTP_URL": "smtp_url",
    "SIMSWARM_MAIL_FROM": "mail_from",
}


def load_settings(env: Mapping[str, str] | None = None, home: Path | None = None) -> Settings:
    """Settings: defaults < `$SIMSWARM_HOME/stack.json` < environment variables.

    The pod-manager secret and the metrics token are generated once per home and kept in
    `$SIMSWARM_HOME/secret` and `$SIMSWARM_HOME/metrics-token` (0600) unless set.
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
        raise SettingsError(f"invalid setting: {exc}{_source_of(str(exc))}") from exc
    if tiers_file:
        settings.tiers = load_tiers(Path(tiers_file).read_bytes())
    if not settings.podmanager_secret:
        settings.podmanager_secret = _home_secret(home, "secret", "SIMSWARM_PODMANAGER_SECRET")
    if not settings.metrics_token:
        settings.metrics_token = _home_secret(home, "metrics-token", "SIMSWARM_METRICS_TOKEN")
    return settings


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it."""


def _source_of(message: str) -> str:
    """' (environment variable X)' for the field a validation message points at (`$.field`), if it has one."""
    field = message.rsplit("`$.", 1)[-1].rstrip("`") if "`$." in message else ""
    names = [var for var, name in _ENV_FIELDS.items() if name == field]
    return f" (environment variable {names[0]})" if names else ""


def _dec_hook(typ: type, value: object) -> object:
    if typ is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


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
