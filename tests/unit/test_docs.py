"""Docs that cannot drift: every setting, CLI command and API route is documented."""

import re
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin

from pydantic import BaseModel

from shiplane.settings import Config

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _model_of(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, UnionType):
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found:
                return found
    return None


def setting_keys(model=Config, prefix=""):
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_of(field.annotation)
        if sub is not None:
            yield from setting_keys(sub, key + ".")
        else:
            yield key


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", text))
    missing = [k for k in setting_keys() if k not in documented]
    assert not missing, f"add these to docs/configuration.md: {missing}"


def test_every_environment_variable_is_documented():
    text = (DOCS / "configuration.md").read_text()
    source = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "src/shiplane/settings").glob("*.py"))
    for var in set(re.findall(r'"(SHIPLANE_[A-Z_]+)"', source)) | {"SHIPLANE_URL", "SHIPLANE_TOKEN"}:
        assert f"`{var}`" in text, var


def test_every_cli_command_is_documented():
    from typer.main import get_command

    from shiplane.cli import app

    text = (DOCS / "cli.md").read_text()
    root = get_command(app)
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None)
        for full in [f"{name} {s}" for s in subs] if subs else [name]:
            assert f"shiplane {full}" in text, f"document `shiplane {full}` in docs/cli.md"


def test_every_api_route_is_documented():
    from shiplane.app import create_app
    from shiplane.settings import Settings

    text = (DOCS / "api.md").read_text()
    app = create_app(Settings(database_url="sqlite://"), worker=False)
    for path, item in app.openapi()["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in text, f"document `{method.upper()} {path}` in docs/api.md"
