"""What every rendered workflow shares: its name, labels, arguments, and the step template.

A step template is a container running ``pixelgate step <name>`` with the resource's spec as
inline JSON (the workflow parameter ``spec``), the store URI (``store``) and the identities of
the resources it reads (``inputs``, a JSON object). Its small JSON result is written to
:data:`RESULT_PATH` and comes back as the output parameter ``result``; each top-level field of
the result is also written under :data:`OUTPUTS_DIR` so that a list (e.g. shard indices) can
feed a ``withParam`` fan-out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import yaml
from hera.workflows import Container, Parameter, RetryStrategy
from hera.workflows.models import (
    Backoff,
    Capabilities,
    PodSecurityContext,
    SeccompProfile,
    SecurityContext,
    Toleration,
)

from .. import PIPELINE_VERSION
from ..api.kinds import Compute
from ..api.meta import GROUP, Resource, canonical_json
from .container import TRANSIENT_EXIT_CODE

# What `make images` builds (images/build.sh: $REGISTRY/pixelgate-<name>:$TAG).
DEFAULT_IMAGE = f"ghcr.io/pixelgate/pixelgate-steps:{PIPELINE_VERSION}"
DEFAULT_TRAIN_IMAGE = f"ghcr.io/pixelgate/pixelgate-train:{PIPELINE_VERSION}"
RESULT_PATH = "/tmp/result.json"
OUTPUTS_DIR = "/tmp/outputs"

LABEL_KIND = f"{GROUP}/kind"
LABEL_NAME = f"{GROUP}/name"
LABEL_HASH = f"{GROUP}/spec-hash"
LABEL_VERSION = f"{GROUP}/pipeline-version"

# Workflow names become pod-name prefixes and label values: keep them a DNS label (<= 63).
_MAX_NAME = 63

# A retry only for what a retry can fix: infrastructure errors (pod evicted or deleted, node
# lost: Argo's "Error" status) and a step's own transient exit code. A bug fails at once.
RETRY_EXPRESSION = f'lastRetry.status == "Error" || asInt(lastRetry.exitCode) == {TRANSIENT_EXIT_CODE}'


def workflow_name(resource_name: str, spec_hash: str) -> str:
    """``<resource name>-<spec hash>``, kept a DNS label. A name too long for that is cut and gets 6
    hex characters of its own hash, so two long names sharing a prefix never share a workflow."""
    if len(resource_name) + 1 + len(spec_hash) <= _MAX_NAME:
        return f"{resource_name}-{spec_hash}"
    own = hashlib.sha256(resource_name.encode()).hexdigest()[:6]
    head = resource_name[: _MAX_NAME - len(spec_hash) - len(own) - 2].rstrip("-")
    return f"{head}-{own}-{spec_hash}"


def labels_for(resource: Resource[Any], spec_hash: str) -> dict[str, str]:
    return {
        LABEL_KIND: resource.kind,
        LABEL_NAME: resource.name,
        LABEL_HASH: spec_hash,
        LABEL_VERSION: PIPELINE_VERSION,
    }


# Argo substitutes ``{{...}}`` and evaluates ``{{=...}}`` in parameter values; JSON only has two
# braces in a row inside strings, so writing the second as an escape leaves Argo nothing to expand
# while every JSON reader still reads the same text.
_TEMPLATE_OPEN, _ESCAPED_OPEN = "{{", "{\\u007b"


def spec_document(resource: Resource[Any]) -> str:
    """The resource as the canonical JSON a step's ``--spec`` receives (name, labels, spec), with
    no ``{{`` in it: user text can never reach Argo's template engine."""
    metadata: dict[str, Any] = {"name": resource.name}
    if resource.metadata.labels:
        metadata["labels"] = dict(resource.metadata.labels)
    doc = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
        "spec": resource.spec.to_wire(),
    }
    return canonical_json(doc).decode().replace(_TEMPLATE_OPEN, _ESCAPED_OPEN)


@dataclass(frozen=True)
class StepDef:
    """One step template: the ``pixelgate step`` it runs, its string inputs and list outputs."""

    template: str
    step: str
    compute: Compute = field(default_factory=Compute)
    inputs: tuple[str, ...] = ()  # each becomes `--param <name>={{inputs.parameters.<name>}}`
    list_outputs: tuple[str, ...] = ()  # result fields exposed on their own (for withParam)
    launcher: tuple[str, ...] = ()  # e.g. torchrun and its flags; it runs `-m pixelgate.workflows.cli`
    pod_labels: dict[str, str] = field(default_factory=dict)  # extra pod labels (may use input parameters)
    image: str = "steps"  # which image runs it: the step image, or the train image


@dataclass(frozen=True)
class ResourceDef:
    """A template that creates a Kubernetes object owned by the workflow (Argo ``resource``)."""

    template: str
    manifest: str


# The Pod Security "restricted" profile for every pod a workflow runs: the step images run as
# 10001:10001 (images/*/Dockerfile); Argo's own executor containers take the controller's
# `executor.securityContext` (docs/workflows.md).
STEP_UID = 10001
POD_SECURITY = PodSecurityContext(
    run_as_non_root=True,
    run_as_user=STEP_UID,
    run_as_group=STEP_UID,
    fs_group=STEP_UID,
    seccomp_profile=SeccompProfile(type="RuntimeDefault"),
)
CONTAINER_SECURITY = SecurityContext(
    allow_privilege_escalation=False,
    capabilities=Capabilities(drop=["ALL"]),
    run_as_non_root=True,
    seccomp_profile=SeccompProfile(type="RuntimeDefault"),
)


def step_template(defn: StepDef, *, image: str, labels: dict[str, str]) -> Container:
    args = [
        "step",
        defn.step,
        "--spec",
        "{{workflow.parameters.spec}}",
        "--store",
        "{{workflow.parameters.store}}",
        "--inputs",
        "{{workflow.parameters.inputs}}",
        "--result",
        RESULT_PATH,
        "--output-dir",
        OUTPUTS_DIR,
    ]
    for name in defn.inputs:
        args += ["--param", f"{name}={{{{inputs.parameters.{name}}}}}"]
    outputs = [Parameter(name="result", value_from={"path": RESULT_PATH})]
    outputs += [Parameter(name=name, value_from={"path": f"{OUTPUTS_DIR}/{name}"}) for name in defn.list_outputs]
    gpu = defn.compute.gpus > 0
    command = [*defn.launcher, "-m", "pixelgate.workflows.cli"] if defn.launcher else ["pixelgate"]
    return Container(
        name=defn.template,
        image=image,
        command=command,
        args=args,
        inputs=[Parameter(name=name) for name in defn.inputs] or None,
        outputs=outputs,
        labels=dict(labels) | defn.pod_labels,
        retry_strategy=RetryStrategy(
            limit=defn.compute.retries,
            retry_policy="Always",
            expression=RETRY_EXPRESSION,
            backoff=Backoff(duration="15s", factor=2, max_duration="10m"),
        ),
        active_deadline_seconds=defn.compute.deadline_s,
        # a bad-input error is the termination message; an unexpected crash's log tail stands in for it
        termination_message_policy="FallbackToLogsOnError",
        security_context=CONTAINER_SECURITY,
        node_selector=dict(defn.compute.node_selector) or None,
        tolerations=[Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")] if gpu else None,
    )


RCLONE_CONFIG_DIR = "/etc/pixelgate/rclone"


@dataclass(frozen=True)
class Runtime:
    """How the pods of a rendered workflow run in the cluster: who they run as, their environment
    and the Secrets they read. Deployment wiring, not part of the spec: the workflow's name does
    not depend on it, and ``pixelgate run`` renders without it (local steps use the local environment)."""

    service_account: str | None = None  # spec.serviceAccountName (Argo's executor Role is bound to it)
    env: tuple[tuple[str, str], ...] = ()  # plain variables for every step, e.g. AWS_ENDPOINT_URL
    store_secret: str | None = None  # Secret with the store's keys, given as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
    store_secret_keys: tuple[str, str] = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")  # their keys in that Secret
    rclone_secret: str | None = None  # Secret holding rclone.conf, mounted for rclone:// sources

    def step_env(self) -> list[dict[str, Any]]:
        env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in self.env]
        if self.store_secret:
            for name, key in zip(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), self.store_secret_keys):
                env.append({"name": name, "valueFrom": {"secretKeyRef": {"name": self.store_secret, "key": key}}})
        return env

    def apply(
        self, manifest: dict[str, Any], *, rclone: bool, secret_env: tuple[tuple[str, str, str], ...] = ()
    ) -> dict[str, Any]:
        """Add the wiring to ``manifest``; ``secret_env`` are (variable, Secret, key) the resource's spec names."""
        spec = manifest["spec"]
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        env = self.step_env() + [
            {"name": n, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for n, secret, key in secret_env
        ]
        mount_rclone = rclone and self.rclone_secret
        if mount_rclone:
            spec.setdefault("volumes", []).append(
                {"name": "rclone-config", "secret": {"secretName": self.rclone_secret}}
            )
            env.append({"name": "RCLONE_CONFIG", "value": f"{RCLONE_CONFIG_DIR}/rclone.conf"})
        for template in spec["templates"]:
            container = template.get("container")
            if container is None:
                continue
            if env:
                container.setdefault("env", []).extend(env)
            if mount_rclone:
                container.setdefault("volumeMounts", []).append(
                    {"name": "rclone-config", "mountPath": RCLONE_CONFIG_DIR, "readOnly": True}
                )
        return manifest


def with_resources(template: dict[str, Any], compute: Compute) -> dict[str, Any]:
    """Hera's Resources helper rounds and renames; set the exact Kubernetes dict instead."""
    template["container"]["resources"] = compute.resources()
    return template


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    """Deterministic YAML bytes of a manifest (sorted keys, block style, UTF-8)."""
    return yaml.safe_dump(
        manifest, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16
    ).encode()
