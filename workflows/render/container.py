"""The contract of a step container with Argo: the files it leaves for output parameters
(``valueFrom.path``), the exit code that asks for a retry, and the termination message that
carries a bad-input error to the resource's status (Argo copies a failed container's
termination message into its node's message, which the operator shows in ``failedNodes``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

# EX_TEMPFAIL: "try me again". The templates' retryStrategy retries this code (and Argo's own
# infrastructure errors) and nothing else: a bug or bad input fails at once.
TRANSIENT_EXIT_CODE = 75


def write_output_fields(result: BaseModel, out_dir: Path) -> list[Path]:
    """Write each top-level field of ``result`` to ``out_dir/<field>``: strings as they are,
    everything else as JSON (so a list of shard indices is ready for ``withParam``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, value in result.model_dump(mode="json").items():
        path = out_dir / key
        path.write_text(value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        written.append(path)
    return written


# Kubernetes' default terminationMessagePath; the rendered templates keep it (and the policy File).
TERMINATION_LOG = "/dev/termination-log"
_TERMINATION_LIMIT = 4096  # the kubelet keeps at most 4 KiB of it


def write_termination_message(message: str) -> bool:
    """Write ``message`` where the kubelet reads a container's termination message
    (``$PIXELGATE_TERMINATION_LOG``, else :data:`TERMINATION_LOG` when it exists, as in a pod).
    Returns whether it was written; outside a pod there is nothing to write to."""
    path = Path(os.environ.get("PIXELGATE_TERMINATION_LOG") or TERMINATION_LOG)
    if "PIXELGATE_TERMINATION_LOG" not in os.environ and not path.exists():
        return False
    try:
        path.write_bytes(message.encode()[:_TERMINATION_LIMIT])
    except OSError:
        return False
    return True


def is_transient(error: BaseException) -> bool:
    """Errors a retry can fix: lost or refused connections and timeouts (local or S3)."""
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import ReadTimeoutError
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    return isinstance(error, (BotoConnectionError, ReadTimeoutError))
