"""Docs that cannot drift.

Every setting, environment variable, CLI command and route is documented; the
`--help` texts in docs/cli.md are generated (cog) and current; and no page
still promises, as future work, what has shipped. The README's tour is run
for real by tests/integration/test_readme_tour.py.
"""

import io
import re
from pathlib import Path
from types import UnionType
from typing import Union, get_args, get_origin

from cogapp import Cog
from pydantic import BaseModel
from starlette.routing import Mount

from shiplane.settings import Config

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
REGENERATE_CLI_DOCS = "run `.venv/bin/cog -r docs/cli.md` and commit the result"


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
        key = f"{prefix}{field.alias or name}"  # the file's spelling
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
    read = set()
    for source in (ROOT / "src/shiplane").rglob("*.py"):
        read |= set(re.findall(r'"(SHIPLANE_[A-Z_]+)"', source.read_text()))
    assert {"SHIPLANE_CONFIG", "SHIPLANE_DATABASE_URL", "SHIPLANE_URL", "SHIPLANE_TOKEN"} <= read  # the scan works
    missing = sorted(var for var in read if f"`{var}`" not in text)
    assert not missing, f"add these to docs/configuration.md: {missing}"


# ---------------------------------------------------------------- the CLI


def cli_commands():
    """Every command a person runs: `serve`, `db upgrade`, ... (not the groups `db`, `token`, ...)."""
    from typer.main import get_command

    from shiplane.cli import app

    for name, cmd in get_command(app).commands.items():
        subs = getattr(cmd, "commands", None)
        yield from ([f"{name} {s}" for s in subs] if subs else [name])


def test_every_cli_command_is_documented():
    text = (DOCS / "cli.md").read_text()
    missing = [c for c in cli_commands() if f"shiplane {c}" not in text]
    assert not missing, f"document these in docs/cli.md: {missing}"


def test_every_cli_command_has_its_generated_help_in_cli_md():
    text = (DOCS / "cli.md").read_text()
    generated = re.findall(r"\[\[\[cog help_of\(\"([a-z ]*)\"\) \]\]\]", text)
    wanted = ["", *cli_commands()]
    missing = [f"shiplane {c}".strip() for c in wanted if c not in generated]
    assert not missing, (
        "docs/cli.md has no generated --help for "
        + ", ".join(missing)
        + ". Add, after that command's prose:\n"
        + '<!-- [[[cog help_of("COMMAND") ]]] -->\n<!-- [[[end]]] -->\n'
        + f"then {REGENERATE_CLI_DOCS}."
    )
    assert len(generated) == len(set(generated)), "a command's help is generated twice in docs/cli.md"


def test_the_help_in_cli_md_is_what_the_code_prints():
    """cog --check: the generated blocks in docs/cli.md match what the commands print today."""
    cog = Cog()
    output = io.StringIO()
    cog.set_output(stdout=output, stderr=output)
    status = cog.main(["cog", "--check", "--diff", "--verbosity=0", str(DOCS / "cli.md")])
    assert status == 0, (
        f"docs/cli.md is out of date with the CLI's --help: {REGENERATE_CLI_DOCS}.\n{output.getvalue()}"
    )


# ---------------------------------------------------------------- routes


def _app():
    from shiplane.app import create_app
    from shiplane.settings import Settings

    return create_app(Settings(database_url="sqlite://"), worker=False)


def served_routes(routes, prefix=""):
    """(method, path, in OpenAPI) for every route the app serves, included routers and mounts too."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI keeps an included router whole
        if inner is not None:
            yield from served_routes(inner.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(route, Mount):
            yield "GET", prefix + route.path + "/{path}", False
        else:
            for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
                yield method, prefix + route.path, getattr(route, "include_in_schema", False)


def documents(text: str, method: str, path: str) -> bool:
    """`POST /api/v1/deploys` is there, and not only as the start of `POST /api/v1/deploys/{deploy_id}/health`."""
    return re.search(re.escape(f"{method} {path}") + r"(?![\w/{])", text) is not None


def test_every_api_route_is_documented():
    text = (DOCS / "api.md").read_text()
    spec = _app().openapi()["paths"]
    missing = [f"{m.upper()} {path}" for path, item in spec.items() for m in item if not documents(text, m.upper(), path)]
    assert not missing, f"document these in docs/api.md: {missing}"


def test_every_route_outside_the_openapi_description_is_documented():
    """/healthz, /metrics, the API docs pages, the dashboard's pages, forms and static files."""
    text = "\n".join(p.read_text() for p in (DOCS / "api.md", DOCS / "operations.md", DOCS / "dashboard.md"))
    hidden = sorted({(m, p) for m, p, in_schema in served_routes(_app().routes) if not in_schema})
    assert ("GET", "/healthz") in hidden and ("GET", "/") in hidden  # the walk found them
    missing = [f"{m} {p}" for m, p in hidden if not documents(text, m, p)]
    assert not missing, f"document these in docs/api.md, operations.md or dashboard.md: {missing}"


# ---------------------------------------------------------------- stale promises


STALE = re.compile(
    r"\bplanned\b|not served yet|being built|\bissue \d+|\b(?:until|when|once)\b[^.\n]{0,60}\blands?\b",
    re.IGNORECASE,
)


def test_no_page_calls_a_shipped_feature_future_work():
    """Say what the code does today. Work that is really still to come belongs in an issue."""
    found = [
        f"{page.relative_to(ROOT)}:{number}: {line.strip()}"
        for page in PAGES
        for number, line in enumerate(page.read_text().splitlines(), 1)
        if STALE.search(line)
    ]
    assert not found, "these lines promise what may have shipped; say what the code does today:\n" + "\n".join(found)
