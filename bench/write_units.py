"""DynamoDB write units from item sizes, by DynamoDB's own rule.

A write (put, update, delete, and a conditional write that fails) consumes one write unit per
started kilobyte of the item, the larger of its sizes before and after. The benchmark counts the
writes by kind at the stack and reads the items at the end of a run; an item's size is the sum of
its attribute names' and values' bytes (`item_bytes`). Items only grow while a command is claimed
and renewed, and are never larger than at their last write, so the largest item seen bounds what
every write to it cost.
"""

from __future__ import annotations

import math
from typing import Any

KB = 1024
# The first clause each of the worker's DynamoDB writes begins with (see consumer/aws), by what
# it is for; a clause not listed is shown as it is.
KINDS = {
    "UpdateItem SET #status = :in_progress": "claims",
    "UpdateItem SET uncertain_since": "take-overs",
    "UpdateItem SET lock_expires_at = :lock": "renewals",
    "UpdateItem SET #status = :completed": "completions",
    "UpdateItem SET #status = :open": "releases",
    "UpdateItem SET #me = :me": "heartbeats",
    "UpdateItem REMOVE #me": "leaves",
}


def value_bytes(value: dict[str, Any]) -> int:
    """One attribute value's size: strings and binaries by length, numbers by digits."""
    kind, inner = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return 1 + math.ceil(len(digits) / 2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in inner)
    return sum(len(str(v).encode()) for v in inner)  # the sets SS, NS, BS


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def kinds(writes: dict[str, int]) -> dict[str, int]:
    """The stack's write counts under the names of what they are for."""
    named: dict[str, int] = {}
    for clause, count in writes.items():
        name = next((k for prefix, k in KINDS.items() if clause.startswith(prefix)), clause)
        named[name] = named.get(name, 0) + count
    return named


def write_units(writes: dict[str, int], largest_item: int) -> int:
    """Write units of ``writes`` when no item was larger than ``largest_item`` bytes."""
    return sum(writes.values()) * max(1, math.ceil(largest_item / KB))
