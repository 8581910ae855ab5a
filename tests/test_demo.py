"""The quickstart's seeded sample generator: deterministic, and every defect is present."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from pixelgate.workflows.api.manifests import load_items
from pixelgate.workflows.cli import main
from pixelgate.workflows.demo import QUICKSTART, generate


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", seed=3, size=30)
    generate(tmp_path / "b", seed=3, size=30)
    generate(tmp_path / "c", seed=4, size=30)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert _bytes(tmp_path / "a")["support_chats.jsonl"] != _bytes(tmp_path / "c")["support_chats.jsonl"]


def test_every_defect_and_format_is_present(tmp_path: Path) -> None:
    paths = generate(tmp_path, seed=7, size=40)
    assert {p.suffix for p in paths.values()} == {".jsonl", ".csv", ".parquet", ".json"}
    lines = paths["support-chats"].read_text(encoding="utf-8").splitlines()
    parsed, malformed = [], 0
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            malformed += 1
    assert malformed == 1 and any("messages" not in r for r in parsed)
    texts = [json.dumps(r["messages"]) for r in parsed if "messages" in r]
    assert len(texts) - len(set(texts)) >= 4, "exact duplicates"
    joined = "\n".join(lines)
    assert "@example.com" in joined and "206-555-" in joined, "PII"
    assert "\u00e2\u20ac\u2122" in joined, "mojibake (UTF-8 read as cp1252)"
    with open(paths["counsel-qa"], newline="", encoding="utf-8") as fh:
        answers = {row["answerText"] for row in csv.DictReader(fh)}
    assert any(m[1]["content"] in answers for m in (r["messages"] for r in parsed if "messages" in r)), (
        "cross-family duplicates"
    )
    assert pq.read_table(paths["mi-sessions"]).num_rows > 0
    assert json.loads(paths["crisis-holdout"].read_text())
    low = [json.loads(line) for line in paths["low-quality-forum"].read_text().splitlines()]
    assert sum(len(r["messages"][1]["content"]) < 25 for r in low) > len(low) // 2


def test_quickstart_manifests_reference_the_generated_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo-data", "-o", str(tmp_path), "--size", "12"])
    assert result.exit_code == 0, result.output
    items = load_items([str(QUICKSTART)])
    kinds = sorted({i.resource.kind for i in items})
    assert kinds == ["CompileRun", "DatasetFamily", "GateReview", "TrainingRun"]
    families = [i.resource for i in items if i.resource.kind == "DatasetFamily"]
    assert {f.spec.source.format for f in families} == {"jsonl", "json", "csv", "parquet"}
    assert any(f.spec.holdout for f in families) and any(f.spec.quality.min_overall > 0 for f in families)
    for family in families:
        assert (tmp_path / Path(family.spec.source.uri).name).is_file(), family.spec.source.uri
    training = next(i.resource for i in items if i.resource.kind == "TrainingRun")
    assert training.spec.resources.gpus_per_node == 0
