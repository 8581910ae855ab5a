"""House rules that run with the test suite: ruff (lint and format, configured in pyproject.toml)
and the import contracts between the layers (import-linter, docs/architecture.md "Layers")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing():
    out = _run(str(BIN / "ruff"), "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_code_is_formatted():
    out = _run(str(BIN / "ruff"), "format", "--check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_layers_import_one_way():
    out = _run(str(BIN / "lint-imports"), "--no-cache")
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout + out.stderr
