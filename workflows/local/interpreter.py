"""Execute one rendered Argo Workflow manifest on this machine.

The interpreter walks the entry DAG: a task runs once its ``dependencies`` are done; a task
with ``withParam``/``withItems`` fans out into one node per item, run on a pool of
``workers`` processes (capped by the DAG's ``parallelism``). Each node is a container
template: its ``command``/``args`` are substituted and run as a subprocess with the same argv
(see :mod:`.launch`); its output parameters are read from their ``valueFrom.path`` files.
Failed attempts are retried as the template's ``retryStrategy`` says. A node whose cache key
(:mod:`.cache`) is unchanged is skipped and its recorded outputs reused.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import PIPELINE_VERSION
from .cache import NodeCache
from .expressions import duration_seconds, retry_expression_allows, substitute
from .launch import ContainerCall, LaunchOutcome, launch_subprocess, terminate_all
from .subset import ManifestFeatureError, check_subset

Launcher = Callable[[ContainerCall], LaunchOutcome]


class WorkflowFailed(RuntimeError):
    pass


class Events:
    """Progress callbacks; the default does nothing (see :mod:`.progress` for the rich one)."""

    def task_started(self, workflow: str, task: str, total: int) -> None: ...

    def node_finished(self, workflow: str, task: str, cached: bool) -> None: ...

    def task_finished(self, workflow: str, task: str, ok: bool) -> None: ...


@dataclass
class NodeResult:
    node: str
    task: str
    ok: bool
    cached: bool
    attempts: int
    outputs: dict[str, str] = field(default_factory=dict)
    key: str = ""
    message: str = ""


@dataclass
class WorkflowResult:
    name: str
    phase: str  # Succeeded | Failed
    outputs: dict[str, str]
    nodes: list[NodeResult]
    message: str = ""

    @property
    def digest(self) -> str:
        """Changes whenever any node's inputs or outputs change: downstream resources key on it."""
        parts = sorted((n.node, n.key, json.dumps(n.outputs, sort_keys=True)) for n in self.nodes)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    @property
    def cached_nodes(self) -> int:
        return sum(n.cached for n in self.nodes)


