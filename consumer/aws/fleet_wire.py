"""The fleet's items as DynamoDB holds them: their keys, the encoding of an entry and of the plan,
and the strict reading of both (nothing read from the table is trusted).

Each entry and the plan is one compact JSON string attribute: a map of ten numbers costs more to
write and to parse, for the same bytes. Reading back, a value that is not what a worker writes is
left out, and the caller told the field at fault (never the value).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from consumer.rate.config import Mode, RateConfig
from consumer.rate.laws import Plan, Timeline
from consumer.rate.member import Board, MemberEntry, PlanRecord

FLEET_KEY: Final = "fleet#unlink-quota"  # the plan item
ROSTER_KEY: Final = FLEET_KEY + "#roster"
MEMBER_KEY: Final = FLEET_KEY + "#m#"  # + the worker's id
_SLOTS: Final = RateConfig().slot_history  # the most slots an entry's timeline may carry
_PROBED: Final = RateConfig().probe_history  # the most windows a plan's probe may carry
_ID: Final = re.compile(r"[0-9A-Za-z_.-]{1,64}")  # a worker id, as read back
_COUNT: Final = re.compile(r"[0-9]{1,16}")  # a count, as read back: exact in a float

W = TypeVar("W", bound=BaseModel)
Ignored = Callable[[str, str], None]


def _n(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else -1.0


def _string(fields: Mapping[str, Any]) -> dict[str, str]:
    return {"S": json.dumps(fields, separators=(",", ":"))}


def entry_value(entry: MemberEntry) -> dict[str, str]:
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
            "dry": plan.dry,
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
    dry: bool = False  # absent from a plan written before it
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
                dry=wire.dry,
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


def parse_ids(value: Any, ignored: Ignored | None = None) -> list[str]:
    """The roster's worker ids that are ids, sorted."""
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
