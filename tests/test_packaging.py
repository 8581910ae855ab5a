"""The distribution's package list and the folders on disk must agree, and the import root
must map as documented (pixelgate.operator = operator/, pixelgate.workflows = workflows/)."""

import ast
import tomllib
from pathlib import Path

import pixelgate.operator
import pixelgate.workflows

REPO = Path(__file__).resolve().parent.parent


def _declared() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])


def _on_disk() -> set[str]:
    found = set()
    for top, dotted in (("operator", "pixelgate.operator"), ("workflows", "pixelgate.workflows")):
        for init in (REPO / top).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / top)
            found.add(".".join([dotted, *rel.parts]))
    return found


def test_every_package_folder_is_declared():
    assert _on_disk() == _declared()


def test_import_root_maps_to_the_top_level_folders():
    assert Path(pixelgate.operator.__file__).parent == REPO / "operator"
    assert Path(pixelgate.workflows.__file__).parent == REPO / "workflows"


def _imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved."""
    package = ["pixelgate", *path.parent.relative_to(REPO).parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, node.module or ""]).rstrip("."))
    return names


def test_workflows_never_imports_the_operator():
    offenders = {
        str(path.relative_to(REPO)): sorted(m for m in _imported_modules(path) if m.startswith("pixelgate.operator"))
        for path in (REPO / "workflows").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_import_check_sees_relative_and_absolute_imports():
    probe = REPO / "workflows" / "steps" / "probe.py"
    assert "pixelgate.operator" in _imported_modules(probe, "from ...operator import metrics\n")
    assert "pixelgate.operator" in _imported_modules(probe, "import pixelgate.operator\n")
    assert "pixelgate.workflows.store" in _imported_modules(probe, "from ..store import Store\n")
