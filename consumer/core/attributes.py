"""The message attributes the worker writes on the copies it re-enqueues and dead-letters."""

from __future__ import annotations

# Message attributes the worker reads and writes; SQS allows ten per message.
ATTEMPTS = "unlink-attempts"
THROTTLES = "unlink-throttles"
DEFERRALS = "unlink-deferrals"
FIRST_SEEN = "unlink-first-seen"
SOURCE_ID = "unlink-source-message-id"
LAST_ERROR = "unlink-last-error"
REASON = "unlink-reason"
DETAIL = "unlink-detail"
REDRIVEN = "unlink-redriven"
OWN_ATTRIBUTES = frozenset(
    {ATTEMPTS, THROTTLES, DEFERRALS, FIRST_SEEN, SOURCE_ID, LAST_ERROR, REASON, DETAIL, REDRIVEN}
)
MAX_ATTRIBUTES = 10
