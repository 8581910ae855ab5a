"""Start a real test server by hand and keep it running until Ctrl-C.

python -m tests.cluster up kube [--no-controller-manager]
python -m tests.cluster up s3 [--bucket NAME]
python -m tests.cluster up prometheus --target 127.0.0.1:8000 [--target ...]
python -m tests.cluster tools          # which tools are built, and where
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from . import tools


def _wait_forever(server) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("\nrunning; press Ctrl-C to stop", flush=True)
    while not stop.wait(1.0):
        proc = getattr(server, "process", None) or getattr(server, "apiserver", None)
        if proc is not None and not proc.alive():
            print(f"{proc.name} exited ({proc.proc.returncode}); log tail:\n{proc.log_tail()}", file=sys.stderr)
            break


def _up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=f"pixelgate-{args.server}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        if args.server == "kube":
            from .kube import KubeCluster

            server = KubeCluster(workdir, with_controller_manager=not args.no_controller_manager).start()
            info = server.info()
            print(f"kube-apiserver {info['version']} at {info['server']}")
            print(f"kube-controller-manager: {info['controller_manager']}")
            print(f"export KUBECONFIG={info['kubeconfig']}")
        elif args.server == "s3":
            from .s3 import S3Server

            server = S3Server(workdir).start(bucket=args.bucket)
            for key, value in server.info().items():
                print(f"{key}: {value}")
            for key, value in server.env().items():
                print(f"export {key}={value}")
        else:
            from .prometheus import PrometheusServer, prometheus_version

            if not args.target:
                print("prometheus needs at least one --target host:port", file=sys.stderr)
                return 2
            server = PrometheusServer(workdir, list(args.target)).start()
            print(prometheus_version())
            print(f"url: {server.url}")
            print(f"config: {server.config_path}")
        print(f"logs and data: {workdir}")
        _wait_forever(server)
        return 0
    except tools.ToolMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _tools(_: argparse.Namespace) -> int:
    print(f"cache: {tools.tools_dir()}")
    ok = True
    for name in tools.TOOL_NAMES:
        try:
            print(f"  {name:24} {tools.tool_version(name):10} {tools.tool_path(name)}")
        except tools.ToolMissing as exc:
            ok = False
            print(f"  {name:24} MISSING: {exc}")
    for name in ("prometheus", "promtool", "rclone", "chromium"):
        try:
            print(f"  {name:24} {'(debian)':10} {tools.system_tool(name)}")
        except tools.ToolMissing as exc:
            ok = False
            print(f"  {name:24} MISSING: {exc}")
    try:
        print(f"  {'argo CRDs':24} {'':10} {tools.argo_crds_dir()}")
    except tools.ToolMissing as exc:
        ok = False
        print(f"  {'argo CRDs':24} MISSING: {exc}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a server and wait for Ctrl-C")
    up.add_argument("server", choices=["kube", "s3", "prometheus"])
    up.add_argument("--workdir", help="keep logs/data here (default: a temp dir removed on exit)")
    up.add_argument("--keep", action="store_true", help="do not delete the temp dir on exit")
    up.add_argument("--no-controller-manager", action="store_true", help="kube: start only etcd + kube-apiserver")
    up.add_argument("--bucket", help="s3: name of the bucket to create")
    up.add_argument("--target", action="append", help="prometheus: host:port to scrape (repeatable)")
    up.set_defaults(func=_up)
    sub.add_parser("tools", help="list the built tools").set_defaults(func=_tools)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
