"""The subset of Argo's Workflow schema the local runner understands. Anything else in a
manifest is an error that names the feature: the runner never silently skips a field.

Fields that only steer a cluster (podGC, ttlStrategy, resources, nodeSelector, tolerations,
labels) are understood and have nothing to do on one machine; they are listed here so that
they are accepted, and docs/local-runner.md says what each does locally.
"""

from __future__ import annotations

from typing import Any


class ManifestFeatureError(ValueError):
    """The manifest uses an Argo feature the local runner does not implement."""


ANY = "any"  # a leaf accepted as is

_PARAM = {"name": ANY, "value": ANY, "valueFrom": {"path": ANY, "parameter": ANY}, "description": ANY}
_TASK = {
    "name": ANY,
    "template": ANY,
    "dependencies": ANY,
    "withParam": ANY,
    "withItems": ANY,
    "arguments": {"parameters": [_PARAM]},
}
_TEMPLATE = {
    "name": ANY,
    "dag": {"tasks": [_TASK]},
    "parallelism": ANY,
    "container": {
        "image": ANY,
        "command": ANY,
        "args": ANY,
        "resources": ANY,
        "terminationMessagePolicy": ANY,
        "securityContext": ANY,
    },
    "inputs": {"parameters": [_PARAM]},
    "outputs": {"parameters": [_PARAM]},
    "metadata": {"labels": ANY, "annotations": ANY},
    "retryStrategy": {
        "limit": ANY,
        "retryPolicy": ANY,
        "expression": ANY,
        "backoff": {"duration": ANY, "factor": ANY, "maxDuration": ANY},
    },
    "activeDeadlineSeconds": ANY,
    "nodeSelector": ANY,
    "tolerations": ANY,
}
SCHEMA: dict[str, Any] = {
    "apiVersion": ANY,
    "kind": ANY,
    "metadata": ANY,
    "spec": {
        "entrypoint": ANY,
        "arguments": {"parameters": [_PARAM]},
        "templates": [_TEMPLATE],
        "podGC": ANY,
        "ttlStrategy": ANY,
        "activeDeadlineSeconds": ANY,
        "securityContext": ANY,
    },
}


def check_subset(value: Any, schema: Any = SCHEMA, path: str = "") -> None:
    """Raise :class:`ManifestFeatureError` at the first field outside the supported subset."""
    if schema == ANY:
        return
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise ManifestFeatureError(f"{path}: expected a list")
        for i, item in enumerate(value):
            check_subset(item, schema[0], f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        raise ManifestFeatureError(f"{path}: expected a mapping")
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key not in schema:
            raise ManifestFeatureError(f"unsupported Argo feature {where!r}: the local runner does not implement it")
        check_subset(item, schema[key], where)
    if "dag" in value and "container" in value:
        raise ManifestFeatureError(f"{path}: a template is either a dag or a container")
    if path.startswith("spec.templates[") and path.count(".") == 1 and "dag" not in value and "container" not in value:
        raise ManifestFeatureError(
            f"{path}: template {value.get('name')!r} is neither a dag nor a container (other "
            f"template types are not supported)"
        )
