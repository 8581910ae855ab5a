"""Write a container image as a ``docker save`` tar from files on this machine, without a registry.

    python3 mkimage.py OUT.tar NAME:TAG --entrypoint /pause  /abs/host/file=/path/in/image ...

One layer holding the given files (parents created, mode kept, owner root), a config with the
entrypoint, the user and env given, and the ``manifest.json`` + ``repositories`` that
``ctr images import`` and ``docker load`` read. Output is written to a temporary name and renamed.
Everything is deterministic: mtimes are 0, entries sorted, so the same inputs give the same digest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def _layer(files: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(p) for dest in files for p in Path(dest.lstrip("/")).parents if str(p) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for dest in sorted(files):
            src = files[dest]
            data = src.read_bytes()
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), os.stat(src).st_mode & 0o777, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(out: Path, ref: str, files: dict[str, Path], entrypoint: list[str], user: str, env: list[str]) -> str:
    layer = _layer(files)
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user, "Env": env, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created_by": "tools/testcluster/images/mkimage.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    name, tag = ref.rsplit(":", 1)
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [ref], "Layers": [f"{layer_digest}/layer.tar"]}]
    members = {
        f"{config_digest}.json": config_bytes,
        f"{layer_digest}/layer.tar": layer,
        "manifest.json": json.dumps(manifest).encode(),
        "repositories": json.dumps({name: {tag: layer_digest}}).encode(),
    }
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for member in sorted(members):
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(members[member]), 0o644, 0
            tar.addfile(info, io.BytesIO(members[member]))
    tmp.replace(out)
    return config_digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("ref", help="NAME:TAG")
    parser.add_argument("files", nargs="+", help="HOST_PATH=IMAGE_PATH")
    parser.add_argument("--entrypoint", action="append", required=True)
    parser.add_argument("--user", default="")
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args()
    files = {}
    for spec in args.files:
        host, _, dest = spec.partition("=")
        if not dest.startswith("/"):
            parser.error(f"{spec}: the image path must be absolute (HOST_PATH=/IMAGE_PATH)")
        files[dest] = Path(host)
    print(build(args.out, args.ref, files, args.entrypoint, args.user, args.env))


if __name__ == "__main__":
    main()
