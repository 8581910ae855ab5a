"""The body of ``pixelgate run`` (the click command in :mod:`pixelgate.workflows.cli` is a shell)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..api import ManifestError
from ..api.manifests import Item, load_items
from ..store import open_store
from .progress import RichEvents, status_table
from .runner import run_resources
from .subset import ManifestFeatureError


def run_command(paths: list[str], *, store_uri: str | None, workers: int, use_cache: bool, image: str | None) -> int:
    console = Console(stderr=True)
    try:
        items = load_items(paths)
    except (ManifestError, FileNotFoundError, ValueError) as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    return run_items(items, store_uri=store_uri, workers=workers, use_cache=use_cache, image=image)


def run_items(items: list[Item], *, store_uri: str | None, workers: int, use_cache: bool, image: str | None) -> int:
    console = Console(stderr=True)
    store = open_store(store_uri)
    logs = Path(".pixelgate/logs")
    try:
        with RichEvents(console) as events:
            report = run_resources(
                items, store, workers=workers, use_cache=use_cache, events=events, logs_dir=logs, image=image
            )
    except ManifestFeatureError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished steps are recorded; rerun the same command to resume")
        return 130
    out = Console()
    (out if out.is_terminal else Console(width=160)).print(status_table(report.outcomes))
    console.print(f"store: {report.store}  (statuses under status/, step logs under {logs})")
    return 0 if report.ok else 1
