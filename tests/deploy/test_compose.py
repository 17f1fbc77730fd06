"""docker-compose.yml, .env.example and the Dockerfile, checked without Docker.

The compose file is validated against the compose-spec JSON schema (vendored from the
compose-spec repository, Apache-2.0: compose-spec.json + compose-spec.LICENSE), before
and after interpolation with the example environment; every renderbot service's command
is parsed by the real `renderbot` CLI (typer → click); every RENDERBOT_* variable named
anywhere is a real setting, .env.example documents every setting, and the environment
each container gets builds valid production Settings.
"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
import typer

from core.settings import Settings
from tests.deploy.compose import (
    COMPOSE_FILE,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    ROOT,
    SCHEMA,
    MissingVariable,
    dockerfile_env,
    dockerfile_instructions,
    environment_of,
    exec_form,
    interpolate,
    interpolate_tree,
    load_compose,
    read_env_file,
    setting_env_names,
)

try:  # typer vendors click since 0.2x
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover - older typer on the real click
    from click.exceptions import UsageError

REQUIRED = {  # the values .env.example leaves empty on purpose; sample values for tests
    "RENDERBOT_SECRET_KEY": "3f1c0e6b9a7d4c2e8f5a1b0c9d8e7f6a",
    "POSTGRES_PASSWORD": "0a1b2c3d4e5f",
}
EXPECTED_SERVICES = {"postgres", "redis", "migrate", "api", "worker", "discord", "dashboard"}
RENDERBOT_IMAGE = "renderbot:"


def example_env() -> dict[str, str]:
    """.env as an operator makes it from .env.example: the required values filled in."""
    env = read_env_file(ENV_EXAMPLE)
    return {**env, **{k: v for k, v in REQUIRED.items() if not env.get(k)}}


def compose_config(env: dict[str, str] | None = None) -> dict:
    return interpolate_tree(load_compose(), example_env() if env is None else env, set())


def renderbot_services(config: dict) -> dict[str, dict]:
    return {
        name: service for name, service in config["services"].items()
        if str(service.get("image", "")).startswith(RENDERBOT_IMAGE)
    }


def schema_errors(document: dict) -> list[str]:
    from jsonschema import Draft7Validator

    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


# --- the interpolation the checks rely on ---------------------------------------------------


def test_interpolation_follows_the_compose_rules():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("a${SET}b$SET-$$SET", env) == "axbx-$SET"
    assert interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-${SET}y}", env) == "d  d xy"
    assert interpolate("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}", env) == "alt||alt|"
    with pytest.raises(MissingVariable, match="EMPTY: say so"):
        interpolate("${EMPTY:?say so}", env)
    assert interpolate("${EMPTY?fine}", env) == ""
    with pytest.raises(ValueError):
        interpolate("${UNCLOSED", env)


# --- the compose file -------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec_schema():
    raw = load_compose()
    assert schema_errors(raw) == []
    assert schema_errors(compose_config()) == []


def test_the_schema_check_can_fail():
    broken = compose_config()
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["worker"]["healthcheck"]["interval"] = ["10s"]
    errors = schema_errors(broken)
    assert any("depends_on" in e for e in errors) and any("interval" in e for e in errors)


def test_compose_refuses_to_start_until_the_required_secrets_are_set():
    as_committed = read_env_file(ENV_EXAMPLE)
    missing = set()
    for name in REQUIRED:
        env = {**as_committed, **{k: v for k, v in REQUIRED.items() if k != name}}
        with pytest.raises(MissingVariable) as caught:
            compose_config(env)
        missing.add(caught.value.name)
        assert name in caught.value.message  # the error says what to set
    assert missing == set(REQUIRED)
    for name in REQUIRED:
        assert as_committed.get(name) == "", f"{name} must stay empty in .env.example"


def test_services_topology():
    config = compose_config()
    services = config["services"]
    assert EXPECTED_SERVICES <= set(services)
    # data survives `docker compose down`: named volumes for the database and the queue
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert services["redis"]["volumes"] == ["redis-data:/data"]
    assert {"postgres-data", "redis-data"} <= set(config["volumes"])
    ours = renderbot_services(config)
    assert set(ours) == {"migrate", "api", "worker", "discord", "dashboard"}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    healthy = {"condition": "service_healthy"}
    for name in ("api", "worker", "discord", "dashboard"):
        assert ours[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": healthy, "redis": healthy,
        }, name
    assert services["migrate"]["depends_on"] == {"postgres": healthy}
    # scalable: no fixed container name, no published host port
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert services["discord"]["profiles"] == ["discord"]
    s3 = [n for n, s in services.items() if "local-s3" in (s.get("profiles") or [])]
    assert "minio" in s3
    for name in ("api", "worker", "dashboard", "migrate"):
        assert not services[name].get("profiles"), f"{name} must start by default"
    # every renderbot process sees the production topology
    for name, service in ours.items():
        env = environment_of(service)
        assert env["RENDERBOT_DATABASE_URL"].startswith("postgresql+asyncpg://renderbot:"), name
        assert "@postgres:5432/renderbot" in env["RENDERBOT_DATABASE_URL"], name
        assert env["RENDERBOT_BROKER_URL"] == "redis://redis:6379/0", name
        assert service["env_file"] == [{"path": ".env", "required": True}], name


def test_every_depends_on_healthy_service_has_a_healthcheck():
    services = compose_config()["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                check = services[dependency].get("healthcheck") or {}
                assert check.get("test") and not check.get("disable"), dependency


def test_healthchecks_of_renderbot_services_are_runnable_python():
    for name, service in renderbot_services(compose_config()).items():
        check = service.get("healthcheck") or {}
        if name in ("migrate", "discord"):
            assert check.get("disable") is True, name
            continue
        test = check["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        compile(test[3], f"<{name} healthcheck>", "exec")


def parse_renderbot_args(args: list[str]):
    """Parse ``renderbot ARGS`` with the real CLI (a click context) without running it."""
    from cli.main import app

    command = typer.main.get_command(app)
    path = ["renderbot"]
    args = list(args)
    while hasattr(command, "commands"):  # a group
        assert args, f"`{' '.join(path)}` needs a subcommand"
        name = args.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"`{' '.join(path)} {name}` is not a renderbot command"
        command, path = sub, [*path, name]
    return command.make_context(" ".join(path), args)


def test_parse_renderbot_args_refuses_what_the_cli_refuses():
    with pytest.raises(AssertionError, match="not a renderbot command"):
        parse_renderbot_args(["wrker"])
    with pytest.raises(UsageError):
        parse_renderbot_args(["api", "--bind", "0.0.0.0"])
    with pytest.raises(UsageError):
        parse_renderbot_args(["dashboard", "--port", "0"])


def test_every_renderbot_service_command_is_a_real_subcommand():
    entrypoint = [exec_form(args) for ins, args in dockerfile_instructions() if ins == "ENTRYPOINT"]
    assert entrypoint and entrypoint[-1][-1] == "renderbot"
    default = [exec_form(args) for ins, args in dockerfile_instructions() if ins == "CMD"]
    parse_renderbot_args(default[-1])
    seen = set()
    for name, service in renderbot_services(compose_config()).items():
        assert "entrypoint" not in service, name
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec (list) form"
        ctx = parse_renderbot_args(command)
        seen.add(ctx.info_name)
    assert seen == {
        "renderbot db upgrade", "renderbot api", "renderbot worker", "renderbot discord",
        "renderbot dashboard",
    }


# --- settings: compose, .env.example and the Dockerfile name only real ones -----------------


def test_every_referenced_renderbot_variable_is_a_real_setting():
    known = setting_env_names(sections=True)
    used: set[str] = set()
    config = interpolate_tree(load_compose(), example_env(), used)
    for service in config["services"].values():
        used |= set(environment_of(service))
    used |= set(read_env_file(ENV_EXAMPLE, commented=True))
    used |= set(dockerfile_env())
    unknown = sorted(n for n in used if n.startswith("RENDERBOT_") and n not in known)
    assert unknown == [], f"not settings of core.settings.Settings: {unknown}"


def test_every_compose_variable_is_documented_in_env_example():
    used: set[str] = set()
    interpolate_tree(load_compose(), example_env(), used)
    documented = set(read_env_file(ENV_EXAMPLE, commented=True))
    assert sorted(used - documented) == []


def test_env_example_documents_every_setting():
    documented = set(read_env_file(ENV_EXAMPLE, commented=True))
    missing = {
        name: field for name, field in setting_env_names().items() if name not in documented
    }
    lines = [
        f"# {field.description}\n# {name}={field.get_default(call_default_factory=True)}"
        for name, field in missing.items()
    ]
    assert not missing, "add to .env.example:\n" + "\n".join(lines)


def test_env_example_comments_every_variable():
    """Each paragraph that sets variables starts with at least one line of prose."""
    for paragraph in re.split(r"\n\s*\n", ENV_EXAMPLE.read_text()):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        variables = [line for line in lines if re.match(r"^#?\s*[A-Z][A-Z0-9_]*=", line)]
        prose = [line for line in lines if line.startswith("#") and line not in variables]
        if variables:
            assert prose, f"undocumented: {variables}"


def test_env_example_holds_no_secret():
    for name, value in read_env_file(ENV_EXAMPLE, commented=True).items():
        if re.search(r"SECRET|PASSWORD|TOKEN|_KEY$|ACCESS_KEY", name):
            assert value in ("", "renderbot"), f"{name} has a value in .env.example"


def test_env_example_values_are_valid(monkeypatch):
    """Every example value (commented or not) is accepted by Settings."""
    for name, value in read_env_file(ENV_EXAMPLE, commented=True).items():
        if not name.startswith("RENDERBOT_") or value == "":
            continue
        _clear_renderbot_env(monkeypatch)
        monkeypatch.setenv(name, value)
        monkeypatch.setenv("RENDERBOT_SECRET_KEY", REQUIRED["RENDERBOT_SECRET_KEY"])
        Settings(_env_file=None)


def _clear_renderbot_env(monkeypatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("RENDERBOT_"):
            monkeypatch.delenv(key)


def test_each_container_environment_builds_production_settings(monkeypatch):
    """Image ENV < env_file (.env) < the service's environment, as Docker layers them."""
    config = compose_config()
    dotenv = example_env()
    for name, service in renderbot_services(config).items():
        env = {**dockerfile_env(), **dotenv, **environment_of(service)}
        _clear_renderbot_env(monkeypatch)
        for key, value in env.items():
            if key.startswith("RENDERBOT_"):
                monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)
        assert not settings.is_embedded, name
        assert settings.database_url.startswith("postgresql+asyncpg://"), name
        assert settings.broker_url.startswith("redis://"), name
        assert str(settings.var_dir) == "/var/lib/renderbot", name
        assert settings.api.log_format == "json", name
        assert settings.secret_key.get_secret_value() == REQUIRED["RENDERBOT_SECRET_KEY"]
        if name == "dashboard":  # named admins sign in; no shared password, no proxy header
            assert not settings.dashboard.trusted_user_header
        if name == "worker":
            assert str(settings.render_server_dir) == "/tmp/render-server"


