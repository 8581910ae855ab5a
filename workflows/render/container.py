"""The contract of a step container with Argo: the files it leaves for output parameters
(``valueFrom.path``) and the exit code that asks for a retry."""

from __future__ import annotations

import json
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
