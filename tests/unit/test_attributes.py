"""The `unlink-*` codec: what each copy carries, how it reads back, and what it never trusts."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer.core import attributes as a
from consumer.core.messages import Message
from consumer.core.outcomes import Attempts, DeadLetter, Retry

SENT_MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


def message(attrs: dict[str, str] | None = None, **fields: object) -> Message:
    base = Message(
        message_id="m-1",
        receipt_handle="r-1",
        body="{}",
        receive_count=1,
        sent_timestamp_ms=SENT_MS,
        attributes=dict(attrs or {}),
    )
    return replace(base, **fields)  # type: ignore[arg-type]  # test-only field overrides


def received(attrs: dict[str, str], message_id: str = "m-2") -> Message:
    """The copy as the next receive sees it: a new message carrying the written attributes."""
    return message(attrs, message_id=message_id, sent_timestamp_ms=SENT_MS + 60_000)


counts = st.integers(min_value=0, max_value=10**9)


@given(failures=counts, throttles=counts, deferrals=counts)
def test_a_retry_copy_reads_back_as_the_counts_it_carried(
    failures: int, throttles: int, deferrals: int
) -> None:
    spent = Attempts(failures, throttles, deferrals)
    copy = a.retry_copy(message(), Retry(5, "InternalErrorException", spent))

    carried = a.read(received(copy))

    assert carried.attempts == spent
    assert carried.last_error == "InternalErrorException"
    assert carried.source_id == "m-1"  # the producer's original, not the copy
    assert carried.first_seen == "2026-01-01T00:00:00.123Z"  # when the original was sent
    assert carried.reason is None
    assert not carried.redriven


def test_the_story_survives_many_copies() -> None:
    first = a.retry_copy(message(), Retry(1, "e", Attempts(failures=1)))
    second = a.retry_copy(received(first, "m-2"), Retry(1, "e", Attempts(failures=2)))
    dead = a.dead_letter_copy(
        received(second, "m-3"), DeadLetter("retries_exhausted", "last error e", Attempts(2))
    )

    info = a.read_dead_letter(received(dead, "m-4"))

    assert info.source_id == "m-1"
    assert info.first_seen == dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=dt.UTC)


def test_a_dead_letter_copy_counts_every_attempt_the_final_one_included() -> None:
    before = Attempts(failures=7, throttles=3, deferrals=2)  # as the policy hands them over
    copy = a.dead_letter_copy(message(), DeadLetter("retries_exhausted", "last error x", before))

    info = a.read_dead_letter(received(copy))

    assert copy[a.ATTEMPTS] == "13"
    assert info.attempts == 13 == a.dead_letter_attempts(before)
    assert (info.reason, info.detail) == ("retries_exhausted", "last error x")
    assert info.source_id == "m-1"
    # Per-budget counters and the last error stay behind: the DLQ copy has one number.
    assert not {a.THROTTLES, a.DEFERRALS, a.LAST_ERROR, a.REDRIVEN} & copy.keys()


def test_a_first_sight_dead_letter_shows_one_attempt_and_a_reason_as_its_detail() -> None:
    copy = a.dead_letter_copy(message(), DeadLetter("malformed", "", Attempts()))

    assert (copy[a.ATTEMPTS], copy[a.DETAIL]) == ("1", "malformed")


def test_a_long_detail_is_cut() -> None:
    copy = a.dead_letter_copy(message(), DeadLetter("x", "d" * 5000, Attempts()))

    assert len(copy[a.DETAIL]) == a.MAX_DETAIL


def test_a_redrive_copy_starts_afresh_and_keeps_where_it_came_from() -> None:
    dead = a.dead_letter_copy(message({"tenant": "t-1"}), DeadLetter("r", "d", Attempts(3)))

    copy = a.redrive_copy(received(dead))
    carried = a.read(received(copy, "m-3"))

    assert copy == {
        "tenant": "t-1",
        a.REDRIVEN: "true",
        a.FIRST_SEEN: "2026-01-01T00:00:00.123Z",
        a.SOURCE_ID: "m-1",
    }
    assert carried.attempts == Attempts()
    assert carried.redriven
    assert carried.reason is None


def test_a_redrive_copy_of_a_message_the_worker_never_wrote_invents_nothing() -> None:
    assert a.redrive_copy(message({"tenant": "t-1"})) == {"tenant": "t-1", a.REDRIVEN: "true"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3),
        (" 3 ", 3),
        ("0", 0),
        ("-3", None),
        ("+3", None),
        ("3.0", None),
        ("", None),
        ("three", None),
        ("\u0663", None),  # an Arabic-Indic digit: isdigit() says yes, int() is not the point
        ("\u00b2", None),  # superscript two: isdigit() says yes, int() refuses
        ("9" * 5000, None),  # more digits than Python converts
        (None, None),
    ],
)
def test_a_count_is_ascii_digits_or_nothing(value: str | None, expected: int | None) -> None:
    assert a.count(value) == expected


def test_malformed_counts_read_as_zero_and_never_raise() -> None:
    carried = a.read(
        message({a.ATTEMPTS: "lots", a.THROTTLES: "-1", a.DEFERRALS: "\u00b2", a.REDRIVEN: "yes"})
    )

    assert carried.attempts == Attempts()
    assert not carried.redriven  # only the exact value the worker writes counts


def test_a_malformed_dead_letter_reads_as_absent_fields() -> None:
    info = a.read_dead_letter(message({a.ATTEMPTS: "x", a.FIRST_SEEN: "yesterday"}))

    assert (info.attempts, info.first_seen, info.reason, info.source_id) == (None, None, None, None)
    assert info.detail == ""


def test_a_first_seen_without_a_zone_is_taken_as_utc() -> None:
    naive = a.parse_time("2026-01-01T00:00:00")

    assert naive == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("receives", "carried", "failures"), [(1, "0", 0), (4, "0", 3), (2, "5", 5)]
)
def test_on_fifo_every_earlier_receive_is_a_failed_attempt(
    receives: int, carried: str, failures: int
) -> None:
    fifo = message({a.ATTEMPTS: carried}, receive_count=receives)

    assert a.read(fifo, fifo=True).attempts.failures == failures
    assert a.read(fifo, fifo=False).attempts.failures == int(carried)


def producer_attributes(n: int) -> dict[str, str]:
    return {f"p{i}": str(i) for i in range(n)}


@pytest.mark.parametrize("theirs", [0, 3, 4, 5, 10])
def test_copies_stay_within_ten_attributes_ours_first(theirs: int) -> None:
    original = message(producer_attributes(theirs))

    retry = a.retry_copy(original, Retry(1, "e", Attempts(1)))
    dead = a.dead_letter_copy(original, DeadLetter("r", "d", Attempts()))
    # A dead letter redriven with all the producer's attributes it could carry.
    redriven = a.redrive_copy(received({**dead, **original.attributes}))

    for copy, ours in ((retry, 6), (dead, 5), (redriven, 3)):
        assert len(copy) == min(a.MAX_ATTRIBUTES, ours + theirs)
        assert len(a.OWN_ATTRIBUTES & copy.keys()) == ours  # never ours dropped for theirs
        kept = [k for k in copy if k not in a.OWN_ATTRIBUTES]
        assert kept == list(producer_attributes(theirs))[: len(kept)]  # the producer's order


def test_stale_worker_attributes_never_carry_over() -> None:
    original = message({a.REASON: "old", a.DETAIL: "old", a.REDRIVEN: "true", a.LAST_ERROR: "old"})

    retry = a.retry_copy(original, Retry(1, "new", Attempts(1)))

    assert retry[a.LAST_ERROR] == "new"
    assert not {a.REASON, a.DETAIL, a.REDRIVEN} & retry.keys()


# -- copies near the size limit ---------------------------------------------------------------


def test_fit_keeps_everything_that_fits_and_sheds_the_producers_first() -> None:
    wanted = {"trace": "t" * 50, a.REASON: "malformed", a.DETAIL: "d" * 100}
    assert a.fit(wanted, a.size(wanted)) == wanted
    room = a.size(wanted) - 1
    fitted = a.fit(wanted, room)
    assert "trace" not in fitted
    assert fitted[a.DETAIL] == "d" * 100  # the detail was not cut while it fit
    assert a.size(fitted) <= room


def test_fit_cuts_the_detail_on_a_character_then_drops_the_least_needed() -> None:
    wanted = {
        a.REASON: "malformed",
        a.DETAIL: "é" * 100,
        a.SOURCE_ID: "m-1",
        a.FIRST_SEEN: "2026-12-07T00:00:00.000Z",
    }
    without_detail = {k: v for k, v in wanted.items() if k != a.DETAIL}
    room = a.size(without_detail) + len(a.DETAIL) + 6 + 51
    fitted = a.fit(wanted, room)
    assert fitted[a.DETAIL] == "é" * 25  # 50 bytes: never half a character
    assert a.fit(wanted, 40) == {a.REASON: "malformed"}
    assert a.fit(wanted, 5) == {}
