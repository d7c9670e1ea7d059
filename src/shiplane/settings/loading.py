"""Reading the TOML file and ``SHIPLANE_*`` variables into Settings, with every problem named."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shiplane.settings.config import Config, Settings
from shiplane.settings.values import DEFAULT_DATABASE_URL, DEFAULT_HOST, ConfigError

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _key(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def _interpolate(node: Any, env: Mapping[str, str], loc: tuple[Any, ...], problems: list) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, env, loc + (k,), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env, loc + (i,), problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                problems.append((_key(loc), f"environment variable {name!r} is not set (in {node!r})"))
                return ""
            return env[name]

        return _VAR_RE.sub(sub, node)
    return node


# Keys whose values are never echoed in an error: `config check` output ends up in CI logs.
_SECRET_WORDS = ("secret", "token", "password", "private_key", "api_key")


def _problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            problems.append((_key(loc), "unknown key"))
            continue
        secret = any(word in str(part) for part in loc for word in _SECRET_WORDS)
        if "input" in err and err["type"] not in ("missing",) and not isinstance(err["input"], (dict, list)) and not secret:
            shown = err["input"]
            if repr(shown) not in msg:
                msg = f"{msg} (got {shown!r})"
        problems.append((_key(loc), msg))
    return problems


def parse_config(raw: dict[str, Any], env: Mapping[str, str], path: str) -> Config:
    problems: list[tuple[str, str]] = []
    data = _interpolate(raw, env, (), problems)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc))
        raise ConfigError(path, problems) from None
    if problems:
        raise ConfigError(path, problems)
    return config


def load_config_file(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    path = str(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, [("(file)", "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [("(toml)", str(exc))]) from None
    return parse_config(raw, env, path)


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the process settings. Precedence: explicit overrides > environment > file > defaults."""
    env = os.environ if env is None else env
    path = config_path or env.get("SHIPLANE_CONFIG") or None
    config = load_config_file(path, env) if path else Config()
    values: dict[str, Any] = {
        "config": config,
        "config_path": str(path) if path else None,
        "database_url": env.get("SHIPLANE_DATABASE_URL") or config.database.url or DEFAULT_DATABASE_URL,
        "host": env.get("SHIPLANE_HOST") or DEFAULT_HOST,
        "bootstrap_token": env.get("SHIPLANE_BOOTSTRAP_TOKEN") or None,
    }
    port = env.get("SHIPLANE_PORT")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("SHIPLANE_PORT", [("SHIPLANE_PORT", f"not a TCP port: {port!r}")])
        values["port"] = int(port)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
