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

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import botocore.exceptions
import structlog

from consumer.aws.fleet_wire import (
    FLEET_KEY,
    MEMBER_KEY,
    ROSTER_KEY,
    entry_value,
    parse_board,
    parse_entry,
    parse_ids,
    plan_value,
)
from consumer.core.clock import Clock
from consumer.rate.member import RELEASED, Board, FleetView, MemberEntry, Outbox

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

ITEM_TTL_SECONDS: Final = 24 * 3600
MEMBER_TTL_SECONDS: Final = 3600
BATCH: Final = 100  # keys per BatchGetItem, DynamoDB's most
CONDITION_FAILED: Final = "ConditionalCheckFailedException"

log = structlog.get_logger("consumer.aws.fleet")


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
        """Off the roster, and one more join counted so the leader splits the rate again at
        once; the leader also gives the lead up, so another takes it at its next heartbeat."""
        await self._update(ROSTER_KEY, "DELETE ids :me", {"me": {"SS": [member]}})
        values = {"exp": self._expiry(ITEM_TTL_SECONDS), "one": {"N": "1"}}
        expression = "SET expires_at = :exp ADD joins :one"
        released = {**values, "me": {"S": member}, "none": {"S": RELEASED}}
        release = expression.replace("SET ", "SET #by = :none, ")
        if await self._update(FLEET_KEY, release, released, "#by = :me") is None:
            await self._update(FLEET_KEY, expression, values)

    async def read(self) -> FleetView:
        """Every worker on the roster and the plan: the operator's view."""
        response = await self._client.get_item(
            TableName=self._table, Key={"id": {"S": FLEET_KEY}}, ConsistentRead=True
        )
        plan = parse_board(response.get("Item") or {}, self._ignore).plan
        return FleetView(await self.members(), plan)

    async def members(self) -> dict[str, MemberEntry]:
        """Every worker on the roster: the leader's read, once per window."""
        roster = await self._client.get_item(
            TableName=self._table, Key={"id": {"S": ROSTER_KEY}}, ConsistentRead=True
        )
        ids = parse_ids((roster.get("Item") or {}).get("ids"), self._ignore)
        members: dict[str, MemberEntry] = {}
        for start in range(0, len(ids), BATCH):
            keys = [{"id": {"S": MEMBER_KEY + m}} for m in ids[start : start + BATCH]]
            for item in await self._batch_get(keys):
                entry = parse_entry(item, self._ignore)
                if entry is not None:
                    members[entry.member] = entry
        return members

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
