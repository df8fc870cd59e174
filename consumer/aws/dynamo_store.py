"""The fleet's idempotency store: one DynamoDB item per command key, expired by a TTL attribute.

Every change is one conditional UpdateItem, so workers that share the table never overwrite each
other (a stale lock is taken over by a second one, after the claim's failed and a read). An item
moves IN_PROGRESS (a worker's lock) -> OPEN (released, keeping the worker's counts and evidence
for the next attempt) -> IN_PROGRESS ... -> COMPLETED (applied). COMPLETED is final: no release,
renewal or claim touches it until it expires, so a late writer can never turn an applied command
back into one that runs again. A dead-lettered command's item is OPEN, so whatever brings it
back (a resend, any redrive) runs it. An item written as COMPLETED `dead_lettered` by an earlier
version is claimable too.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from consumer.core.clock import Clock
from consumer.core.errors import StoreUnavailable
from consumer.core.ports import ABSORBING, DEAD_LETTERED, NO_HISTORY, Claim, ClaimState, History

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

IN_PROGRESS = "IN_PROGRESS"
OPEN = "OPEN"
COMPLETED = "COMPLETED"
CONDITION_FAILED = "ConditionalCheckFailedException"
NAMES = {"#status": "status", "#owner": "owner"}


class DynamoStore:
    """`IdempotencyStore` on a table keyed by `id` with a TTL on `expires_at`."""

    def __init__(
        self, client: DynamoDBClient, table: str, clock: Clock, ttl_seconds: float
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._ttl = ttl_seconds
        self._owner = uuid.uuid4().hex

    def __repr__(self) -> str:
        return f"DynamoStore(table={self._table!r}, ttl={self._ttl}s)"

    async def claim(self, key: str, lock_seconds: float) -> Claim:
        now = self._clock.time()
        # Each claim is told apart by its own token: botocore tries a write again when its
        # answer is lost, and the retry meets the lock the first try took.
        token = uuid.uuid4().hex
        # A live or stale lock fails this; a stale one is then taken over on its own (below).
        condition = (
            "attribute_not_exists(id) OR expires_at < :now OR #status = :open"
            " OR (#status = :completed AND outcome = :dead)"
        )
        response = await self._conditional(
            key,
            "SET #status = :in_progress, #owner = :me, claim_token = :claim, claimed_at = :now,"
            " lock_expires_at = :lock, expires_at = :expires",
            condition,
            {
                **self._lock_values(now, lock_seconds),
                ":claim": {"S": token},
                ":in_progress": {"S": IN_PROGRESS},
                ":open": {"S": OPEN},
                ":completed": {"S": COMPLETED},
                ":dead": {"S": DEAD_LETTERED},
            },
            ReturnValues="ALL_OLD",
        )
        if response is None:
            return await self._existing(key, now, lock_seconds, token)
        old = response.get("Attributes") or {}
        if not old or _num(old, "expires_at", 0.0) < now:
            return Claim(ClaimState.CLAIMED)
        return Claim(ClaimState.CLAIMED, history=_history(old))

    def _lock_values(self, now: float, lock_seconds: float) -> dict[str, Any]:
        return {
            ":now": _n(now),
            ":lock": _n(now + max(1.0, lock_seconds)),
            ":expires": _n(int(now + self._ttl)),
            ":me": {"S": self._owner},
        }

    async def _existing(self, key: str, now: float, lock_seconds: float, token: str) -> Claim:
        try:
            response = await self._client.get_item(
                TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True
            )
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        item = response.get("Item") or {}
        outcome = _str(item, "outcome")
        if _str(item, "status") == COMPLETED and outcome in ABSORBING:
            return Claim(ClaimState.COMPLETED, outcome)
        if _str(item, "status") == IN_PROGRESS and _str(item, "claim_token") == token:
            # This claim's own lock: its first try landed and lost its answer. What the item
            # held before is gone but for the counts and evidence the claim kept.
            return Claim(ClaimState.CLAIMED, history=_history(item))
        if _str(item, "status") == IN_PROGRESS and _num(item, "lock_expires_at", now) < now:
            return await self._take_over(key, item, now, lock_seconds)
        # In progress elsewhere, or changed between the two calls: either way, try again later.
        return Claim(ClaimState.IN_PROGRESS)

    async def _take_over(
        self, key: str, seen: dict[str, Any], now: float, lock_seconds: float
    ) -> Claim:
        """Takes over the stale lock ``seen``: its worker died holding it, its call may have gone
        out and the answer is lost. The time it was claimed becomes our lock's evidence in the
        same write (unless an earlier one is there already): should this worker die too before
        another write, the next one still knows when the first uncertain attempt went out."""
        claimed_at = _num(seen, "claimed_at", _num(seen, "lock_expires_at", now) - lock_seconds)
        values = {
            **self._lock_values(now, lock_seconds),
            ":in_progress": {"S": IN_PROGRESS},
            ":since": _n(claimed_at),
            ":claim": {"S": uuid.uuid4().hex},
        }
        if "claimed_at" in seen:
            same = "claimed_at = :seen"
            values[":seen"] = seen["claimed_at"]
        else:
            same = "attribute_not_exists(claimed_at)"
        taken = await self._conditional(
            key,
            "SET uncertain_since = if_not_exists(uncertain_since, :since),"
            " first_seen = if_not_exists(first_seen, :since), #owner = :me,"
            " claim_token = :claim, claimed_at = :now, lock_expires_at = :lock,"
            " expires_at = :expires",
            f"#status = :in_progress AND lock_expires_at < :now AND {same}",
            values,
        )
        if taken is None:
            return Claim(ClaimState.IN_PROGRESS)  # taken over or renewed meanwhile
        history = _history(seen)
        since = min(history.uncertain_since or claimed_at, claimed_at)
        history = History(history.failures, history.throttles, since, history.first_seen or since)
        return Claim(ClaimState.CLAIMED, took_over_stale_lock=True, history=history)

    async def renew(self, key: str, lock_seconds: float) -> bool:
        now = self._clock.time()
        return await self._update_own(
            key, "SET lock_expires_at = :lock", {":lock": _n(now + max(1.0, lock_seconds))}
        )

    async def complete(self, key: str, outcome: str) -> None:
        now = self._clock.time()
        try:
            await self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression=(
                    "SET #status = :completed, #owner = :me, outcome = :outcome,"
                    " lock_expires_at = :now, expires_at = :expires"
                    " REMOVE failures, throttles, uncertain_since, first_seen"
                ),
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={
                    ":completed": {"S": COMPLETED},
                    ":me": {"S": self._owner},
                    ":outcome": {"S": outcome},
                    ":now": _n(now),
                    ":expires": _n(int(now + self._ttl)),
                },
            )
        except Exception as exc:
            raise StoreUnavailable(_describe(exc)) from exc

    async def release(
        self, key: str, history: History = NO_HISTORY, outcome: str | None = None
    ) -> None:
        now = self._clock.time()
        values: dict[str, Any] = {
            ":open": {"S": OPEN},
            ":now": _n(now),
            ":failures": _n(history.failures),
            ":throttles": _n(history.throttles),
        }
        sets = ["#status = :open", "lock_expires_at = :now", "failures = :failures"]
        sets.append("throttles = :throttles")
        removes = []
        if outcome is not None:
            sets.append("outcome = :outcome")
            values[":outcome"] = {"S": outcome}
        for name, value in (
            ("uncertain_since", history.uncertain_since),
            ("first_seen", history.first_seen),
        ):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = _n(value)
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        await self._update_own(key, update, values)

    async def _update_own(self, key: str, update: str, values: dict[str, Any]) -> bool:
        """An update of our own live lock; False when the item is not that any more (another
        worker's lock, OPEN, COMPLETED or gone): nothing of ours to change."""
        own = {**values, ":me": {"S": self._owner}, ":in_progress": {"S": IN_PROGRESS}}
        condition = "#owner = :me AND #status = :in_progress"
        return await self._conditional(key, update, condition, own) is not None

    async def _conditional(
        self, key: str, update: str, condition: str, values: dict[str, Any], **extra: Any
    ) -> dict[str, Any] | None:
        """One conditional UpdateItem of ``key``'s item: its answer, or None when the condition
        failed; any other failure is the store's (`StoreUnavailable`)."""
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues=values,
                **extra,
            )
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == CONDITION_FAILED:
                return None
            raise StoreUnavailable(_code(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return dict(response)


def _history(item: dict[str, Any]) -> History:
    since = item.get("uncertain_since")
    first = item.get("first_seen")
    return History(
        failures=int(_num(item, "failures", 0)),
        throttles=int(_num(item, "throttles", 0)),
        uncertain_since=float(since["N"]) if since is not None else None,
        first_seen=float(first["N"]) if first is not None else None,
    )


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 3)) if isinstance(value, float) else str(value)}


def _num(item: dict[str, Any], name: str, default: float) -> float:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else default


def _str(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "ClientError"))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return _code(exc)
    return type(exc).__name__
