"""Shared pytest configuration: the real test servers (tests/cluster) are available as fixtures."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.cluster.fixtures", "tests.operator_support"]

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("PIXELGATE_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The real public datasets beside the checkout (../shared/datasets); never copied into the repo."""
    if not DATASETS.is_dir():
        pytest.fail(f"datasets folder not found at {DATASETS}; set PIXELGATE_DATASETS")
    return DATASETS
