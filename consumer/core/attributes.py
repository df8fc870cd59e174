"""The worker's message attributes: the one place that reads and writes `unlink-*`.

A message carries its story in attributes across re-enqueues and into the DLQ: how many attempts
it has spent (per budget), when the command was first seen, the id of the producer's original
message, and on a DLQ copy why it is there. This module is the codec for all of it; the router,
the processor and the DLQ tools call it, and the counting rules live in `_attempts` alone.

What a number means, defined once:
- a retry copy carries each budget's count *including* the attempt that just failed (the
  `Retry` outcome already holds those counts), so the next receive reads "attempts so far";
- a DLQ copy carries one number, every attempt made *including* the final one
  (`dead_letter_attempts`); a `DeadLetter` holds the counts before its final attempt.

SQS allows ten attributes per message: ours come first, the producer's fill what room is left.
Decoding never raises: a value the worker did not write (missing, not a count, not a time) reads
as absent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from consumer.core.messages import Message
from consumer.core.outcomes import Attempts, DeadLetter, Retry

# The attribute names, as they appear on the wire.
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
MAX_ATTRIBUTES = 10  # SQS's limit per message
# What goes first when a copy would not fit its queue's size limit: the least needed last.
KEEP_ORDER = (REASON, REDRIVEN, FIRST_SEEN, DEFERRALS, ATTEMPTS, THROTTLES, SOURCE_ID, LAST_ERROR)
MAX_DETAIL = 512  # a DLQ reason's explanation, cut to stay well inside the message size


@dataclass(frozen=True, slots=True)
class Carried:
    """What the worker's attributes on a received message say, as the worker uses it."""

    attempts: Attempts  # spent before this receive
    first_seen: str | None = None
    source_id: str | None = None
    last_error: str | None = None
    reason: str | None = None  # set on DLQ copies only
    detail: str | None = None
    redriven: bool = False


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """A DLQ copy as people and scripts see it; whatever the message lacks is None."""

    reason: str | None
    detail: str
    attempts: int | None  # every attempt made, the final one included
    first_seen: dt.datetime | None
    source_id: str | None


def read(message: Message, *, fifo: bool = False) -> Carried:
    """Decodes the worker's attributes of a received message."""
    attrs = message.attributes
    return Carried(
        attempts=_attempts(message, fifo=fifo),
        first_seen=attrs.get(FIRST_SEEN),
        source_id=attrs.get(SOURCE_ID),
        last_error=attrs.get(LAST_ERROR),
        reason=attrs.get(REASON),
        detail=attrs.get(DETAIL),
        redriven=attrs.get(REDRIVEN) == "true",
    )


def _attempts(message: Message, *, fifo: bool) -> Attempts:
    """The counts a message has spent before this receive: the counting rules, in one place.

    On FIFO queues a retry keeps the message (hidden, not re-sent), so its attributes never
    change there: every earlier receive counts as a failed attempt instead.
    """
    attrs = message.attributes
    failures = count(attrs.get(ATTEMPTS)) or 0
    if fifo:
        failures = max(failures, message.receive_count - 1)
    return Attempts(
        failures=failures,
        throttles=count(attrs.get(THROTTLES)) or 0,
        deferrals=count(attrs.get(DEFERRALS)) or 0,
    )


def dead_letter_attempts(attempts: Attempts) -> int:
    """The number a DLQ copy shows: the attempts before the final one, and the final one."""
    return attempts.total + 1


def retry_copy(message: Message, retry: Retry) -> dict[str, str]:
    """The attributes of the delayed copy that carries a retry."""
    ours = {
        ATTEMPTS: str(retry.attempts.failures),
        THROTTLES: str(retry.attempts.throttles),
        DEFERRALS: str(retry.attempts.deferrals),
        LAST_ERROR: retry.error,
        SOURCE_ID: _source_id(message),
        FIRST_SEEN: first_seen(message),
    }
    return within_limit(message, ours)


