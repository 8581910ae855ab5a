"""Nothing in a spec is unbounded (meta.py's aliases): pydantic refuses what the CRD refuses, and
names the field. The CRD side is tests/test_crds.py (schema walk) and tests/test_crds_apiserver.py."""

from __future__ import annotations

import pytest

from pixelgate.workflows.api import ManifestError, parse_resource
from pixelgate.workflows.api.meta import LONG_TEXT_MAX, MAX_ENTRIES, MAX_ITEMS, URI_MAX


def _doc(kind: str, spec: dict) -> dict:
    return {"apiVersion": "pixelgate.dev/v1alpha1", "kind": kind, "metadata": {"name": "x"}, "spec": spec}


def _family(**mapping) -> dict:
    return _doc(
        "DatasetFamily",
        {
            "source": {"uri": "data.jsonl", "format": "jsonl"},
            "mapping": {"turns": {"path": "messages"}, **mapping},
            "license": {"spdx": "MIT", "allowTraining": True},
        },
    )


def _refused(doc: dict) -> str:
    with pytest.raises(ManifestError) as err:
        parse_resource(doc)
    return str(err.value)


def test_limits_are_generous_for_real_manifests():
    parse_resource(_family(systemPrompt="s" * LONG_TEXT_MAX, metadata={f"k{i}": "a.b" for i in range(MAX_ENTRIES)}))
    parse_resource(_doc("CompileRun", {"families": {"names": [f"f{i}" for i in range(MAX_ITEMS)]}}))


def test_an_oversized_system_prompt_is_refused():
    message = _refused(_family(systemPrompt="s" * 20 * 1024))
    assert "spec.mapping.systemPrompt" in message and f"at most {LONG_TEXT_MAX} characters" in message


def test_an_oversized_chat_template_is_refused():
    doc = _doc("TrainingRun", {"compileRun": "c", "model": {"base": "gpt2", "chatTemplate": "{{ x }}" * 4000}})
    assert "spec.model.chatTemplate" in _refused(doc)


def test_too_many_families_are_refused():
    message = _refused(_doc("CompileRun", {"families": {"names": [f"f{i}" for i in range(300)]}}))
    assert "spec.families.names" in message and f"at most {MAX_ITEMS} items" in message


def test_an_oversized_map_is_refused():
    message = _refused(_family(metadata={f"k{i}": "a.b" for i in range(1000)}))
    assert "spec.mapping.metadata" in message and f"at most {MAX_ENTRIES} items" in message


def test_an_oversized_map_key_and_uri_are_refused():
    assert "spec.mapping.metadata" in _refused(_family(metadata={"k" * 300: "a"}))
    doc = _doc("DatasetFamily", {"source": {"uri": "s3://b/" + "k" * URI_MAX, "format": "jsonl"}})
    assert "spec.source.uri" in _refused(doc)


def test_an_oversized_label_selector_is_refused_in_both_forms():
    labels = {f"l{i}": "v" for i in range(MAX_ENTRIES + 1)}
    assert "spec.families.selector.matchLabels" in _refused(
        _doc("CompileRun", {"families": {"selector": {"matchLabels": labels}}})
    )
    with pytest.warns(DeprecationWarning):
        assert "spec.families.selector.matchLabels" in _refused(_doc("CompileRun", {"families": {"selector": labels}}))
    assert "matchLabels" in _refused(_doc("CompileRun", {"families": {"selector": {"matchLabels": {"a": "v" * 64}}}}))
