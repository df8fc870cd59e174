"""The ledger's counters and applied events, without a server."""

from __future__ import annotations

import threading

from consumer.local.ledger import EffectKey, Ledger


def test_counts_calls_by_operation_and_outcome() -> None:
    ledger = Ledger()
    ledger.record_call("UnlinkIdentity", "ok")
    ledger.record_call("UnlinkIdentity", "TooManyRequestsException")
    ledger.record_call("UnlinkDeveloperIdentity", "TooManyRequestsException")

    assert ledger.calls()[("UnlinkIdentity", "ok")] == 1
    assert ledger.calls_by_operation() == {"UnlinkIdentity": 2, "UnlinkDeveloperIdentity": 1}
    assert ledger.calls_by_outcome() == {"ok": 1, "TooManyRequestsException": 2}
    assert ledger.throttled() == 2


def test_applied_effects_show_a_double_apply() -> None:
    ledger = Ledger()
    ledger.record_applied("UnlinkDeveloperIdentity", "us-east-1:1", "user-1")
    ledger.record_applied("UnlinkIdentity", "us-east-1:2", "accounts.google.com")
    ledger.record_applied("UnlinkDeveloperIdentity", "us-east-1:1", "user-1")

    counts = ledger.applied_counts_by_key()
    assert counts[EffectKey("UnlinkDeveloperIdentity", "us-east-1:1", "user-1")] == 2
    assert [key for key, n in counts.items() if n > 1] == [
        EffectKey("UnlinkDeveloperIdentity", "us-east-1:1", "user-1")
    ]
    assert ledger.applied_count() == 3
    assert ledger.applied_count("UnlinkIdentity") == 1
    assert ledger.applied()[1].effect == ("UnlinkIdentity", "us-east-1:2", "accounts.google.com")


def test_snapshot_is_plain_json_and_reset_forgets_everything() -> None:
    ledger = Ledger()
    ledger.record_call("UnlinkIdentity", "ok")
    ledger.record_applied("UnlinkIdentity", "us-east-1:2", "accounts.google.com")

    snapshot = ledger.snapshot()
    assert snapshot["calls"] == {"UnlinkIdentity": {"ok": 1}}
    assert snapshot["applied_count"] == 1
    assert snapshot["applied"][0]["key"] == "accounts.google.com"
    assert ledger.snapshot(events=False)["applied"] == []

    ledger.reset()
    assert ledger.snapshot()["calls"] == {}
    assert ledger.applied_count() == 0


def test_recording_from_many_threads_loses_nothing() -> None:
    ledger = Ledger()

    def work(n: int) -> None:
        for i in range(500):
            ledger.record_call("UnlinkIdentity", "ok")
            ledger.record_applied("UnlinkIdentity", f"us-east-1:{n}", str(i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.calls_by_operation()["UnlinkIdentity"] == 4000
    assert ledger.applied_count() == 4000
    assert max(ledger.applied_counts_by_key().values()) == 1
