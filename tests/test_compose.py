"""compose.yaml and deploy/: structure and references, checked without Docker.

Docker is not available where the tests run, so this reads the files and checks
what ``docker compose config`` and a first ``up`` would trip over: services,
build contexts, the Dockerfile, env names, NATS cluster routes and users,
volumes, depends_on targets, health checks, and that the committed NATS
authorization is exactly what the generator renders.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from byok_contracts import subjects
from byok_shared.healthcheck import check
from byok_shared.metrics import Metrics
from byok_shared.natsauth import ROLES, inbox_prefix, password_env
from byok_shared.natsconfig import password_hash_env
from byok_shared.natsserver import NatsServer
from byok_shared.service import Service
from byok_shared.settings import ByokSettings
from byok_shared.testing.apps import running, settings_for

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NATS_NODES = ("nats-1", "nats-2", "nats-3")
# ${VAR} names compose.yaml may interpolate, besides the NATS passwords.
INTERPOLATED = {
    "BYOK_LOG_LEVEL",
    "BYOK_OTEL_ENABLED",
    "BYOK_OTEL_BUILD",
    "BYOK_CREDITS_PER_USD",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "GRAFANA_ADMIN_PASSWORD",
    "BYOK_USAGE_MAX_BYTES",
    "BYOK_EVENTS_MAX_BYTES",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _settings_env_names() -> set[str]:
    """Every environment variable ``ByokSettings`` reads."""
    names: set[str] = set()
    for name, field in ByokSettings.model_fields.items():
        names.add(f"BYOK_{name.upper()}")
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            names.add(str(choice))
    return names


def _byok_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services.items() if name in subjects.SERVICES}


def test_every_byok_service_is_there_and_built_from_the_one_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    byok = _byok_services(services)
    assert set(byok) == set(subjects.SERVICES)
    for name, spec in byok.items():
        build = spec["build"]
        assert (ROOT / build["context"]).is_dir()
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()
        assert build["args"]["SERVICE"] == name
        assert (ROOT / "services" / name / "pyproject.toml").is_file()
    assert services["resolver"]["deploy"]["replicas"] == 2


def test_byok_services_use_vault_r3_their_own_nats_user_and_known_env(
    services: dict[str, dict[str, Any]],
) -> None:
    known = _settings_env_names()
    for name, spec in _byok_services(services).items():
        env = spec["environment"]
        unknown = {k for k in env if k not in known and not k.startswith("OTEL_")}
        assert not unknown, (name, unknown)
        assert all(k.startswith(("BYOK_", "VAULT_", "OTEL_")) for k in env), name
        assert env["BYOK_CIPHER"] == "vault"
        assert env["BYOK_STREAM_REPLICAS"] == "3"
        assert "VAULT_TOKEN" not in env, name  # key-vault reads its token from a file
        assert ("VAULT_ADDR" in env) == (name == "key-vault"), name
        assert env["BYOK_NATS_USER"] == name
        assert env["BYOK_NATS_INBOX_PREFIX"] == inbox_prefix(name)
        assert env["BYOK_NATS_PASSWORD"].startswith(f"${{{password_env(name)}:?")
        assert env["BYOK_METRICS_PORT"] in spec["expose"]
        urls = env["BYOK_NATS_URL"].split(",")
        assert [u.split("//")[1].split(":")[0] for u in urls] == list(NATS_NODES)


ROUTE_ENV: set[str] = set()  # the route secret is no variable: routes.conf (nats-certs)


def test_interpolated_variables_are_known_and_documented(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    hashes = {password_hash_env(role) for role in ROLES}
    allowed = INTERPOLATED | {password_env(role) for role in ROLES} | hashes | ROUTE_ENV
    assert used <= allowed, used - allowed
    readme = (DEPLOY / "README.md").read_text()
    for name in used - {password_env(role) for role in ROLES} - hashes:
        assert name in readme, f"{name} is not documented in deploy/README.md"
    assert "BYOK_NATS_PASSWORD_<ROLE>" in readme or all(
        password_env(role) in readme for role in ROLES
    )


def test_openbao_is_persistent_and_only_key_vault_gets_a_token(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    bao = services["openbao"]
    assert "-dev" not in " ".join(bao["command"])
    assert "ports" not in bao  # reachable on the compose network only
    assert "openbao-data:/openbao/file" in bao["volumes"]
    assert "./deploy/openbao:/openbao/config:ro" in bao["volumes"]
    config = (DEPLOY / "openbao" / "openbao.hcl").read_text()
    assert re.search(r'storage "raft" \{\s*path\s*=\s*"/openbao/file"', config)
    assert "inmem" not in config
    # The init job and the unsealer run the tested code (tests/test_openbao_init.py).
    init, unsealer = services["openbao-init"], services["openbao-unsealer"]
    assert init["command"][:4] == ["python", "-m", "byok_shared.openbao_init", "provision"]
    assert unsealer["command"][:4] == ["python", "-m", "byok_shared.openbao_init", "watch"]
    assert init["restart"] == "no"
    assert init["depends_on"]["openbao"]["condition"] == "service_started"
    token_file = init["command"][init["command"].index("--token-file") + 1]
    state = init["command"][init["command"].index("--state") + 1]
    assert "openbao-init:" + state in init["volumes"]
    assert "openbao-init:" + state + ":ro" in unsealer["volumes"]
    key_vault = services["key-vault"]
    assert key_vault["environment"]["BYOK_VAULT_TOKEN_FILE"] == token_file
    assert key_vault["environment"]["VAULT_ADDR"] == "http://openbao:8200"
    assert key_vault["depends_on"]["openbao-init"] == {
        "condition": "service_completed_successfully"
    }
    token_dir = str(Path(token_file).parent)
    assert f"key-vault-token:{token_dir}:ro" in key_vault["volumes"]
    # Who mounts what: the token volume only init (writes) and key-vault (reads); the
    # unseal material only init and the unsealer; no service carries a token in its env.
    for volume, allowed in (
        ("key-vault-token", {"openbao-init", "key-vault"}),
        ("openbao-init", {"openbao-init", "openbao-unsealer"}),
        ("openbao-data", {"openbao"}),
    ):
        mounting = {
            name
            for name, spec in services.items()
            if any(v.split(":")[0] == volume for v in spec.get("volumes") or [])
        }
        assert mounting == allowed, (volume, mounting)
    for name, spec in services.items():
        env = spec.get("environment") or {}
        assert not any("TOKEN" in k and "FILE" not in k for k in env), name
    assert not re.search(r"(?<!BYOK_)VAULT_TOKEN", (ROOT / "compose.yaml").read_text())
    assert {"openbao-data", "openbao-init", "key-vault-token"} <= set(compose["volumes"])
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for path in (state, token_dir):  # created owned by the byok user, so volumes inherit it
        assert re.search(rf"install -d -o byok -g byok -m 0700 .*{re.escape(path)}", dockerfile)


def test_references_resolve(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared_volumes = set(compose.get("volumes") or {})
    for name, spec in services.items():
        for target in spec.get("depends_on") or {}:
            assert target in services, (name, target)
        for volume in spec.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in declared_volumes, (name, source)
        assert "image" in spec or "build" in spec, name
        if spec.get("restart") != "no" and name not in (
            "openbao-init",
            "provision",
        ):  # one-shot jobs
            assert spec.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in subjects.SERVICES:
        test = services[name]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "byok_shared.healthcheck", name]


def test_a_provisioning_job_runs_as_the_operator_before_every_service(
    services: dict[str, dict[str, Any]],
) -> None:
    job = services["provision"]
    assert job["command"] == ["python", "-m", "byok_shared.provision"]
    assert job["restart"] == "no"
    env = job["environment"]
    assert env["BYOK_NATS_USER"] == "operator"
    assert env["BYOK_NATS_INBOX_PREFIX"] == inbox_prefix("operator")
    assert env["BYOK_NATS_PASSWORD"].startswith(f"${{{password_env('operator')}:?")
    assert env["BYOK_STREAM_REPLICAS"] == "3"
    for node in NATS_NODES:
        assert job["depends_on"][node] == {"condition": "service_healthy"}
    for name in subjects.SERVICES:
        assert services[name]["depends_on"]["provision"] == {
            "condition": "service_completed_successfully"
        }


def test_dockerfile_is_multi_stage_uv_based_and_non_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", dockerfile, re.MULTILINE)
    assert stages == ["builder", "runtime"]
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "uv sync --frozen --no-dev" in dockerfile
    assert re.search(r"^USER byok", runtime, re.MULTILINE)
    assert "uv" not in re.findall(r"COPY --from=(\S+)", runtime)
    assert "ARG SERVICE" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", ".byok", ".git", ".env"):
        assert entry in ignored


def test_observability_files_are_wired(services: dict[str, dict[str, Any]]) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "byok-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    registry = Metrics("probe").registry
    defined = {m.name for m in registry.collect()}
    assert {"byok_requests", "byok_request_seconds", "byok_events", "byok_up"} <= defined
    for metric in (
        "byok_requests_total",
        "byok_request_seconds_bucket",
        "byok_events_total",
        "byok_resolver_cache_hits_total",
        "byok_resolver_cache_misses_total",
        "byok_event_lag_seconds_bucket",
        "byok_ledger_debits_total",
    ):
        assert metric in exprs, metric
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    sd = prometheus["scrape_configs"][0]["dns_sd_configs"][0]
    assert set(sd["names"]) == set(subjects.SERVICES)
    assert sd["port"] == 9100
    assert "observability" in services["grafana"]["profiles"]


# --- the healthcheck command --------------------------------------------------


async def test_healthcheck_passes_for_a_running_service(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, tmp_path / "data")
    service = Service("usage-tracker", settings)
    async with running(service.app):
        assert await check("usage-tracker", settings) is None
        problem = await check("resolver", settings, timeout=0.5)
    assert problem is not None
    assert "no health reply" in problem


def test_healthcheck_command_exits_1_without_nats(tmp_path: Path) -> None:
    from byok_shared.ports import free_port

    result = subprocess.run(
        [sys.executable, "-m", "byok_shared.healthcheck", "resolver", "--timeout", "0.5"],
        capture_output=True,
        env={"BYOK_NATS_URL": f"nats://127.0.0.1:{free_port()}", "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=30,
    )
    assert result.returncode == 1
    assert b"unhealthy" in result.stderr


# --- tracing and log correlation ----------------------------------------------


async def test_tracing_is_off_by_default_and_spans_flow_when_enabled(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nats
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from byok_shared import tracing

    off = Service("usage-tracker", settings_for(nats_server.url, tmp_path / "off"))
    assert not off.broker.middlewares or all(
        "Telemetry" not in type(m).__name__ for m in off.broker.middlewares
    )
    exporter = InMemorySpanExporter()

    def in_memory(service: str, exporter_: object = None) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider

    monkeypatch.setattr(tracing, "tracer_provider", in_memory)
    settings = settings_for(nats_server.url, tmp_path / "on", otel_enabled=True)
    service = Service("usage-tracker", settings)
    async with running(service.app):
        nc = await nats.connect(nats_server.url)
        try:
            reply = await nc.request(subjects.health("usage-tracker"), b"{}", timeout=2)
        finally:
            await nc.close()
    assert json.loads(reply.data)["status"] == "ok"
    names = [span.name for span in exporter.get_finished_spans()]
    assert any(subjects.health("usage-tracker") in name for name in names), names


def test_json_logs_carry_correlation_and_trace_ids() -> None:
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    from byok_shared.logs import JsonFormatter, correlation_id

    formatter = JsonFormatter("resolver")
    record = logging.LogRecord("byok", logging.INFO, __file__, 1, "resolved", None, None)
    assert "correlation_id" not in json.loads(formatter.format(record))
    token = correlation_id.set("cid-123")
    try:
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("resolve") as span:
            entry = json.loads(formatter.format(record))
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        correlation_id.reset(token)
    assert entry["correlation_id"] == "cid-123"
    assert entry["trace_id"] == trace_id


def test_gateway_serves_tls_as_its_own_user_from_an_init_generated_certificate(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    gateway, init = services["gateway"], services["gateway-init"]
    assert gateway["build"]["args"]["SERVICE"] == init["build"]["args"]["SERVICE"] == "gateway"
    env = gateway["environment"]
    assert env["BYOK_NATS_USER"] == "gateway"
    assert env["BYOK_NATS_INBOX_PREFIX"] == inbox_prefix("gateway")
    assert env["BYOK_NATS_PASSWORD"].startswith(f"${{{password_env('gateway')}:?")
    assert env["BYOK_HTTP_TLS_CERT"].startswith("/data/tls/")
    assert env["BYOK_HTTP_TLS_KEY"].startswith("/data/tls/")
    assert gateway["ports"] == [f"127.0.0.1:{env['BYOK_HTTP_PORT']}:{env['BYOK_HTTP_PORT']}"]
    assert gateway["depends_on"]["gateway-init"] == {"condition": "service_completed_successfully"}
    assert "gateway-data:/data:ro" in gateway["volumes"]
    assert init["restart"] == "no"
    assert init["command"][:4] == ["python", "-m", "byok_gateway.deploy", "init"]
    assert "gateway-data:/data" in init["volumes"]
    assert gateway["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "byok_gateway.deploy",
        "health",
    ]
    assert "gateway-data" in compose["volumes"]
    assert (ROOT / "services" / "gateway" / "pyproject.toml").is_file()
