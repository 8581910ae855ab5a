"""Argo workflow status for the operator tests, built from what we really render.

The fast operator tests cannot run Argo, so they write a workflow's ``status`` themselves. To keep
them honest, every node here comes from the rendered manifest: one pod node per DAG task (per item
of a fan-out), named and templated as Argo names them (``templateName`` = the task's template,
``displayName`` = the task name, ``task(i:item)`` for fan-out items), with the step's result as the
node's output parameter ``result``, as Argo records it, and the nodes linked by ``children`` along
the DAG's dependencies (Argo's UI draws the graph from them). A task the manifest does not have
cannot be given a phase: the helper raises, so a test cannot invent a template.
"""

from __future__ import annotations

import json
from typing import Any


def _dag(manifest: dict[str, Any]) -> dict[str, Any]:
    spec = manifest["spec"]
    return next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])


def task_templates(manifest: dict[str, Any]) -> dict[str, str]:
    """Task name -> template name, in DAG order."""
    return {t["name"]: t["template"] for t in _dag(manifest)["dag"]["tasks"]}


def _item_param(manifest: dict[str, Any], template: str) -> str:
    spec = next(t for t in manifest["spec"]["templates"] if t["name"] == template)
    return spec["inputs"]["parameters"][0]["name"]


def workflow_status(
    manifest: dict[str, Any],
    phase: str,
    tasks: dict[str, str],
    *,
    results: dict[str, dict[str, Any]] | None = None,
    items: dict[str, int] | None = None,
    messages: dict[str, str] | None = None,
    progress: str | None = None,
    node_progress: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A ``status`` for the workflow ``manifest``: ``tasks`` maps task name -> node phase (tasks not
    given have not started), ``results`` task -> the step's JSON result on its (first) pod,
    ``items`` task -> how many pods a fan-out task has (default 1), ``node_progress`` task -> what
    the step wrote to Argo's progress file. Task ``i`` (in ``tasks`` order) starts at minute ``i``,
    its pod ``j`` at second ``j + 1``."""
    templates = task_templates(manifest)
    unknown = set(tasks) - set(templates)
    assert not unknown, f"tasks {sorted(unknown)} are not in the rendered workflow (it has {list(templates)})"
    name = manifest["metadata"]["name"]
    nodes: dict[str, dict[str, Any]] = {
        name: {
            "id": name,
            "name": name,
            "displayName": name,
            "type": "DAG",
            "templateName": _dag(manifest)["name"],
            "phase": phase,
        }
    }
    by_task: dict[str, list[str]] = {}  # task -> its nodes' ids
    for order, (task, node_phase) in enumerate(tasks.items()):
        count = (items or {}).get(task, 1)
        fanned = any(
            t["name"] == task and ("withParam" in t or "withItems" in t) for t in _dag(manifest)["dag"]["tasks"]
        )
        for i in range(count):
            display = f"{task}({i}:{i})" if fanned else task
            node_id = f"{name}-{order:02d}{i:04d}"
            node: dict[str, Any] = {
                "id": node_id,
                "name": f"{name}.{display}",
                "displayName": display,
                "type": "Pod",
                "templateName": templates[task],
                "phase": node_phase,
                "startedAt": f"2026-01-01T00:{order:02d}:{min(i + 1, 59):02d}Z",
                "boundaryID": name,
            }
            if node_phase in ("Succeeded", "Failed", "Error"):
                node["finishedAt"] = f"2026-01-01T00:{order:02d}:{min(i + 1, 59):02d}Z"
            if (node_progress or {}).get(task):
                node["progress"] = node_progress[task]
            if (messages or {}).get(task):
                node["message"] = messages[task]
            if fanned:
                node["inputs"] = {"parameters": [{"name": _item_param(manifest, templates[task]), "value": str(i)}]}
            if node_phase == "Succeeded" and i == 0 and task in (results or {}):
                node["outputs"] = {"parameters": [{"name": "result", "value": json.dumps(results[task])}]}
            nodes[node_id] = node
            by_task.setdefault(task, []).append(node_id)
    _link_children(manifest, nodes, by_task)
    status: dict[str, Any] = {"phase": phase, "startedAt": "2026-01-01T00:00:00Z", "nodes": nodes}
    if phase in ("Succeeded", "Failed", "Error"):
        status["finishedAt"] = "2026-01-01T00:10:00Z"
    if progress:
        status["progress"] = progress
    return status


def _link_children(manifest: dict[str, Any], nodes: dict[str, dict[str, Any]], by_task: dict[str, list[str]]) -> None:
    """Argo's ``children`` edges (the UI draws the DAG from them): the DAG node's children are the
    nodes of the started tasks that depend on nothing, a task's nodes' children the nodes of the
    started tasks that depend on it."""
    dag_tasks = _dag(manifest)["dag"]["tasks"]
    assert not any("depends" in t for t in dag_tasks), "only `dependencies` lists are modelled, not `depends`"
    after = {t["name"]: t.get("dependencies") or [] for t in dag_tasks}
    started = list(by_task)
    name = manifest["metadata"]["name"]
    roots = [node_id for task in started if not after[task] for node_id in by_task[task]]
    if roots:
        nodes[name]["children"] = roots
    for task in started:
        dependents = [node_id for other in started if task in after[other] for node_id in by_task[other]]
        for node_id in by_task[task]:
            if dependents:
                nodes[node_id]["children"] = dependents


def with_status(manifest: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**manifest, "status": status}
