"""Generate CustomResourceDefinitions from the pydantic models in this package.

The pydantic JSON Schema is rewritten into a Kubernetes *structural* schema:

* ``$ref``/``$defs`` are inlined, and ``title`` is dropped;
* ``Optional[X]`` (``anyOf: [X, null]``) becomes ``X``: absence, not null, means unset;
* ``exclusiveMinimum: n`` becomes ``minimum: n`` + ``exclusiveMinimum: true`` (OpenAPI v3);
* ``additionalProperties: false`` (pydantic's ``extra="forbid"``) is dropped: the apiserver prunes
  unknown fields, and structural schemas allow no ``additionalProperties`` beside ``properties``;
* ``dict[str, Any]`` becomes ``x-kubernetes-preserve-unknown-fields``;
* a bound on map keys (``propertyNames: {maxLength: n}``, which structural schemas lack) becomes
  the CEL rule ``self.all(k, size(k) <= n)``;
* defaults made by ``default_factory`` are materialised, so the apiserver applies nested defaults.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from . import KINDS, Kind
from .kinds import COMPILE_RUN
from .meta import GROUP, VERSION


class _CrdJsonSchema(GenerateJsonSchema):
    def default_schema(self, schema: Any) -> Any:
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            value = schema["default_factory"]()
            value = (
                value.model_dump(mode="json", by_alias=True, exclude_none=True)
                if isinstance(value, BaseModel)
                else value
            )
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
    names = node.pop("propertyNames", None)
    if names is not None:
        if set(names) != {"maxLength"}:
            raise ValueError(f"map keys: only maxLength can be expressed in a CRD, not {names}")
        limit = names["maxLength"]
        node["x-kubernetes-validations"] = [
            *node.get("x-kubernetes-validations", []),
            {"rule": f"self.all(k, size(k) <= {limit})", "message": f"keys must have at most {limit} characters"},
        ]
    if node.get("type") == "object" and "properties" not in node:
        extra = node.get("additionalProperties")
        if extra in (None, True, {}):
            node.pop("additionalProperties", None)
            node["x-kubernetes-preserve-unknown-fields"] = True
    if node.get("type") is None and "enum" not in node and "properties" not in node and "anyOf" not in node:
        node["x-kubernetes-preserve-unknown-fields"] = True
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":  # a map of field name -> schema, not a schema itself
            out[key] = {name: _inline(child, defs) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _inline(value, defs)
        else:
            out[key] = value
    return out


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as a Kubernetes structural schema."""
    raw = model.model_json_schema(by_alias=True, schema_generator=_CrdJsonSchema, mode="validation")
    return _inline({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))


# Rules over the whole object: transition rules that need the old status.
ROOT_VALIDATIONS: dict[str, list[dict[str, str]]] = {
    COMPILE_RUN: [
        {
            "rule": "!has(oldSelf.status) || !has(oldSelf.status.workflow) || self.spec.families == "
            "oldSelf.spec.families",
            "message": "spec.families is immutable once the CompileRun has run; create a new CompileRun",
            "reason": "FieldValueForbidden",
            "fieldPath": ".spec.families",
        },
        {
            "rule": "!has(oldSelf.status) || !has(oldSelf.status.workflow) || self.spec.split.seed "
            "== oldSelf.spec.split.seed",
            "message": "spec.split.seed is immutable once the CompileRun has run; create a new CompileRun",
            "reason": "FieldValueForbidden",
            "fieldPath": ".spec.split.seed",
        },
    ],
}


def _kind_description(kind: Kind) -> str:
    doc = sys.modules[kind.spec.__module__].__doc__ or kind.kind
    return " ".join(doc.split())


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
                            "description": _kind_description(kind),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string", "description": "pixelgate.dev/v1alpha1"},
                                "kind": {"type": "string", "description": kind.kind},
                                "metadata": {"type": "object"},
                                "spec": {
                                    **spec_schema,
                                    "description": spec_schema.get("description")
                                    or f"Desired state of the {kind.kind}.",
                                },
                                "status": {
                                    **status_schema,
                                    "description": status_schema.get("description")
                                    or f"Observed state of the {kind.kind}, written by the operator.",
                                },
                            },
                            **(
                                {"x-kubernetes-validations": ROOT_VALIDATIONS[kind.kind]}
                                if kind.kind in ROOT_VALIDATIONS
                                else {}
                            ),
                        }
                    },
                }
            ],
        },
    }


def peering_crd(kind: str, scope: str) -> dict[str, Any]:
    """kopf's peering resource (kopf.dev/v1): the operator replicas agree there on who is active."""
    plural = f"{kind.lower()}s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev", "labels": {"app.kubernetes.io/part-of": "pixelgate"}},
        "spec": {
            "group": "kopf.dev",
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "Operator replicas' heartbeats (kopf peering): "
                                "only the highest-priority replica is active."
                            ),
                            "properties": {
                                "status": {
                                    "type": "object",
                                    "description": (
                                        "Peer identity -> priority, lifetime and last heartbeat; written by kopf."
                                    ),
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


_HEADER = "# Generated by `pixelgate crds` from pixelgate.workflows.api; do not edit.\n"


def render_crd_yaml(kind: Kind) -> str:
    return _HEADER + yaml.safe_dump(crd_for(kind), sort_keys=False, width=120)


def generated_crds() -> dict[str, str]:
    """File name -> YAML of every CRD pixelgate installs (ours and kopf's peering)."""
    files = {f"{GROUP}_{kind.plural}.yaml": render_crd_yaml(kind) for kind in KINDS.values()}
    for kind, scope in (("KopfPeering", "Namespaced"), ("ClusterKopfPeering", "Cluster")):
        files[f"kopf.dev_{kind.lower()}s.yaml"] = _HEADER + yaml.safe_dump(
            peering_crd(kind, scope), sort_keys=False, width=120
        )
    return files


def write_crds(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generated_crds().items():
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return paths
