"""What ``pixelgate run`` shows: a rich progress bar per DAG task (nodes done of total, how
many came from the cache), and a final ``kubectl get``-like table of every resource."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..api.kinds import KINDS
from .interpreter import Events
from .runner import Outcome

OUTPUTS = ["report_uri", "manifest_uri", "eval_report_uri", "output_uri"]


class RichEvents(Events):
    def __init__(self, console: Console):
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[cached]} cached"),
            TimeElapsedColumn(),
            console=console,
        )
        self.bars: dict[tuple[str, str], Any] = {}
        self.cached: dict[tuple[str, str], int] = {}

    def __enter__(self) -> "RichEvents":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def task_started(self, workflow: str, task: str, total: int) -> None:
        self.cached[(workflow, task)] = 0
        self.bars[(workflow, task)] = self.progress.add_task(f"{workflow} {task}", total=total, cached=0)

    def node_finished(self, workflow: str, task: str, cached: bool) -> None:
        self.cached[(workflow, task)] += cached
        self.progress.update(self.bars[(workflow, task)], advance=1, cached=self.cached[(workflow, task)])

    def task_finished(self, workflow: str, task: str, ok: bool) -> None:
        bar = self.bars[(workflow, task)]
        if not ok:
            self.progress.update(bar, description=f"[red]{workflow} {task} failed")
        self.progress.stop_task(bar)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return " ".join(f"{k}={_fmt(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def status_table(outcomes: list[Outcome]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("KIND", "NAME", "PHASE", "FIGURES", "OUTPUT"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        figures = [
            f"{label}={_fmt(getattr(o.status, field))}"
            for label, field in KINDS[o.kind].figures
            if getattr(o.status, field, None) not in (None, {}, [])
        ]
        if o.workflow is not None:
            figures.append(f"cached={o.workflow.cached_nodes}/{len(o.workflow.nodes)}")
        output = next((getattr(o.status, f) for f in OUTPUTS if getattr(o.status, f, None)), "")
        problem = next((c.message for c in o.status.conditions if c.status != "True" and c.message), "")
        phase_style = "green" if o.phase == KINDS[o.kind].done_phase else "red" if o.phase == "Failed" else "yellow"
        table.add_row(o.kind, o.name, f"[{phase_style}]{o.phase}[/]", " ".join(figures), output or problem)
    return table
