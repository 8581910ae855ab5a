"""The distribution's package list and the folders on disk must agree, and the import root
must map as documented (pixelgate.operator = operator/, pixelgate.workflows = workflows/). That
the data plane never imports the operator is an import contract (tests/test_house_rules.py)."""

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
