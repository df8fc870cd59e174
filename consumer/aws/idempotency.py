"""The in-memory idempotency store; `dynamo_store` holds the fleet's, with the same rules.

A claim succeeds when no record exists, the record has expired, it is OPEN (released by a failed
or dead-lettered attempt, keeping that attempt's counts and evidence), or it is an in-progress
lock older than its expiry (its worker died: the call may have gone out, which the history then
says). A COMPLETED record of an applied command answers duplicates without calling Cognito and
nothing moves it again; a dead letter absorbs nothing, so any copy that comes back runs.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from consumer.core.clock import Clock
from consumer.core.ports import ABSORBING, NO_HISTORY, Claim, ClaimState, History

# Records a memory store keeps at most (UNLINK_MEMORY_STORE_MAX_RECORDS).
DEFAULT_MAX_RECORDS = 50_000


@dataclass(slots=True)
class _Record:
    status: str
    owner: str
    lock_expires_at: float
    expires_at: float
    outcome: str | None = None
    claimed_at: float = 0.0
    history: History = NO_HISTORY  # what earlier attempts left for the next (OPEN, IN_PROGRESS)


class MemoryStore:
    """A single process's store: the default when no table is configured.

    Every operation is O(1). Records live in one map ordered by their last write; as every write
    gives the same TTL, the front is also the first to expire, so expiry only ever looks there.
    Memory is bounded: beyond ``max_records`` the least recently written records are forgotten
    first (a later duplicate of a forgotten one runs again and meets an applied unlink), except a
    live in-progress lock, which is never evicted (there are never more of them than commands in
    flight). Keys are held as 16-byte digests; a record costs about 270 bytes, so the default
    50,000 stay under 15 MB.
    """

    def __init__(
        self, clock: Clock, ttl_seconds: float, max_records: int = DEFAULT_MAX_RECORDS
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._max = max(1, max_records)
        self._owner = uuid.uuid4().hex
        self._records: OrderedDict[bytes, _Record] = OrderedDict()

    def __repr__(self) -> str:
        return f"MemoryStore(records={len(self._records)}, max={self._max}, ttl={self._ttl}s)"

    @property
    def records(self) -> int:
        """Records held now."""
        return len(self._records)

    async def claim(self, key: str, lock_seconds: float) -> Claim:
        now = self._clock.time()
        self._expire(now)
        digest = _digest(key)
        old = self._records.get(digest)
        stale = False
        history = NO_HISTORY
        if old is not None and old.expires_at > now:
            if old.status == "COMPLETED" and old.outcome in ABSORBING:
                return Claim(ClaimState.COMPLETED, old.outcome)
            history = old.history
            if old.status == "IN_PROGRESS":
                if old.lock_expires_at > now:
                    return Claim(ClaimState.IN_PROGRESS)
                stale = True  # its worker died holding it: its call may have gone out
                since = min(history.uncertain_since or old.claimed_at, old.claimed_at)
                first = history.first_seen or since
                history = History(history.failures, history.throttles, since, first)
        lock = _Record("IN_PROGRESS", self._owner, now + lock_seconds, now + self._ttl)
        lock.claimed_at, lock.history = now, history
        self._write(digest, lock)
        return Claim(ClaimState.CLAIMED, took_over_stale_lock=stale, history=history)

    async def renew(self, key: str, lock_seconds: float) -> bool:
        record = self._records.get(_digest(key))
        if record is None or record.status != "IN_PROGRESS" or record.owner != self._owner:
            return False
        record.lock_expires_at = self._clock.time() + lock_seconds
        return True

    async def complete(self, key: str, outcome: str) -> None:
        now = self._clock.time()
        self._write(_digest(key), _Record("COMPLETED", self._owner, now, now + self._ttl, outcome))

    async def release(
        self, key: str, history: History = NO_HISTORY, outcome: str | None = None
    ) -> None:
        digest = _digest(key)
        record = self._records.get(digest)
        if record is None or record.status != "IN_PROGRESS" or record.owner != self._owner:
            return  # COMPLETED stays COMPLETED; nothing of ours to release
        if history == NO_HISTORY:
            del self._records[digest]  # nothing to remember
            return
        # Changed in place: its expiry, and so its place in the order, stay as they were.
        record.status, record.history, record.outcome = "OPEN", history, outcome
        record.lock_expires_at = self._clock.time()

    def _write(self, digest: bytes, record: _Record) -> None:
        """Stores ``record`` as the newest, then forgets the oldest beyond the bound."""
        self._records.pop(digest, None)
        self._records[digest] = record
        now = self._clock.time()
        # Each live lock met at the front moves to the back once; a full map of them stops it.
        for _ in range(len(self._records)):
            if len(self._records) <= self._max:
                break
            oldest, front = self._records.popitem(last=False)
            if front.status == "IN_PROGRESS" and front.lock_expires_at > now:
                self._records[oldest] = front

    def _expire(self, now: float) -> None:
        """Drops expired records from the front: amortised O(1) per call."""
        while self._records:
            front = next(iter(self._records.values()))
            if front.expires_at > now:
                return
            self._records.popitem(last=False)


def _digest(key: str) -> bytes:
    # 16 bytes instead of a ~70-character key; a collision is out of reach (2**-64 at 4e9 keys).
    return hashlib.blake2b(key.encode(), digest_size=16).digest()
