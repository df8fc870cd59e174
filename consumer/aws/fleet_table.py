"""The fleet's items in the idempotency table: what a heartbeat costs does not grow with the fleet.

Beside the claims, under the table's own key (``id``), in keys no command key can take (those
start ``id:``, ``effect:`` or ``body:``):

- ``fleet#unlink-quota#m#<worker id>``: one worker's entry (a compact JSON string, ~0.2 KB),
  written by that worker alone at each heartbeat, with a TTL an hour on (``expires_at``) so a
  dead worker's item goes by itself. The leader marks it ``dropped`` when it takes the worker
  for dead: a worker that lives after all reads that in its next write's answer and joins again.
- ``fleet#unlink-quota``: the plan item. The leader's decision and split (``plan``, JSON), its
  author (``by``), its pulse (bumped at each of the leader's writes), the count of joins and
  leaves (``joins``) and of throttles met in probes (``thr``). The leader writes it at each of its
  heartbeats under the condition that it is still the author (taking the lead: that the pulse is
  still the stale one it saw); every other worker reads it, or bumps a count, per heartbeat.
- ``fleet#unlink-quota#roster``: the workers' ids (a string set), written only when a worker
  joins or leaves or the leader drops a dead one; read by the leader once per window, before
  a BatchGetItem of the workers' items (the table has no sort key to query).

The plan item and the roster keep a TTL a day past the last write, so a fleet that is gone
leaves nothing behind while a restarted fleet finds the quota it learned.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeVar

import botocore.exceptions
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from consumer.core.clock import Clock
from consumer.rate.config import Mode, RateConfig
from consumer.rate.laws import Plan, Timeline
from consumer.rate.member import Board, FleetView, MemberEntry, Outbox, PlanRecord

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

FLEET_KEY: Final = "fleet#unlink-quota"  # the plan item
ROSTER_KEY: Final = FLEET_KEY + "#roster"
MEMBER_KEY: Final = FLEET_KEY + "#m#"  # + the worker's id
ITEM_TTL_SECONDS: Final = 24 * 3600
MEMBER_TTL_SECONDS: Final = 3600
BATCH: Final = 100  # keys per BatchGetItem, DynamoDB's most
_SLOTS: Final = RateConfig().slot_history  # the most slots an entry's timeline may carry
_PROBED: Final = RateConfig().probe_history  # the most windows a plan's probe may carry
_ID: Final = re.compile(r"[0-9A-Za-z_.-]{1,64}")  # a worker id, as read back
_COUNT: Final = re.compile(r"[0-9]{1,16}")  # a count, as read back: exact in a float
CONDITION_FAILED: Final = "ConditionalCheckFailedException"

log = structlog.get_logger("consumer.aws.fleet")
W = TypeVar("W", bound=BaseModel)
Ignored = Callable[[str, str], None]


class DynamoFleetTable:
    """`FleetTable` over the idempotency table: GetItem, UpdateItem and BatchGetItem."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Clock) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._ignored: set[str] = set()  # attributes already logged as ignored

    def __repr__(self) -> str:
        return f"DynamoFleetTable(table={self._table!r}, key={FLEET_KEY!r})"

    def _expiry(self, seconds: int) -> dict[str, str]:
        return {"N": str(int(self._clock.time()) + seconds)}

    async def _update(
        self, key: str, expression: str, values: Mapping[str, Any], condition: str | None = None
    ) -> dict[str, Any] | None:
        """One UpdateItem of ``key`` (``:name`` values by name, ``#name`` names as themselves);
        None when ``condition`` does not hold."""
        names = {f"#{n}": n for n in re.findall(r"#(\w+)", f"{expression} {condition or ''}")}
        extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        if condition is not None:
            extra["ConditionExpression"] = condition
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression=expression,
                ExpressionAttributeValues={f":{n}": v for n, v in values.items()},
                ReturnValues="ALL_NEW",
                **extra,
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                return None
            raise
        return response.get("Attributes") or {}

    async def beat(self, entry: MemberEntry, outbox: Outbox) -> Board:
        exp = self._expiry(ITEM_TTL_SECONDS)
        mine = {"entry": entry_value(entry), "exp": self._expiry(MEMBER_TTL_SECONDS)}
        expression = "SET #entry = :entry, expires_at = :exp" + (" REMOVE dropped" * outbox.join)
        own = await self._update(MEMBER_KEY + entry.member, expression, mine) or {}
        if outbox.join:  # onto the roster before the join is counted: the leader reads both
            me = {"SS": [entry.member]}
            await self._update(
                ROSTER_KEY, "ADD ids :me SET expires_at = :exp", {"me": me, "exp": exp}
            )
        if outbox.remove:
            await self._update(
                ROSTER_KEY, "DELETE ids :dead", {"dead": {"SS": list(outbox.remove)}}
            )
            dead = {"yes": {"BOOL": True}, "exp": self._expiry(MEMBER_TTL_SECONDS)}
            for member in outbox.remove:  # told at its next heartbeat, if it lives: it joins again
                await self._update(
                    MEMBER_KEY + member, "SET dropped = :yes, expires_at = :exp", dead
                )
        counts = {
            name: {"N": str(n)}
            for name, n in (("joins", int(outbox.join)), ("thr", outbox.throttles))
            if n
        }
        adds = "".join(f", {name} :{name}" for name in counts)
        item = None
        if (record := outbox.plan) is not None:
            # The author's write while it is the author; a claim while the pulse is the one seen.
            if outbox.claim is None:
                condition, seen = "#by = :me", {}
            else:
                condition = "attribute_not_exists(#by) OR pulse = :seen"
                seen = {"seen": {"N": str(outbox.claim)}}
            expression = f"SET #plan = :plan, #by = :me, expires_at = :exp ADD pulse :one{adds}"
            plan = {"plan": plan_value(record), "me": {"S": record.by}, "one": {"N": "1"}}
            values = {**plan, **seen, **counts, "exp": exp}
            item = await self._update(FLEET_KEY, expression, values, condition)
        if item is None and counts:
            expression = "SET expires_at = :exp ADD " + adds.removeprefix(", ")
            item = await self._update(FLEET_KEY, expression, {**counts, "exp": exp})
        if item is None:
            response = await self._client.get_item(
                TableName=self._table, Key={"id": {"S": FLEET_KEY}}
            )
            item = response.get("Item") or {}
        return replace(parse_board(item, self._ignore), dropped="dropped" in own)

    async def leave(self, member: str) -> None:
        await self._update(ROSTER_KEY, "DELETE ids :me", {"me": {"SS": [member]}})
        exp = self._expiry(ITEM_TTL_SECONDS)  # and the leader splits the rate again at once
        values = {"exp": exp, "one": {"N": "1"}}
        await self._update(FLEET_KEY, "SET expires_at = :exp ADD joins :one", values)

    async def read(self) -> FleetView:
        """Every worker on the roster and the plan: the leader's once per window."""
        roster = await self._client.get_item(
            TableName=self._table, Key={"id": {"S": ROSTER_KEY}}, ConsistentRead=True
        )
        ids = _ids((roster.get("Item") or {}).get("ids"), self._ignore)
        members: dict[str, MemberEntry] = {}
        for start in range(0, len(ids), BATCH):
            keys = [{"id": {"S": MEMBER_KEY + m}} for m in ids[start : start + BATCH]]
            for item in await self._batch_get(keys):
                entry = parse_entry(item, self._ignore)
                if entry is not None:
                    members[entry.member] = entry
        response = await self._client.get_item(
            TableName=self._table, Key={"id": {"S": FLEET_KEY}}, ConsistentRead=True
        )
        return FleetView(members, parse_board(response.get("Item") or {}, self._ignore).plan)

    async def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of ``keys``, asking again for those DynamoDB left unprocessed."""
        items: list[dict[str, Any]] = []
        request: Mapping[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(5):  # a few rounds; a worker left out is counted at the next window
            response = await self._client.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        return items

    def _ignore(self, name: str, why: str) -> None:
        """Logs an attribute that does not parse once, not at every heartbeat."""
        if name not in self._ignored:
            self._ignored.add(name)
            log.warning("fleet_entry_ignored", attribute=name, why=why)


def _n(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else -1.0


def _string(fields: Mapping[str, Any]) -> dict[str, str]:
    return {"S": json.dumps(fields, separators=(",", ":"))}


def entry_value(entry: MemberEntry) -> dict[str, str]:
    """A worker's entry as one string attribute: a map of ten numbers costs more to write and
    to parse, for the same bytes."""
    return _string(
        {
            "host": entry.host,
            "started": _n(entry.started),
            "at": _n(entry.at),
            "seq": entry.seq,
            "ok": entry.successes,
            "thr": entry.throttles,
            "want": _n(entry.want),  # -1: unbounded
            "share": entry.share,
            "ok1m": entry.recent_successes,
            "thr1m": entry.recent_throttles,
            # while the fleet starts: the first slot, then each slot's successes
            **({"tl": [t.first, *t.counts]} if (t := entry.timeline) is not None else {}),
        }
    )


def plan_value(record: PlanRecord) -> dict[str, str]:
    plan = record.plan
    return _string(
        {
            "rate": _n(plan.rate),
            "estimate": plan.estimate,
            "mode": plan.mode,
            "window": plan.window,
            "quiet": _n(plan.quiet_seconds),
            "step": _n(plan.step),
            "probing": plan.probing,
            "probed": [[_n(calls), _n(seconds)] for calls, seconds in plan.probed],
            "fresh": plan.fresh,
            "at": record.at,
            "level": _n(record.level),  # -1: unbounded
            "workers": record.workers,
            "counted": record.counted,
        }
    )


# What a value read from the table may be: written by any worker of any version, or by anyone
# with access to the table, so nothing in it is trusted (a NaN want, an infinite seq, a string
# where a number goes). Bounds far past any real fleet's, that keep every sum finite.
Count = Annotated[int, Field(ge=0, le=2**53)]  # exact as a JSON number
Rate = Annotated[float, Field(ge=0.0, le=1e6)]  # calls/s: far above any Cognito quota
Seconds = Annotated[float, Field(ge=0.0, le=1e11)]  # epoch seconds or spans: till year 5138
Want = Annotated[float, Field(ge=-1.0, le=1e6)]  # -1: unbounded
_WIRE = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True)


class _EntryWire(BaseModel):
    model_config = _WIRE

    host: str = Field(max_length=255)
    started: Seconds
    at: Seconds
    seq: Count
    ok: Count
    thr: Count
    want: Want
    share: Rate | None
    ok1m: Count
    thr1m: Count
    tl: list[Count] | None = Field(default=None, min_length=1, max_length=1 + _SLOTS)


class _PlanWire(BaseModel):
    model_config = _WIRE

    rate: Rate
    estimate: Rate | None
    mode: Mode
    window: Count
    quiet: Seconds
    step: Rate
    probing: Count
    probed: list[tuple[Count | Rate, Seconds]] = Field(max_length=_PROBED)
    fresh: bool
    at: Seconds
    level: Want
    workers: Count
    counted: Count


def parse_entry(item: Mapping[str, Any], ignored: Ignored | None = None) -> MemberEntry | None:
    """A worker's item as a `MemberEntry`; None (and ``ignored`` told the field at fault, never
    the value) when it is not what a worker writes."""
    key = item.get("id", {}).get("S") if isinstance(item.get("id"), dict) else None
    member = key.removeprefix(MEMBER_KEY) if isinstance(key, str) else ""
    if not _ID.fullmatch(member) or not str(key).startswith(MEMBER_KEY):
        _tell(ignored, "id", "not a worker's key")
        return None
    wire = _read(_EntryWire, MEMBER_KEY + member, item.get("entry"), ignored)
    if wire is None:
        return None
    return MemberEntry(
        member=member,
        host=wire.host,
        started=wire.started,
        at=wire.at,
        seq=wire.seq,
        successes=wire.ok,
        throttles=wire.thr,
        want=math.inf if wire.want < 0 else wire.want,
        share=wire.share,
        recent_successes=wire.ok1m,
        recent_throttles=wire.thr1m,
        timeline=None if wire.tl is None else Timeline(wire.tl[0], tuple(wire.tl[1:])),
    )


def parse_board(item: Mapping[str, Any], ignored: Ignored | None = None) -> Board:
    """The plan item as a `Board`: a value that is not what a worker writes is left out."""
    plan = None
    wire = _read(_PlanWire, "plan", item["plan"], ignored) if "plan" in item else None
    by = item.get("by", {}).get("S") if isinstance(item.get("by"), dict) else None
    if wire is not None and not (isinstance(by, str) and _ID.fullmatch(by)):
        _tell(ignored, "by", "not a worker id")
    elif wire is not None and isinstance(by, str):
        plan = PlanRecord(
            Plan(
                rate=wire.rate,
                estimate=wire.estimate,
                mode=wire.mode,
                window=wire.window,
                quiet_seconds=wire.quiet,
                step=wire.step,
                probing=wire.probing,
                probed=tuple((float(calls), seconds) for calls, seconds in wire.probed),
                fresh=wire.fresh,
            ),
            wire.at,
            by,
            level=math.inf if wire.level < 0 else wire.level,
            workers=wire.workers,
            counted=wire.counted,
        )
    pulse, joins, throttles = (_count(item, name, ignored) for name in ("pulse", "joins", "thr"))
    return Board(plan, pulse, joins, throttles)


def _count(item: Mapping[str, Any], name: str, ignored: Ignored | None) -> int:
    value = item.get(name)
    if value is None:
        return 0
    text = value.get("N") if isinstance(value, dict) else None
    if isinstance(text, str) and _COUNT.fullmatch(text):
        return int(text)
    _tell(ignored, name, "not a count")
    return 0


def _ids(value: Any, ignored: Ignored | None) -> list[str]:
    ids = value.get("SS") if isinstance(value, dict) else []
    if not isinstance(ids, list):
        ids = []
    good = sorted(m for m in ids if isinstance(m, str) and _ID.fullmatch(m))
    if len(good) != len(ids):
        _tell(ignored, "ids", "not a worker id")
    return good


def _read(model: type[W], name: str, value: Any, ignored: Ignored | None) -> W | None:
    text = value.get("S") if isinstance(value, dict) else None
    try:
        if not isinstance(text, str):
            raise TypeError("not a string attribute")
        return model.model_validate_json(text)
    except (ValidationError, TypeError) as exc:
        _tell(ignored, name, _why(exc))
        return None


def _tell(ignored: Ignored | None, name: str, why: str) -> None:
    if ignored is not None:
        ignored(name, why)


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        return f"{'.'.join(str(part) for part in first['loc']) or 'value'}: {first['type']}"
    return str(exc)
