"""Counts every request the local stack serves, by service action (benchmarks divide by them).

The JSON protocols (SQS, DynamoDB, Cognito Identity) name the action in `X-Amz-Target`, e.g.
`AmazonSQS.ReceiveMessage`; a query-protocol request names it in its `Action` parameter and is
counted as `query.<Action>`.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TypedDict
from urllib.parse import parse_qs
from wsgiref.types import WSGIEnvironment

from consumer.local.wsgi_util import read_body

FORM = "application/x-www-form-urlencoded"


class RequestsJson(TypedDict):
    """The JSON shape of `GET /_local/requests`."""

    total: int
    by_action: dict[str, int]


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


class RequestCounts:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, action: str) -> None:
        with self._lock:
            self._counts[action] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> RequestsJson:
        with self._lock:
            counts = dict(self._counts)
        return {"total": sum(counts.values()), "by_action": dict(sorted(counts.items()))}
