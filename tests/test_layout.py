"""workflows/layout.py builds every store key: no other module formats one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYOUT = REPO / "workflows" / "layout.py"

# What a store key's literal parts look like: a known folder or file of the layout, or a numbered part.
# (The top-level prefixes only count at the start: "{plural}/status" is a Kubernetes subresource.)
_KEY_PART = re.compile(
    r"^(families|compiles|trainings|status|runs)/|(^|/)(records|quarantine|shards|work|compiled|dedup|checkpoints?|model|"
    r"generate-cache|latest\.json)(/|$)|/part-|/band-|\.(json|jsonl|parquet|npy|npz)$"
)


def _key_literals(path: Path) -> list[tuple[int, str]]:
    """f-strings and '/'.join calls that build a path-like string out of store-key parts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            if "/" in text and " " not in text and "://" not in text and _KEY_PART.search(text):
                found.append((node.lineno, text))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant)
            and node.func.value.value == "/"
        ):
            found.append((node.lineno, "'/'.join(...)"))
    return found


def test_no_store_key_is_formatted_outside_the_layout():
    offenders = [
        f"{path.relative_to(REPO)}:{line}: {text}"
        for path in sorted([*(REPO / "workflows").rglob("*.py"), *(REPO / "operator").rglob("*.py")])
        if path != LAYOUT
        for line, text in _key_literals(path)
    ]
    assert not offenders, "build store keys in workflows/layout.py:\n" + "\n".join(offenders)


def test_the_check_sees_a_key_built_elsewhere():
    probe = REPO / "tests" / ".layout_probe.py"
    probe.write_text('key = f"{root}/records/part-{i:05d}.parquet"\nother = "/".join([a, b])\nmsg = f"{n}/{m} done"\n')
    try:
        assert [line for line, _ in _key_literals(probe)] == [1, 2]
    finally:
        probe.unlink()
