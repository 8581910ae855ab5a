"""The Grafana dashboards (helm/pixelgate/dashboards/*.json) against Grafana's published schema.

Grafana itself cannot run here, so `grafana-check` (tools/testcluster/grafana-check, built by
build.sh) decodes each dashboard strictly with the Grafana Foundation SDK, Grafana's dashboard
schema as Go types, validates it, and adds what the SDK leaves unchecked (fieldConfig, override
properties, enum values, queries that take their panel's data source); see docs/testing.md.

Every dashboard must pass with no problem at all: nothing is filtered, so the fields Grafana's
frontend would default are written out. Each mutation then breaks one thing in a copy and the
checker must report exactly that, at its path: the check can fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.cluster import tools

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((REPO / "helm" / "pixelgate" / "dashboards").glob("*.json"))
CHECKER = REPO / "tools" / "testcluster" / "grafana-check"


@pytest.fixture(scope="module")
def grafana_check() -> Path:
    binary = tools.need(lambda: tools.tool_path("grafana-check"))
    # build.sh caches the binary by SDK version only; it embeds its own source's digest.
    digest = hashlib.sha256((CHECKER / "main.go").read_bytes() + (CHECKER / "enums_gen.go").read_bytes()).hexdigest()
    version = tools.run_tool([binary, "--version"], timeout=30).stdout
    assert f"source sha256 {digest}" in version, (
        f"{binary} was built from other source than {CHECKER} ({version.strip()}); "
        f"rebuild it: rm {binary} && {tools.BUILD_COMMAND} grafana-check"
    )
    return binary


def check(binary: Path, *files: Path) -> subprocess.CompletedProcess:
    return tools.run_tool([binary, *files], timeout=60)


def test_every_dashboard_matches_the_schema(grafana_check):
    assert len(DASHBOARDS) == 4
    done = check(grafana_check, *DASHBOARDS)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def _set(path: list[Any], value: Any) -> Callable[[dict], None]:
    def mutate(board: dict) -> None:
        node = board
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _rename(path: list[Any], new: str) -> Callable[[dict], None]:
    def mutate(board: dict) -> None:
        node = board
        for key in path[:-1]:
            node = node[key]
        node[new] = node.pop(path[-1])

    return mutate


def _delete(path: list[Any]) -> Callable[[dict], None]:
    def mutate(board: dict) -> None:
        node = board
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _query_without_datasource(board: dict) -> None:
    """A query that takes its panel's data source, with a misspelt key (the SDK alone skips it)."""
    target = board["panels"][0]["targets"][0]
    del target["datasource"]
    target["legendFormatt"] = target.pop("legendFormat")


# (id, dashboard, mutation, the one line the checker must print after "FILE: ")
MUTATIONS = [
    ("misspelt-top-level-key", "pipelines.json", _rename(["panels"], "panles"), "panles: unexpected field"),
    (
        "misspelt-panel-key",
        "pipelines.json",
        _rename(["panels", 0, "gridPos"], "gridPoss"),
        "panels[0].gridPoss: unexpected field",
    ),
    (
        "wrong-type",
        "pipelines.json",
        _set(["panels", 0, "gridPos", "h"], "eight"),
        "panels[0].gridPos.h: json: cannot unmarshal string",
    ),
    (
        "required-field-missing",
        "drift.json",
        _delete(["links", 0, "keepTime"]),
        "links[0].keepTime: required field is missing",
    ),
    (
        "panel-constraint",
        "pipelines.json",
        _set(["panels", 0, "gridPos", "w"], 30),
        "panels[0].gridPos.w: must be <= 24",
    ),
    (
        "unknown-key-in-fieldconfig-defaults",
        "pipelines.json",
        _rename(["panels", 0, "fieldConfig", "defaults", "unit"], "unti"),
        "panels[0].fieldConfig.defaults.unti: unexpected field",
    ),
    (
        "bad-enum-value",
        "pipelines.json",
        _set(["panels", 1, "fieldConfig", "defaults", "thresholds", "mode"], "absolut"),
        'panels[1].fieldConfig.defaults.thresholds.mode: "absolut" is not one of "absolute", "percentage"',
    ),
    (
        "bad-variable-enum",
        "data-health.json",
        _set(["templating", "list", 1, "hide"], 7),
        'templating.list[1].hide: "7" is not one of "0", "1", "2", "3"',
    ),
    (
        "unknown-override-property",
        "training.json",
        _set(["panels", 2, "fieldConfig", "overrides", 0, "properties", 0, "id"], "threshold"),
        'panels[2].fieldConfig.overrides[0].properties[0].id: "threshold" is not a field config option',
    ),
    (
        "bad-override-value",
        "training.json",
        _set(["panels", 2, "fieldConfig", "overrides", 1, "properties", 0, "value", "mode"], "relative"),
        'panels[2].fieldConfig.overrides[1].properties[0].value.mode: "relative" is not one of',
    ),
    (
        "unknown-panel-type",
        "drift.json",
        _set(["panels", 0, "type"], "timeserie"),
        'panels[0].type: unknown panel plugin "timeserie"',
    ),
    (
        "query-with-panel-datasource",
        "training.json",
        _query_without_datasource,
        "panels[0].targets[0].legendFormatt: unexpected field",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_a_broken_dashboard_is_reported_at_its_path(grafana_check, tmp_path, name, mutate, expected):
    board = copy.deepcopy(json.loads((REPO / "helm" / "pixelgate" / "dashboards" / name).read_text()))
    mutate(board)
    broken = tmp_path / name
    broken.write_text(json.dumps(board, indent=2))
    done = check(grafana_check, broken)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"{broken}: {expected}"), done.stdout


def test_unreadable_input_fails(grafana_check, tmp_path):
    not_json = tmp_path / "not.json"
    not_json.write_text("{")
    missing = tmp_path / "missing.json"
    done = check(grafana_check, not_json, missing)
    assert done.returncode == 1
    assert [line.split(": ")[:2] for line in done.stdout.splitlines()] == [[str(not_json), "$"], [str(missing), "$"]]
    assert check(grafana_check).returncode == 2