def _params(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return list(items or [])


def _runnable(command: list[str]) -> bool:
    """``pixelgate``, or torchrun on this one machine running the same CLI."""
    if command == ["pixelgate"]:
        return True
    return command[:2] == ["torchrun", "--standalone"] and command[-2:] == ["-m", "pixelgate.workflows.cli"]


def _validate(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for t in (manifest.get("spec") or {}).get("templates") or []:
        if "resource" in t:
            raise ManifestFeatureError(
                f"template {t.get('name')!r} creates a Kubernetes object: multi-node training "
                "(spec.resources.nodes > 1) runs on a cluster; the local runner runs one node"
            )
    check_subset(manifest)
    if manifest.get("kind") != "Workflow":
        raise ManifestFeatureError(f"kind {manifest.get('kind')!r}: only Workflow manifests can be run")
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    entry = templates.get(manifest["spec"].get("entrypoint"))
    if entry is None or "dag" not in entry:
        raise ManifestFeatureError("spec.entrypoint must name a dag template")
    for t in templates.values():
        if "dag" in t and t is not entry:
            raise ManifestFeatureError(f"template {t['name']!r}: nested DAGs are not supported")
        if "container" in t and not _runnable(t["container"].get("command") or []):
            raise ManifestFeatureError(
                f"template {t['name']!r}: the local runner runs `pixelgate` containers, alone or "
                f"under a single-node `torchrun --standalone`"
            )
    for task in entry["dag"]["tasks"]:
        if templates.get(task["template"], {}).get("container") is None:
            raise ManifestFeatureError(
                f"task {task['name']!r}: template {task['template']!r} is not a container template"
            )
        if "withParam" in task and "withItems" in task:
            raise ManifestFeatureError(f"task {task['name']!r}: give withParam or withItems, not both")
    return templates


def _items(task: dict[str, Any], scope: dict[str, str]) -> list[Any] | None:
    if "withItems" in task:
        return list(task["withItems"])
    if "withParam" in task:
        text = substitute(task["withParam"], scope, f"task {task['name']}.withParam")
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise WorkflowFailed(f"task {task['name']}: withParam is not a JSON list: {text[:200]!r}") from None
        if not isinstance(items, list):
            raise WorkflowFailed(f"task {task['name']}: withParam is not a JSON list: {text[:200]!r}")
        return items
    return None


def _item_text(item: Any) -> str:
    return item if isinstance(item, str) else json.dumps(item, sort_keys=True)


def _aggregate(values: list[str]) -> str:
    """Argo aggregates a fan-out task's output parameters into one JSON list."""
    out = []
    for value in values:
        try:
            out.append(json.loads(value))
        except json.JSONDecodeError:
            out.append(value)
    return json.dumps(out, sort_keys=True)


class _Run:
    def __init__(self, manifest, *, workers, cache, events, launch, context_digest, logs_dir):
        self.manifest = manifest
        self.name = manifest["metadata"]["name"]
        self.templates = _validate(manifest)
        self.entry = self.templates[manifest["spec"]["entrypoint"]]
        self.workers = max(1, min(workers, int(self.entry.get("parallelism") or workers)))
        self.cache = cache
        self.events = events
        self.launch = launch
        self.context_digest = context_digest
        self.logs_dir = logs_dir
        self.scope = {
            f"workflow.parameters.{p['name']}": str(p.get("value", ""))
            for p in _params(manifest["spec"].get("arguments", {}).get("parameters"))
        }
        self.scope["workflow.name"] = self.name

    # -- one node -------------------------------------------------------------------------
    def _node(self, task: dict[str, Any], index: int | None, item: Any, upstream: str) -> NodeResult:
        template = self.templates[task["template"]]
        node = task["name"] if index is None else f"{task['name']}({index}:{_item_text(item)})"
        node_id = task["name"] if index is None else f"{task['name']}-{index}"
        scope = dict(self.scope)
        if index is not None:
            scope["item"] = _item_text(item)
        given = {
            p["name"]: substitute(str(p.get("value", "")), scope, f"task {node}")
            for p in _params(task.get("arguments", {}).get("parameters"))
        }
        inputs = {}
        for p in _params(template.get("inputs", {}).get("parameters")):
            if p["name"] not in given and "value" not in p:
                raise ManifestFeatureError(f"task {node}: input parameter {p['name']!r} has no value")
            inputs[f"inputs.parameters.{p['name']}"] = given.get(p["name"], str(p.get("value", "")))
        local = self.scope | inputs
        container = template["container"]
        argv = [
            substitute(a, local, f"template {template['name']}")
            for a in [*container["command"], *container.get("args", [])]
        ]
        key = hashlib.sha256(
            json.dumps([PIPELINE_VERSION, container.get("image"), argv, self.context_digest, upstream]).encode()
        ).hexdigest()
        hit = self.cache.lookup(self.name, node_id, key)
        if hit is not None:
            return NodeResult(node, task["name"], True, True, 0, hit, key)
        return self._execute(template, task["name"], node, node_id, argv, key)

    def _execute(self, template, task_name, node, node_id, argv, key) -> NodeResult:
        retry = template.get("retryStrategy") or {}
        limit = int(retry.get("limit", 0))
        policy = retry.get("retryPolicy", "OnFailure")
        if policy not in {"Always", "OnFailure", "OnError"}:
            raise ManifestFeatureError(
                f"template {template['name']}: retryPolicy {policy!r} is not supported by the local runner"
            )
        backoff = retry.get("backoff") or {}
        base, factor = duration_seconds(backoff.get("duration")), float(backoff.get("factor", 1) or 1)
        max_total = duration_seconds(backoff.get("maxDuration")) or None
        deadline = template.get("activeDeadlineSeconds")
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            call = ContainerCall(
                argv=argv,
                private=_private_paths(template),
                log=self.logs_dir / self.name / f"{node_id}.attempt{attempt}.log",
                timeout=float(deadline) if deadline else None,
            )
            outcome = self.launch(call)
            if outcome.exit_code == 0:
                try:
                    outputs = self._read_outputs(template, call, node)
                except WorkflowFailed as err:
                    return NodeResult(node, task_name, False, False, attempt, key=key, message=str(err))
                finally:
                    call.cleanup()
                self.cache.record(self.name, node_id, key, outputs)
                return NodeResult(node, task_name, True, False, attempt, outputs, key)
            call.cleanup()
            wanted = {"Always": True, "OnFailure": outcome.status == "Failed", "OnError": outcome.status == "Error"}[
                policy
            ]
            again = (
                attempt <= limit
                and wanted
                and retry_expression_allows(
                    retry.get("expression"), status=outcome.status, exit_code=outcome.exit_code
                )
            )
            delay = base * factor ** (attempt - 1)
            if again and max_total is not None and time.monotonic() - started + delay > max_total:
                again = False
            if not again:
                return NodeResult(
                    node, task_name, False, False, attempt, key=key, message=f"{node}: {outcome.describe()}"
                )
            time.sleep(delay)

    def _read_outputs(self, template, call: ContainerCall, node: str) -> dict[str, str]:
        outputs = {}
        for p in _params(template.get("outputs", {}).get("parameters")):
            path = (p.get("valueFrom") or {}).get("path")
            if path is None:
                raise ManifestFeatureError(f"template {template['name']}: output {p['name']!r} needs valueFrom.path")
            local = call.local_path(path)
            if not local.is_file():
                raise WorkflowFailed(f"{node}: output parameter {p['name']!r}: {path} was not written")
            outputs[p["name"]] = local.read_text()
        return outputs

    # -- the DAG --------------------------------------------------------------------------
    def run(self) -> WorkflowResult:
        tasks = {t["name"]: t for t in self.entry["dag"]["tasks"]}
        for t in tasks.values():
            for dep in t.get("dependencies") or []:
                if dep not in tasks:
                    raise ManifestFeatureError(f"task {t['name']!r}: unknown dependency {dep!r}")
        done: dict[str, list[NodeResult]] = {}  # succeeded tasks -> their nodes
        started: dict[str, int] = {}  # task -> number of nodes
        collected: dict[str, list[NodeResult]] = {}
        results: list[NodeResult] = []
        running: dict[Future[NodeResult], str] = {}
        failure = ""

        def finish(name: str) -> None:
            nonlocal failure
            nodes = sorted(collected[name], key=_node_order)
            ok = all(n.ok for n in nodes)
            self.events.task_finished(self.name, name, ok)
            if ok:
                done[name] = nodes
                self._publish(tasks[name], nodes, fan_out="withParam" in tasks[name] or "withItems" in tasks[name])
            else:
                failure = failure or next(n.message for n in nodes if not n.ok)

        def schedule(pool: ThreadPoolExecutor) -> None:
            """Start every task whose dependencies are done, until none is left to start."""
            nonlocal failure
            progressed = True
            while progressed and not failure:
                progressed = False
                for name, task in tasks.items():
                    deps = task.get("dependencies") or []
                    if name in started or any(d not in done for d in deps):
                        continue
                    try:
                        items = _items(task, self.scope)
                    except WorkflowFailed as err:
                        failure = str(err)
                        return
                    nodes = [(None, None)] if items is None else list(enumerate(items))
                    upstream = hashlib.sha256(
                        json.dumps(
                            [[n.key, n.outputs] for d in sorted(deps) for n in done[d]], sort_keys=True
                        ).encode()
                    ).hexdigest()
                    started[name], collected[name], progressed = len(nodes), [], True
                    self.events.task_started(self.name, name, len(nodes))
                    if not nodes:
                        finish(name)
                    for index, item in nodes:
                        running[pool.submit(self._node, task, index, item, upstream)] = name

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="pixelgate-node") as pool:
            try:
                schedule(pool)
                while running:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        result = future.result()
                        results.append(result)
                        collected[name].append(result)
                        self.events.node_finished(self.name, name, result.cached)
                        if len(collected[name]) == started[name]:
                            finish(name)
                    schedule(pool)
            except BaseException:
                terminate_all()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if failure or len(done) != len(tasks):
            return WorkflowResult(self.name, "Failed", {}, results, failure or "not every task ran")
        outputs = {}
        for p in _params(self.entry.get("outputs", {}).get("parameters")):
            ref = (p.get("valueFrom") or {}).get("parameter")
            if ref is None:
                raise ManifestFeatureError(f"dag output {p['name']!r} needs valueFrom.parameter")
            outputs[p["name"]] = substitute(ref, self.scope, f"dag output {p['name']}")
        return WorkflowResult(self.name, "Succeeded", outputs, results)

    def _publish(self, task: dict[str, Any], nodes: list[NodeResult], *, fan_out: bool) -> None:
        template = self.templates[task["template"]]
        for p in _params(template.get("outputs", {}).get("parameters")):
            ref = f"tasks.{task['name']}.outputs.parameters.{p['name']}"
            self.scope[ref] = (
                _aggregate([n.outputs[p["name"]] for n in nodes]) if fan_out else nodes[0].outputs[p["name"]]
            )


def _private_paths(template: dict[str, Any]) -> tuple[str, ...]:
    """The container-local files a template declares (output parameter paths) and their
    folders, except shared roots such as /tmp itself."""
    paths: set[str] = set()
    for p in _params(template.get("outputs", {}).get("parameters")):
        path = (p.get("valueFrom") or {}).get("path")
        if path:
            paths.add(path)
            parent = str(Path(path).parent)
            if parent not in {"/", "/tmp"}:
                paths.add(parent)
    return tuple(sorted(paths))


def _node_order(result: NodeResult) -> tuple[int, str]:
    head, _, rest = result.node.partition("(")
    index = rest.split(":", 1)[0]
    return (int(index) if index.isdigit() else -1, head)


def run_workflow(
    manifest: dict[str, Any],
    *,
    workers: int = 2,
    cache: NodeCache | None = None,
    events: Events | None = None,
    launch: Launcher = launch_subprocess,
    context_digest: str = "",
    logs_dir: Path = Path(".pixelgate/logs"),
) -> WorkflowResult:
    """Run ``manifest``'s entry DAG to completion; a feature outside the subset raises
    :class:`ManifestFeatureError` before any node runs."""
    return _Run(
        manifest,
        workers=workers,
        cache=cache or NodeCache(None),
        events=events or Events(),
        launch=launch,
        context_digest=context_digest,
        logs_dir=Path(logs_dir),
    ).run()
