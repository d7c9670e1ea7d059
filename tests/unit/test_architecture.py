"""The map in ARCHITECTURE.md covers the code: every package and root module is named there."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "shiplane"
MAP = (ROOT / "ARCHITECTURE.md").read_text()


def _units() -> list[str]:
    """Every package and root module of shiplane, as ``shiplane.<name>``."""
    out = []
    for path in sorted(PACKAGE.iterdir()):
        if path.name.startswith(("_", ".")) or path.name == "__pycache__":
            continue
        if path.is_dir() or path.suffix == ".py":
            out.append(f"shiplane.{path.stem}")
    return out


def test_every_package_and_root_module_is_in_the_map():
    missing = [name for name in _units() if f"`{name}`" not in MAP]
    assert not missing, f"add these to the package map in ARCHITECTURE.md: {missing}"


def test_the_map_names_nothing_that_does_not_exist():
    named = {word.strip("`") for word in MAP.split() if word.startswith("`shiplane.") and word.count(".") == 1}
    gone = sorted(n.rstrip("`,.;:") for n in named if n.rstrip("`,.;:") not in _units())
    assert not gone, f"ARCHITECTURE.md names packages that do not exist: {gone}"


def test_every_package_says_what_it_holds():
    silent = [
        str(init.relative_to(PACKAGE))
        for init in PACKAGE.rglob("__init__.py")
        if ast.get_docstring(ast.parse(init.read_text())) is None
    ]
    assert not silent, f"give these packages a one-line docstring: {silent}"
