"""The step container's contract: output files for Argo parameters, and the transient exit code."""

from __future__ import annotations

import json
from pathlib import Path

from botocore.exceptions import EndpointConnectionError
from pydantic import BaseModel

from pixelgate.workflows.local.expressions import retry_expression_allows
from pixelgate.workflows.render.common import RETRY_EXPRESSION
from pixelgate.workflows.render.container import TRANSIENT_EXIT_CODE, is_transient, write_output_fields


class _Plan(BaseModel):
    shards: list[int]
    uri: str
    records: int


def test_each_result_field_becomes_an_output_file(tmp_path: Path) -> None:
    write_output_fields(_Plan(shards=[0, 1, 2], uri="s3://b/k", records=5), tmp_path / "out")
    assert json.loads((tmp_path / "out" / "shards").read_text()) == [0, 1, 2]
    assert (tmp_path / "out" / "uri").read_text() == "s3://b/k"  # strings as they are
    assert (tmp_path / "out" / "records").read_text() == "5"


def test_only_connection_errors_and_timeouts_are_transient() -> None:
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert is_transient(EndpointConnectionError(endpoint_url="http://s3"))
    assert not is_transient(ValueError("bad spec")) and not is_transient(FileNotFoundError("x"))


def test_the_retry_expression_retries_exactly_errors_and_the_transient_code() -> None:
    assert retry_expression_allows(RETRY_EXPRESSION, status="Failed", exit_code=TRANSIENT_EXIT_CODE)
    assert retry_expression_allows(RETRY_EXPRESSION, status="Error", exit_code=None)
    assert not retry_expression_allows(RETRY_EXPRESSION, status="Failed", exit_code=1)


def test_bad_input_reaches_the_termination_message_and_the_local_status(tmp_path: Path, monkeypatch) -> None:
    """A step that refuses its input says which field to fix where Argo reads it (the container's
    termination message -> the node's message -> status.failedNodes), and locally the same."""
    from click.testing import CliRunner

    from pixelgate.workflows.api.manifests import load_items
    from pixelgate.workflows.cli import main
    from pixelgate.workflows.local.runner import run_resources
    from pixelgate.workflows.store import LocalStore

    doc = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "DatasetFamily",
        "metadata": {"name": "nothing-there"},
        "spec": {
            "source": {"uri": str(tmp_path / "missing-*.jsonl"), "format": "jsonl"},
            "mapping": {"turns": {"path": "m"}},
            "license": {"spdx": "MIT", "allowTraining": True},
            "pii": {"entities": []},
        },
    }
    termination = tmp_path / "termination-log"
    monkeypatch.setenv("PIXELGATE_TERMINATION_LOG", str(termination))
    out = CliRunner().invoke(main, ["step", "ingest", "--spec", json.dumps(doc), "--store", str(tmp_path / "store")])
    assert out.exit_code == 1
    said = termination.read_text()
    assert said.startswith("ingest: source.uri: ") and said in out.output

    monkeypatch.delenv("PIXELGATE_TERMINATION_LOG")
    (tmp_path / "family.yaml").write_text(json.dumps(doc))
    report = run_resources(
        load_items([str(tmp_path / "family.yaml")]), LocalStore(tmp_path / "run"), logs_dir=tmp_path / "logs"
    )
    [outcome] = report.outcomes
    assert outcome.phase == "Failed" and said in outcome.status.message, outcome.status.message
