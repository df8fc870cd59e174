"""An ack waits for company as long as a batch takes to fill at the recent rate, within bounds."""

from __future__ import annotations

import pytest

from consumer.aws.ack_linger import AckLinger

BASE = 0.1


def lingers(rate: float, acks: int = 10) -> list[float]:
    clock = [0.0]
    linger = AckLinger(BASE, cap=2.0, now=lambda: clock[0])
    answers = []
    for _ in range(acks):
        answers.append(linger.next())
        clock[0] += 1 / rate
    return answers


def test_at_a_quota_share_an_ack_waits_until_a_batch_could_fill() -> None:
    # 8 commands/s per worker: a tenth of a second caught no company, 9/8 s fills the batch.
    assert lingers(8.0)[-1] == pytest.approx(9 / 8)
    assert lingers(20.0)[-1] == pytest.approx(9 / 20)


def test_a_slow_share_waits_the_cap_for_a_fuller_batch() -> None:
    assert lingers(2.0)[-1] == 2.0


def test_at_full_speed_batches_fill_alone_and_the_base_stands() -> None:
    assert lingers(500.0)[-1] == BASE


def test_a_trickle_gains_nothing_from_waiting_and_keeps_the_base() -> None:
    assert set(lingers(0.5)) == {BASE}


def test_the_first_acks_know_no_rate_yet() -> None:
    assert lingers(8.0)[:2] == [BASE, BASE]
