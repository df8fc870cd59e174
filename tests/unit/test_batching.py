from __future__ import annotations

import asyncio
from typing import Any

import pytest

from consumer.aws.batching import BatchEntryFailed, Batcher


class FlakyService:
    """Fails the entries named in ``fail`` (by body) a set number of times."""

    def __init__(self, fail: dict[str, tuple[int, bool]]) -> None:
        self.fail = dict(fail)
        self.calls: list[list[str]] = []

    async def __call__(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([e["Body"] for e in entries])
        ok, failed = [], []
        for entry in entries:
            times, sender = self.fail.get(entry["Body"], (0, False))
            if times:
                self.fail[entry["Body"]] = (times - 1, sender)
                failed.append({"Id": entry["Id"], "Code": "X", "SenderFault": sender})
            else:
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}


async def test_entries_are_grouped_in_tens() -> None:
    service = FlakyService({})
    batcher = Batcher(service, "test", linger=0.05)
    await asyncio.gather(*(batcher.submit({"Body": str(i)}) for i in range(25)))
    assert sorted(len(c) for c in service.calls) == [5, 10, 10]


async def test_service_side_failures_are_retried_and_sender_faults_are_raised() -> None:
    service = FlakyService({"a": (1, False), "b": (1, True), "c": (5, False)})
    batcher = Batcher(service, "test", linger=0.001, max_tries=3)
    results = await asyncio.gather(
        *(batcher.submit({"Body": b}) for b in "abcd"), return_exceptions=True
    )
    assert results[0] is None
    assert results[3] is None
    assert isinstance(results[1], BatchEntryFailed)
    assert results[1].sender_fault
    assert isinstance(results[2], BatchEntryFailed)
    assert not results[2].sender_fault


async def test_a_failed_call_fails_every_entry_and_flush_waits() -> None:
    async def broken(entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise ConnectionError("down")

    batcher = Batcher(broken, "test", linger=10)
    pending = asyncio.ensure_future(batcher.submit({"Body": "x"}))
    await asyncio.sleep(0)
    await batcher.flush()
    with pytest.raises(ConnectionError):
        await pending


async def test_an_entry_missing_from_the_response_is_not_taken_as_sent() -> None:
    async def forgetful(entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Successful": [], "Failed": []}

    with pytest.raises(BatchEntryFailed):
        await Batcher(forgetful, "test", linger=0.001, max_tries=1).submit({"Body": "x"})


async def test_submit_many_answers_each_entry_in_order_in_as_few_calls_as_fit() -> None:
    service = FlakyService({"b": (1, True)})
    batcher = Batcher(service, "test", linger=60)  # no waiting: submit_many sends at once

    results = await asyncio.wait_for(
        batcher.submit_many([({"Body": b}, 400_000) for b in "abcd"]), timeout=5
    )

    assert [r is None for r in results] == [True, False, True, True]
    assert isinstance(results[1], BatchEntryFailed)
    assert (results[1].code, results[1].sender_fault) == ("X", True)
    assert [len(c) for c in service.calls] == [2, 2]  # 1 MiB per call


async def test_a_batch_call_cancelled_midway_never_leaves_its_entries_waiting() -> None:
    async def interrupted(entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise asyncio.CancelledError  # what Ctrl-C delivers inside the call

    batcher = Batcher(interrupted, "test", linger=0.001)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(batcher.submit_many([({"Body": "a"}, 1)]), timeout=5)
    single = asyncio.ensure_future(batcher.submit({"Body": "b"}))
    done, _ = await asyncio.wait([single], timeout=5)
    assert single in done
    assert single.cancelled()