def dead_letter_copy(message: Message, dead: DeadLetter) -> dict[str, str]:
    """The attributes of the DLQ copy: why it is there, and the story so far."""
    ours = {
        REASON: dead.reason,
        DETAIL: (dead.detail or dead.reason)[:MAX_DETAIL],
        ATTEMPTS: str(dead_letter_attempts(dead.attempts)),
        SOURCE_ID: _source_id(message),
        FIRST_SEEN: first_seen(message),
    }
    return within_limit(message, ours)


def redrive_copy(message: Message) -> dict[str, str]:
    """The attributes of a dead letter sent back to its queue by `dlq redrive`.

    The counts and the dead-letter reason are dropped (a fresh start, once the cause is fixed);
    where the command came from and when it was first seen are kept.
    """
    ours = {REDRIVEN: "true"}
    for kept in (FIRST_SEEN, SOURCE_ID):
        if kept in message.attributes:
            ours[kept] = message.attributes[kept]
    return within_limit(message, ours)


def read_dead_letter(message: Message) -> DeadLetterInfo:
    """Decodes a DLQ copy for `dlq peek`."""
    attrs = message.attributes
    return DeadLetterInfo(
        reason=attrs.get(REASON),
        detail=attrs.get(DETAIL, ""),
        attempts=count(attrs.get(ATTEMPTS)),
        first_seen=parse_time(attrs.get(FIRST_SEEN)),
        source_id=attrs.get(SOURCE_ID),
    )


def within_limit(message: Message, ours: dict[str, str]) -> dict[str, str]:
    """Our attributes plus as many of the producer's own as SQS's ten leave room for.

    The producer's are kept in the order they arrived; the worker's stale ones never carry over.
    """
    theirs = [(k, v) for k, v in message.attributes.items() if k not in OWN_ATTRIBUTES]
    room = max(0, MAX_ATTRIBUTES - len(ours))
    return {**dict(theirs[:room]), **ours}


def size(attributes: dict[str, str]) -> int:
    """Bytes the attributes count against a message's size (name, "String" and value)."""
    return sum(len(k.encode()) + len(v.encode()) + 6 for k, v in attributes.items())


def fit(attributes: dict[str, str], room: int) -> dict[str, str]:
    """The attributes a copy keeps within ``room`` bytes: all of them when they fit.

    A body near its queue's limit leaves little room: the producer's attributes go first, then
    the detail is cut, then ours from the least needed (`KEEP_ORDER`), so a copy always goes out.
    """
    if size(attributes) <= room:
        return attributes
    kept = {k: v for k, v in attributes.items() if k in OWN_ATTRIBUTES}
    if DETAIL in kept:
        without = {k: v for k, v in kept.items() if k != DETAIL}
        spare = room - size(without) - len(DETAIL) - 6
        # Cut on a character boundary: a value is UTF-8 on the wire, and never empty.
        cut = kept[DETAIL].encode()[: max(0, spare)].decode(errors="ignore")
        kept = {**without, DETAIL: cut} if cut else without
    for name in reversed(KEEP_ORDER):
        if size(kept) <= room:
            break
        kept.pop(name, None)
    return kept if size(kept) <= room else {}


def first_seen(message: Message) -> str:
    """When the command was first seen: carried, or the time this message was sent."""
    carried = message.attributes.get(FIRST_SEEN)
    if carried is not None:
        return carried
    return format_time(dt.datetime.fromtimestamp(message.sent_timestamp_ms / 1000, tz=dt.UTC))


def _source_id(message: Message) -> str:
    """The id of the producer's original message, which every copy keeps pointing at."""
    return message.attributes.get(SOURCE_ID, message.message_id)


def count(value: str | None) -> int | None:
    """A count as the worker writes it (ASCII decimal digits); anything else is None."""
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return int(text)
    except ValueError:  # more digits than Python converts: not a count the worker wrote
        return None


def format_time(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, as first-seen is written."""
    utc = moment.astimezone(dt.UTC)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> dt.datetime | None:
    """A written time back as an aware datetime (UTC when it names no zone); None if it is not."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
