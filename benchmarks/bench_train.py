"""Training throughput: the plain transformers Trainer against DeepSpeed ZeRO-2, same data, same model.

Both runs go through ``pixelgate step train`` (each in its own process, as in a pod) on one
compile output built from real ESConv + CounselChat conversations (tests/train_fixtures.py),
with a GPT-2 built from config and a BPE tokenizer trained on the train shards. Throughput is
``metrics.json``'s tokens_per_second: non-padding tokens trained / wall time of the training
loop (one evaluation at the last step included). On a machine without a GPU both run on CPU
(DeepSpeed with ``DS_ACCELERATOR=cpu`` and gloo); with a GPU both use it.

    .venv/bin/python benchmarks/bench_train.py [--steps 30] [--layers 4] [--width 128] [--seq 256]

The last line is machine-readable JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pixelgate.workflows.store import LocalStore  # noqa: E402
from tests.train_fixtures import build_compile  # noqa: E402


def run(store: Path, work: Path, name: str, spec: dict) -> dict:
    manifest = {
        "apiVersion": "pixelgate.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": spec,
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}
    }
    env.setdefault("DS_ACCELERATOR", "cpu")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pixelgate.workflows.cli",
            "step",
            "train",
            "--spec",
            json.dumps(manifest),
            "--store",
            str(store),
            "--param",
            f"workdir={work}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return json.loads((store / result["metrics_uri"][len(str(store)) + 1 :]).read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        store = Path(tmp) / "store"
        build_compile(
            LocalStore(store),
            args.datasets,
            sizes={"train": (200, 200), "val": (8, 8), "test": (4, 4)},
            shard_size=100,
        )
        base = {
            "compileRun": "stage1",
            "model": {
                "base": "config:"
                + json.dumps({"n_embd": args.width, "n_layer": args.layers, "n_head": max(1, args.width // 64)}),
                "tokenizer": "train:2000",
                "maxSeqLength": args.seq,
            },
            "hyperparameters": {
                "maxSteps": args.steps,
                "batchSize": args.batch,
                "evalSteps": args.steps,
                "learningRate": 0.0005,
            },
        }
        plain = run(store, Path(tmp) / "w1", "plain", base)
        zero2 = run(
            store,
            Path(tmp) / "w2",
            "zero2",
            {**base, "deepspeed": {"zeroStage": 2, "offload": "none", "precision": "fp32"}},
        )
    for label, m in (("plain Trainer", plain), ("DeepSpeed ZeRO-2", zero2)):
        print(
            f"{label:18s} {m['tokens_per_second']:10.1f} tokens/s  {m['train_tokens']} tokens "
            f"in {m['train_seconds']:.1f} s on {m['device']}"
            + (f", peak GPU memory {m['gpu_max_memory_bytes'] / 2**20:.0f} MiB" if m["gpu_max_memory_bytes"] else "")
        )
    ratio = zero2["tokens_per_second"] / plain["tokens_per_second"]
    print(f"ZeRO-2 / plain throughput ratio: {ratio:.2f}")
    print(
        json.dumps(
            {
                "device": plain["device"],
                "plain_tokens_per_second": plain["tokens_per_second"],
                "zero2_tokens_per_second": zero2["tokens_per_second"],
                "ratio": round(ratio, 3),
                "steps": args.steps,
                "layers": args.layers,
                "width": args.width,
                "seq": args.seq,
                "batch": args.batch,
                "zero2_gpu_max_memory_bytes": zero2["gpu_max_memory_bytes"],
                "plain_gpu_max_memory_bytes": plain["gpu_max_memory_bytes"],
            }
        )
    )


if __name__ == "__main__":
    main()
