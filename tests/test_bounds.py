"""Nothing in a spec is unbounded (meta.py's aliases): pydantic refuses what the CRD refuses, and
names the field. The CRD side is tests/test_crds.py (schema walk) and tests/test_crds_apiserver.py."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from pixelgate.workflows.api import ManifestError, parse_resource
from pixelgate.workflows.api.meta import LONG_TEXT_MAX, MAX_ENTRIES, MAX_ITEMS, URI_MAX
from pixelgate.workflows.cli import main


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


# ------------------------------------------------------------------ YAML alias expansion

BILLION_LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
)  # 1 KB of YAML naming 10**9 scalars


def test_an_alias_bomb_is_refused_quickly_and_by_size(tmp_path):
    import time

    from pixelgate.workflows.api.manifests import MAX_EXPANDED_NODES, ManifestTooLarge, load_items

    path = tmp_path / "bomb.yaml"
    path.write_text(
        "apiVersion: pixelgate.dev/v1alpha1\nkind: DatasetFamily\nmetadata: {name: bomb}\nspec:\n"
        + "\n".join("  " + line for line in BILLION_LAUGHS.splitlines())
    )
    started = time.monotonic()
    with pytest.raises(ManifestTooLarge, match=f"more than {MAX_EXPANDED_NODES} nodes through YAML aliases"):
        load_items([str(path)])
    assert time.monotonic() - started < 5
    # what a user of `pixelgate render` / `run` sees: the message, no traceback
    for command in (["render", "-o", str(tmp_path / "out")], ["run", "--store", str(tmp_path / "store")]):
        result = CliRunner().invoke(main, [command[0], "-f", str(path), *command[1:]])
        assert result.exit_code != 0 and "through YAML aliases" in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output


def test_a_self_containing_or_too_deep_manifest_is_refused(tmp_path):
    from pixelgate.workflows.api.manifests import ManifestTooLarge, load_items, load_spec_document

    looped = tmp_path / "loop.yaml"
    looped.write_text("kind: DatasetFamily\nspec: &s {again: *s}\n")
    with pytest.raises(ManifestTooLarge, match="contains itself"):
        load_items([str(looped)])
    deep = tmp_path / "deep.yaml"
    deep.write_text("kind: DatasetFamily\nspec: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ManifestTooLarge, match="nested too deeply"):
        load_spec_document(str(deep))


def test_aliases_within_the_bound_still_work(tmp_path):
    """Anchors are ordinary YAML: a manifest naming one list twice reads as written."""
    from pixelgate.workflows.api.manifests import expanded_size, load_items

    path = tmp_path / "shared.yaml"
    path.write_text(
        "apiVersion: pixelgate.dev/v1alpha1\nkind: CompileRun\nmetadata: {name: shared}\n"
        "spec: {families: {names: &held [crisis, more]}, holdoutFamilies: *held}\n"
    )
    (item,) = load_items([str(path)])
    assert item.resource.spec.holdout_families == ["crisis", "more"] == item.resource.spec.families.names
    levels = [11]  # a: a list of 10 scalars; each next level, a list of 10 of the one before
    for _ in range(8):
        levels.append(1 + 10 * levels[-1])
    assert expanded_size(yaml.safe_load(BILLION_LAUGHS), limit=10**10) == 1 + 9 + sum(levels)
