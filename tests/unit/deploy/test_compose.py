"""deploy/compose.yaml is correct by construction (issue 10, item 4): no Docker engine exists where it
was written, so this reads the file (PyYAML) and checks each service's command, environment and ports
against what the code reads: the CLI's subcommands, services/kit/settings.py, the NATS users and
permissions of contracts/subjects.py, the Prometheus targets, the metric families of the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from contracts.subjects import NATS_USERS
from services.kit import metrics
from services.kit.settings import Settings, load_settings
from services.kit.telemetry import tracing_enabled
from simswarm.cli import build_parser
from simswarm.commands.stack import SERVICE_MODULES
from simswarm.nats_auth import password_env_var, render_config

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
# Read besides the Settings fields' variables: the standard OTEL_* ones, by the OpenTelemetry SDK (tracing).
OTEL_READ = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SDK_DISABLED",
}
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def _dotenv() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` against `env` (the .env file)."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == "?":
            raise AssertionError(f"{name} is required by compose.yaml but not in .env.example")
        return arg or ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home for load_settings (it keeps generated secrets there), never the user's own."""
    return tmp_path / "home"


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if svc.get("image") == "simswarm:latest"}


def _env(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {k: _interpolate(str(v), _dotenv()) for k, v in env.items()}


def _raw_var(value: str) -> str:
    m = _VAR.fullmatch(value)
    assert m, f"{value!r} is not a single ${{VAR}} reference"
    return m.group(1)


def test_every_service_runs_from_the_image_with_a_real_cli_subcommand(services):
    apps = _app_services(services)
    assert set(apps) == set(SERVICE_MODULES), "one container per service, no more, no less"
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["simswarm"]' in dockerfile
    parser = build_parser()
    for name, svc in apps.items():
        assert svc["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert svc["command"] == ["serve", name]
        args = parser.parse_args(svc["command"])  # the CLI accepts it as written
        assert args.command == "serve" and args.service == name


def test_every_variable_a_service_gets_is_one_the_code_reads_and_the_settings_come_out_right(services, home):
    known = set(Settings.variables()) | OTEL_READ
    nodes = sorted(n for n in services if n.startswith("nats-"))
    for name, svc in _app_services(services).items():
        env = _env(svc)
        unread = sorted(set(env) - known)
        assert not unread, f"{name}: nothing reads {unread}"
        settings = load_settings(env=env, home=home)
        # NATS: the whole cluster, and this service's own user (contracts/subjects.py).
        assert [urlsplit(u).hostname for u in settings.nats_url.split(",")] == nodes
        login = settings.nats_login(name)
        assert login is not None and login.user == name
        assert settings.stream_replicas == len(nodes) == 3
        assert urlsplit(settings.database_url).hostname in services
        assert urlsplit(settings.s3_endpoint).hostname in services
        assert settings.s3_access_key and settings.s3_secret_key
        assert tracing_enabled(env)
        assert urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname in services
        if name == "gateway":
            assert settings.gateway_host == "0.0.0.0"
            assert f"{settings.gateway_port}:{settings.gateway_port}" in svc["ports"]
            assert settings.metrics_token
        else:
            assert settings.metrics_port and settings.metrics_host == "0.0.0.0"
    graph = load_settings(env=_env(services["graph"]), home=home)
    assert graph.neo4j_uri and urlsplit(graph.neo4j_uri).hostname in services and graph.neo4j_password


def test_each_nats_password_is_the_one_the_servers_hold_for_that_user(services):
    nodes = [n for n in services if n.startswith("nats-")]
    for node in nodes:
        env = services[node]["environment"]
        assert {password_env_var(u) for u in NATS_USERS} <= set(env), node
        for user in NATS_USERS:
            assert _raw_var(env[password_env_var(user)]) == password_env_var(user)
    for name, svc in _app_services(services).items():
        assert svc["environment"]["NATS_USER"] == name
        assert _raw_var(svc["environment"]["NATS_PASSWORD"]) == password_env_var(name)


def test_the_nats_cluster_configs_are_three_jetstream_nodes_with_the_generated_users(services):
    assert (DEPLOY / "nats" / "auth.conf").read_text() == render_config(), (
        "deploy/nats/auth.conf is stale: regenerate it with `simswarm nats-config > deploy/nats/auth.conf`"
    )
    nodes = sorted(n for n in services if n.startswith("nats-"))
    assert len(nodes) == 3
    for node in nodes:
        command = services[node]["command"]
        assert command[0] == "-c" and command[1] == f"/etc/nats/{node}.conf"
        assert "./nats:/etc/nats:ro" in services[node]["volumes"]
        conf = (DEPLOY / "nats" / f"{node}.conf").read_text()
        assert f"server_name: {node}" in conf and "jetstream {" in conf and "include ./auth.conf" in conf
        assert "listen: 0.0.0.0:4222" in conf
        routes = set(re.findall(r"nats-route://([a-z0-9-]+):6222", conf))
        assert routes == set(nodes) - {node}, f"{node} routes to {routes}"


def test_prometheus_scrapes_every_service_where_it_serves_its_metrics(services, compose, home):
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
    assert set(jobs) == set(SERVICE_MODULES)
    for name, svc in _app_services(services).items():
        settings = load_settings(env=_env(svc), home=home)
        port = settings.gateway_port if name == "gateway" else settings.metrics_port
        assert jobs[name]["static_configs"][0]["targets"] == [f"{name}:{port}"]
    # The gateway's /metrics needs the operator token: the same value, through a compose secret.
    secret_file = jobs["gateway"]["authorization"]["credentials_file"]
    secret = Path(secret_file).name
    assert secret_file == f"/run/secrets/{secret}" and secret in services["prometheus"]["secrets"]
    assert compose["secrets"][secret]["environment"] == "SIMSWARM_METRICS_TOKEN"
    assert _raw_var(services["gateway"]["environment"]["SIMSWARM_METRICS_TOKEN"]) == "SIMSWARM_METRICS_TOKEN"
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]


def test_traces_go_from_the_services_to_the_collector_and_on_to_jaeger(services):
    collector = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    endpoint = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for svc in _app_services(services).values():
        url = urlsplit(_env(svc)["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert url.hostname == "otel-collector" and str(url.port) == endpoint.rsplit(":", 1)[1]
    exporter = collector["exporters"]["otlp/jaeger"]["endpoint"]
    assert exporter.split(":")[0] in services and collector["service"]["pipelines"]["traces"][
        "exporters"
    ] == ["otlp/jaeger"]


def test_the_dashboard_shows_every_metric_family_and_only_real_ones(services):
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "simswarm.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = {re.sub(r"_(bucket|count|sum)$", "", n) for n in re.findall(r"simswarm_[a-z_]+", exprs)}
    families = {_exposed_name(v) for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)}
    assert used == families, f"unknown in the dashboard: {used - families}; not shown: {families - used}"
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "simswarm.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in services["grafana"]["volumes"]


def _exposed_name(family: MetricWrapperBase) -> str:
    """The name in the exposition: prometheus_client keeps a counter's name without `_total`."""
    return family._name + ("_total" if family._type == "counter" else "")
