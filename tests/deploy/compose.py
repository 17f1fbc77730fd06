"""Reading the deployment files the way Docker Compose does, for the deploy tests.

- :func:`interpolate` implements the compose-spec interpolation (``$VAR``, ``${VAR}``,
  ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``, ``${VAR?error}``,
  ``${VAR:+alt}``, ``${VAR+alt}``, nested defaults, ``$$`` for a literal ``$``).
- :func:`read_env_file` reads a ``.env`` file (``KEY=VALUE``; comments, quotes).
- :func:`setting_env_names` lists the ``RENDERBOT_*`` variables ``core.settings.Settings``
  reads (nested sections joined with ``__``).
- :func:`dockerfile_instructions` splits a Dockerfile into (instruction, arguments).
"""

from __future__ import annotations

import json
import re
import shlex
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA = Path(__file__).resolve().parent / "compose-spec.json"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = (":-", ":?", ":+", "-", "?", "+")


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset (or empty)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def interpolate(text: str, env: dict[str, str], used: set[str] | None = None) -> str:
    """``text`` with its variables substituted from ``env`` (names land in ``used``)."""
    used = set() if used is None else used
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        following = text[i + 1 : i + 2]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            value, i = _braced(text, i + 2, env, used)
            out.append(value)
        else:
            match = _NAME.match(text, i + 1)
            if not match:
                raise ValueError(f"invalid interpolation at {i} in {text!r} (use $$ for $)")
            used.add(match.group())
            out.append(env.get(match.group(), ""))
            i = match.end()
    return "".join(out)


def _braced(text: str, start: int, env: dict[str, str], used: set[str]) -> tuple[str, int]:
    match = _NAME.match(text, start)
    if not match:
        raise ValueError(f"invalid variable name in {text!r}")
    name = match.group()
    used.add(name)
    i = match.end()
    if text[i : i + 1] == "}":
        return env.get(name, ""), i + 1
    op = next((o for o in _OPS if text.startswith(o, i)), None)
    if op is None:
        raise ValueError(f"invalid interpolation of {name} in {text!r}")
    i += len(op)
    depth, arg_start = 1, i
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                break
        i += 1
    else:
        raise ValueError(f"unclosed ${{ in {text!r}")
    arg, end = text[arg_start:i], i + 1
    is_set = name in env
    has_value = bool(env.get(name))
    present = has_value if op.startswith(":") else is_set
    kind = op[-1]
    if kind == "-":
        return (env[name] if present else interpolate(arg, env, used)), end
    if kind == "?":
        if not present:
            raise MissingVariable(name, interpolate(arg, env, used))
        return env[name], end
    return (interpolate(arg, env, used) if present else ""), end  # "+"


def interpolate_tree(node: Any, env: dict[str, str], used: set[str]) -> Any:
    """Every string value of a loaded YAML document interpolated (keys stay as they are)."""
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, used) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env, used) for value in node]
    if isinstance(node, str):
        return interpolate(node, env, used)
    return node


def load_compose() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(COMPOSE_FILE.read_text())


def read_env_file(path: Path, *, commented: bool = False) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file; with ``commented`` also ``# KEY=VALUE`` ones."""
    values: dict[str, str] = {}
    pattern = re.compile(r"^\s*(#\s*)?(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
    for line in path.read_text().splitlines():
        match = pattern.match(line)
        if not match or (match.group(1) and not commented):
            continue
        value = match.group(3).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[match.group(2)] = value
    return values


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [a for a in typing.get_args(annotation) if _model_of(a)]
        return _model_of(models[0]) if models else None
    return None


def setting_env_names(model: type[BaseModel] | None = None, prefix: str = "RENDERBOT_",
                      *, sections: bool = False) -> dict[str, Any]:
    """``{ENV_NAME: FieldInfo}`` of every leaf setting (and, with ``sections``, of every
    nested section too: ``RENDERBOT_WORKER`` takes the whole section as JSON)."""
    if model is None:
        from core.settings import Settings

        model = Settings
    names: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        env_name = prefix + field_name.upper()
        nested = _model_of(field.annotation)
        if nested is None:
            names[env_name] = field
            continue
        if sections:
            names[env_name] = field
        names.update(setting_env_names(nested, env_name + "__", sections=sections))
    return names


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The argument list of ``CMD``/``ENTRYPOINT``/``HEALTHCHECK CMD`` (JSON or shell form)."""
    arguments = arguments.strip()
    if arguments.startswith("["):
        return json.loads(arguments)
    return ["/bin/sh", "-c", arguments]


def dockerfile_env() -> dict[str, str]:
    """The ``ENV key=value`` pairs of the Dockerfile (``$PATH``-style values unexpanded)."""
    env: dict[str, str] = {}
    for instruction, arguments in dockerfile_instructions():
        if instruction == "ENV":
            for item in shlex.split(arguments):
                key, _, value = item.partition("=")
                env[key] = value
    return env