# --- the Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_layers_runs_as_non_root_and_has_a_healthcheck():
    instructions = dockerfile_instructions()
    words = [ins for ins, _ in instructions]
    assert words[0] in ("ARG", "FROM") and "FROM" in words
    users = [args for ins, args in instructions if ins == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    health = [args for ins, args in instructions if ins == "HEALTHCHECK"]
    assert len(health) == 1
    command = exec_form(health[0].split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "<HEALTHCHECK>", "exec")

    copies = [(i, args) for i, (ins, args) in enumerate(instructions) if ins == "COPY"]
    source = next(i for i, args in copies if args.split()[-2:] == [".", "."])
    lock = next(i for i, args in copies if "requirements.lock" in args)
    npm = next(i for i, args in copies if "remotion/package-lock.json" in args)
    assert lock < source and npm < source, "dependencies must be installed before the source"
    runs = [(i, args) for i, (ins, args) in enumerate(instructions) if ins == "RUN"]
    pip = next(i for i, args in runs if "pip install -r requirements.lock" in args)
    npm_ci = next(i for i, args in runs if "npm ci --prefix remotion" in args)
    assert lock < pip < source and npm < npm_ci < source
    apt = next(args for _, args in runs if "apt-get install" in args)
    for package in ("nodejs", "npm", "chromium", "tini"):
        assert re.search(rf"\b{package}\b", apt), package
    assert "rm -rf /var/lib/apt/lists" in apt


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        glob = pattern.removeprefix("**/")
        hit = any(
            fnmatch.fnmatch(c, pattern) or (pattern.startswith("**/") and (
                fnmatch.fnmatch(c.rsplit("/", 1)[-1], glob) or fnmatch.fnmatch(c, glob)))
            for c in candidates
        )
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_and_junk_out_but_the_app_in():
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".env", ".env.production", ".git/config", ".venv/bin/python", "var/renderbot.db",
                 "remotion/node_modules/remotion/package.json", "core/__pycache__/db.cpython-311.pyc",
                 "tests/conftest.py"):
        assert _ignored(path, patterns), path
    needed = ["pyproject.toml", "README.md", "requirements.lock", "alembic.ini",
              "migrations/env.py", "remotion/package.json", "remotion/package-lock.json",
              "remotion/src", "remotion/server", "core/settings.py", "cli/main.py",
              "dashboard/app.py", ".env.example"]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not _ignored(path, patterns), f"{path} is needed in the image"
    for _, args in [(i, a) for i, a in dockerfile_instructions() if i == "COPY"]:
        sources = [a for a in args.split() if not a.startswith("--")][:-1]
        for src in sources:
            assert (ROOT / src).exists(), src
            assert src == "." or not _ignored(src, patterns), src


def test_compose_file_is_where_the_design_card_says():
    assert COMPOSE_FILE == ROOT / "docker-compose.yml" and COMPOSE_FILE.is_file()
