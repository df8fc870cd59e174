"""Idempotency stores: a claim is one conditional write; statuses IN_PROGRESS -> COMPLETED.

A claim succeeds when no record exists, the record has expired, or it is an in-progress lock older
than its expiry (its worker died). A COMPLETED record answers duplicates without calling Cognito.
A record of a command that was dead-lettered can be claimed again by a redriven copy.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from consumer.core.clock import Clock
from consumer.core.errors import StoreUnavailable
from consumer.core.ports import DEAD_LETTERED, Claim, ClaimState

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


@dataclass(slots=True)
class _Record:
    status: str
    owner: str
    lock_expires_at: float
    expires_at: float
    outcome: str | None = None


class MemoryStore:
    """A single process's store: the default when no table is configured."""

    def __init__(self, clock: Clock, ttl_seconds: float) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._owner = uuid.uuid4().hex
        self._records: dict[str, _Record] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(records={len(self._records)}, ttl={self._ttl}s)"

    async def claim(self, key: str, lock_seconds: float, *, redriven: bool = False) -> Claim:
        now = self._clock.time()
        if len(self._records) > 10_000:
            self._records = {k: r for k, r in self._records.items() if r.expires_at > now}
        old = self._records.get(key)
        stale = False
        if old is not None and old.expires_at > now:
            if old.status == "COMPLETED" and not (redriven and old.outcome == DEAD_LETTERED):
                return Claim(ClaimState.COMPLETED, old.outcome)
            if old.status == "IN_PROGRESS":
                if old.lock_expires_at > now:
                    return Claim(ClaimState.IN_PROGRESS)
                stale = True
        self._records[key] = _Record(
            "IN_PROGRESS", self._owner, now + lock_seconds, now + self._ttl
        )
        return Claim(ClaimState.CLAIMED, took_over_stale_lock=stale)

    async def complete(self, key: str, outcome: str) -> None:
        now = self._clock.time()
        self._records[key] = _Record("COMPLETED", self._owner, now, now + self._ttl, outcome)

    async def release(self, key: str) -> None:
        record = self._records.get(key)
        if record is not None and record.status == "IN_PROGRESS":
            del self._records[key]


class DynamoStore:
    """The fleet's shared store: one item per command key, expired by a TTL attribute."""

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

    async def claim(self, key: str, lock_seconds: float, *, redriven: bool = False) -> Claim:
        now = int(self._clock.time())
        condition = (
            "attribute_not_exists(id) OR expires_at < :now"
            " OR (#status = :in_progress AND lock_expires_at < :now)"
        )
        values: dict[str, Any] = {":now": {"N": str(now)}, ":in_progress": {"S": "IN_PROGRESS"}}
        if redriven:
            condition += " OR (#status = :completed AND outcome = :dead)"
            values[":completed"] = {"S": "COMPLETED"}
            values[":dead"] = {"S": DEAD_LETTERED}
        try:
            response = await self._client.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": key},
                    "status": {"S": "IN_PROGRESS"},
                    "owner": {"S": self._owner},
                    "lock_expires_at": {"N": str(now + max(1, int(lock_seconds)))},
                    "expires_at": {"N": str(now + int(self._ttl))},
                },
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise StoreUnavailable(_describe(exc)) from exc
            return await self._existing(key)
        except Exception as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        old = response.get("Attributes") or {}
        stale = old.get("status", {}).get("S") == "IN_PROGRESS"
        return Claim(ClaimState.CLAIMED, took_over_stale_lock=stale)

    async def _existing(self, key: str) -> Claim:
        try:
            response = await self._client.get_item(
                TableName=self._table, Key={"id": {"S": key}}, ConsistentRead=True
            )
        except Exception as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        item = response.get("Item") or {}
        if item.get("status", {}).get("S") == "COMPLETED":
            return Claim(ClaimState.COMPLETED, item.get("outcome", {}).get("S"))
        # In progress elsewhere, or gone between the two calls: either way, try again later.
        return Claim(ClaimState.IN_PROGRESS)

    async def complete(self, key: str, outcome: str) -> None:
        now = int(self._clock.time())
        try:
            await self._client.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": key},
                    "status": {"S": "COMPLETED"},
                    "owner": {"S": self._owner},
                    "outcome": {"S": outcome},
                    "lock_expires_at": {"N": str(now)},
                    "expires_at": {"N": str(now + int(self._ttl))},
                },
            )
        except Exception as exc:
            raise StoreUnavailable(_describe(exc)) from exc

    async def release(self, key: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                ConditionExpression="#owner = :me AND #status = :in_progress",
                ExpressionAttributeNames={"#owner": "owner", "#status": "status"},
                ExpressionAttributeValues={
                    ":me": {"S": self._owner},
                    ":in_progress": {"S": "IN_PROGRESS"},
                },
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return  # someone else's lock now, or already gone: nothing of ours to release
            raise StoreUnavailable(_describe(exc)) from exc
        except Exception as exc:
            raise StoreUnavailable(_describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
