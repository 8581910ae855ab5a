"""The generated CRDs: in sync with the models, structural, and described field by field."""

from __future__ import annotations

from pathlib import Path

import yaml

from pixelgate.workflows.api import KINDS
from pixelgate.workflows.api.crd import generated_crds

REPO = Path(__file__).resolve().parent.parent
CRDS = REPO / "crds"


def test_crds_folder_matches_the_models():
    expected = generated_crds()
    on_disk = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    stale = sorted(name for name in expected if on_disk.get(name) != expected[name])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, (
        f"crds/ drifted from the models (stale: {stale}, unknown: {extra}); run `make crds`"
    )


def _walk(node: dict, path: str):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _schema(kind: str) -> dict:
    doc = yaml.safe_load(generated_crds()[f"pixelgate.dev_{KINDS[kind].plural}.yaml"])
    return doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_every_field_has_a_description_and_a_type():
    missing, untyped = [], []
    for kind in KINDS:
        for path, node in _walk(_schema(kind), kind):
            if path.endswith(".metadata"):
                continue
            if not path.endswith("[]") and not path.endswith("{}") and not node.get("description"):
                missing.append(path)
            if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                untyped.append(path)
    assert not missing, f"fields without a description: {missing}"
    assert not untyped, f"fields without a type (not structural): {untyped}"


def test_structural_schema_has_no_forbidden_keywords():
    bad = []
    for kind in KINDS:
        for path, node in _walk(_schema(kind), kind):
            for key in ("$ref", "anyOf", "oneOf", "allOf", "title", "const"):
                if key in node:
                    bad.append(f"{path}: {key}")
            if "additionalProperties" in node and "properties" in node:
                bad.append(f"{path}: properties and additionalProperties")
    assert not bad, bad


def test_names_categories_printer_columns_and_status_subresource():
    for kind, info in KINDS.items():
        doc = yaml.safe_load(generated_crds()[f"pixelgate.dev_{info.plural}.yaml"])
        names = doc["spec"]["names"]
        assert names["categories"] == ["pixelgate"]
        assert names["shortNames"] == info.short_names
        version = doc["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert "Phase" in columns and columns[-1] == "Age", (kind, columns)
        status_fields = set(version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"])
        assert {"phase", "observedGeneration", "conditions"} <= status_fields
        for column in version["additionalPrinterColumns"]:
            path = column["jsonPath"]
            if path.startswith(".status."):
                assert path.split(".")[2].split("[")[0] in status_fields, (kind, path)


def test_condition_schema_follows_api_conventions():
    conditions = _schema("CompileRun")["properties"]["status"]["properties"]["conditions"]["items"]
    assert {"type", "status", "reason", "message", "observedGeneration", "lastTransitionTime"} <= set(
        conditions["properties"]
    )
    assert conditions["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def test_compile_immutability_rules_read_old_status():
    rules = [r["rule"] for r in _schema("CompileRun")["x-kubernetes-validations"]]
    assert any("oldSelf.spec.families" in r for r in rules)
    assert any("oldSelf.spec.split.seed" in r for r in rules)


def test_nothing_in_a_spec_is_unbounded():
    """Every string (but enums) has maxLength, every list maxItems, every map maxProperties and a
    CEL rule bounding its keys: no manifest carries unbounded text into the workflows."""
    unbounded = []
    for kind in KINDS:
        for path, node in _walk(_schema(kind)["properties"]["spec"], f"{kind}.spec"):
            kind_of = node.get("type")
            if kind_of == "string" and "enum" not in node and "maxLength" not in node:
                unbounded.append(f"{path}: string without maxLength")
            if kind_of == "array" and "maxItems" not in node:
                unbounded.append(f"{path}: array without maxItems")
            if kind_of == "object" and "additionalProperties" in node:
                if "maxProperties" not in node:
                    unbounded.append(f"{path}: map without maxProperties")
                rules = [r["rule"] for r in node.get("x-kubernetes-validations", [])]
                if not any(r.startswith("self.all(k, size(k) <= ") for r in rules):
                    unbounded.append(f"{path}: map keys without a length rule")
    assert not unbounded, unbounded
