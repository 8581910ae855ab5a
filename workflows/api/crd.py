"""Generate CustomResourceDefinitions from the pydantic models in this package.

The pydantic JSON Schema is rewritten into a Kubernetes *structural* schema:

* ``$ref``/``$defs`` are inlined, and ``title`` is dropped;
* ``Optional[X]`` (``anyOf: [X, null]``) becomes ``X``: absence, not null, means unset;
* ``exclusiveMinimum: n`` becomes ``minimum: n`` + ``exclusiveMinimum: true`` (OpenAPI v3);
* ``additionalProperties: false`` (pydantic's ``extra="forbid"``) is dropped: the apiserver prunes
  unknown fields, and structural schemas allow no ``additionalProperties`` beside ``properties``;
* ``dict[str, Any]`` becomes ``x-kubernetes-preserve-unknown-fields``;
* defaults made by ``default_factory`` are materialised, so the apiserver applies nested defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from . import KINDS, Kind
from .meta import GROUP, VERSION


class _CrdJsonSchema(GenerateJsonSchema):
    def default_schema(self, schema: Any) -> Any:
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            value = schema["default_factory"]()
            value = value.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(value, BaseModel) else value
            schema = {k: v for k, v in schema.items() if k != "default_factory"} | {"default": value}
        return super().default_schema(schema)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        node = {**_inline(target, defs), **node}
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            node = {**_inline(variants[0], defs), **rest}
            if node.get("default", 0) is None:
                node.pop("default")
    node.pop("title", None)
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[plain] = node[bound]
            node[bound] = True
    if node.get("type") == "object" and "properties" not in node:
        extra = node.get("additionalProperties")
        if extra in (None, True, {}):
            node.pop("additionalProperties", None)
            node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("type") is None and "enum" not in node and "properties" not in node and "anyOf" not in node:
        node["x-kubernetes-preserve-unknown-fields"] = True
    return {key: (value if key in ("default", "enum", "x-kubernetes-validations") else _inline(value, defs)) for key, value in node.items()}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_CrdJsonSchema, mode="validation")
    return _inline({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))


def crd_for(kind: Kind) -> dict[str, Any]:
    spec_schema = structural_schema(kind.spec)
    status_schema = structural_schema(kind.status)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "pixelgate"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": kind.short_names,
                "categories": ["pixelgate"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.printer_columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (kind.spec.__doc__ or kind.kind).strip().splitlines()[0],
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "pixelgate.dev/v1alpha1"},
                                "kind": {"type": "string", "description": kind.kind},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd_yaml(kind: Kind) -> str:
    return "# Generated by `pixelgate crds` from pixelgate.workflows.api; do not edit.\n" + yaml.safe_dump(
        crd_for(kind), sort_keys=False, width=120
    )


def write_crds(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in KINDS.values():
        path = out_dir / f"{GROUP}_{kind.plural}.yaml"
        path.write_text(render_crd_yaml(kind))
        paths.append(path)
    return paths
