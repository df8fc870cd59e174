"""Counts every request the local stack serves, by service action (benchmarks divide by them).

The JSON protocols (SQS, DynamoDB, Cognito Identity) name the action in `X-Amz-Target`, e.g.
`AmazonSQS.ReceiveMessage`; a query-protocol request names it in its `Action` parameter and is
counted as `query.<Action>`.

DynamoDB writes are also counted by what they write first (`write_of`): an UpdateItem by the first
clause of its expression, e.g. `UpdateItem SET lock_expires_at = :lock`, so a benchmark can tell
one kind of write from another (a claim from a renewal or a heartbeat) without knowing the items.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import TypedDict
from urllib.parse import parse_qs
from wsgiref.types import WSGIEnvironment

from consumer.local.wsgi_util import read_body

FORM = "application/x-www-form-urlencoded"
DYNAMODB_WRITES = ("PutItem", "UpdateItem", "DeleteItem")


class RequestsJson(TypedDict):
    """The JSON shape of `GET /_local/requests`."""

    total: int
    by_action: dict[str, int]
    dynamodb_writes: dict[str, int]


def action_of(environ: WSGIEnvironment) -> str:
    """`<target prefix>.<operation>` for JSON protocols, `query.<Action>`, or `unknown`."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        prefix, _, operation = target.rpartition(".")
        return f"{prefix.rpartition('.')[2]}.{operation}" if prefix else operation
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    if not query.get("Action") and str(environ.get("CONTENT_TYPE", "")).startswith(FORM):
        query = parse_qs(read_body(environ).decode(errors="replace"))
    actions = query.get("Action")
    return f"query.{actions[-1]}" if actions else "unknown"


def write_of(action: str, environ: WSGIEnvironment) -> str | None:
    """A DynamoDB write's operation and the first clause of its update expression (up to the
    first comma or keyword that follows); None for any other request."""
    operation = action.rpartition(".")[2]
    if not action.startswith("DynamoDB") or operation not in DYNAMODB_WRITES:
        return None
    try:
        params = json.loads(read_body(environ) or b"{}")
    except ValueError:
        return operation
    expression = params.get("UpdateExpression") if isinstance(params, dict) else None
    if not isinstance(expression, str):
        return operation
    first = expression.strip().split(",", 1)[0]
    words = first.split()
    # "SET a = :a REMOVE b": keep the first action and its first clause only.
    kept = [words[0], *(w for w in words[1:4] if w.upper() not in ("REMOVE", "ADD", "DELETE"))]
    return f"{operation} {' '.join(kept)}"


class RequestCounts:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._writes: Counter[str] = Counter()

    def record(self, action: str, write: str | None = None) -> None:
        with self._lock:
            self._counts[action] += 1
            if write is not None:
                self._writes[write] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._writes.clear()

    def snapshot(self) -> RequestsJson:
        with self._lock:
            counts, writes = dict(self._counts), dict(self._writes)
        return {
            "total": sum(counts.values()),
            "by_action": dict(sorted(counts.items())),
            "dynamodb_writes": dict(sorted(writes.items())),
        }
