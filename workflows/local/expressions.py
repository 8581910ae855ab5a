"""``{{...}}`` substitution and the retry expressions the builders emit.

Only plain references are understood (``workflow.parameters.X``, ``workflow.name``,
``inputs.parameters.X``, ``tasks.T.outputs.parameters.X``, ``item``); an Argo expression tag
(``{{=...}}``) or an unknown reference is an error.
"""

from __future__ import annotations

import re

from .subset import ManifestFeatureError

_TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def substitute(text: str, scope: dict[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("="):
            raise ManifestFeatureError(
                f"{where}: expression tags ({{{{={ref[1:]}}}}}) are not supported by the local runner"
            )
        if ref not in scope:
            raise ManifestFeatureError(f"{where}: unresolved reference {{{{{ref}}}}}")
        return scope[ref]

    return _TAG.sub(replace, text)


_CLAUSE = [
    (re.compile(r'^lastRetry\.status\s*==\s*"(\w+)"$'), "status"),
    (re.compile(r"^asInt\(lastRetry\.exitCode\)\s*==\s*(-?\d+)$"), "exit"),
]


def retry_expression_allows(expression: str | None, *, status: str, exit_code: int | None) -> bool:
    """Evaluate the retry expressions we emit: ``||`` of ``lastRetry.status == "X"`` and
    ``asInt(lastRetry.exitCode) == N`` clauses. Anything else is a feature error."""
    if not expression:
        return True
    verdict = False
    for clause in expression.split("||"):
        clause = clause.strip()
        for pattern, kind in _CLAUSE:
            match = pattern.match(clause)
            if match:
                verdict |= (status == match.group(1)) if kind == "status" else (exit_code == int(match.group(1)))
                break
        else:
            raise ManifestFeatureError(
                f"retryStrategy.expression: clause {clause!r} is not supported by the local runner"
            )
    return verdict


def duration_seconds(value: str | int | float | None) -> float:
    """Argo durations: a number of seconds, or '15s', '10m', '2h'."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", value.strip())
    if not match:
        raise ManifestFeatureError(f"duration {value!r} is not supported (use e.g. 15s, 10m, 2h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
