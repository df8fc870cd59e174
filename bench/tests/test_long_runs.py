"""The long runs' pure parts: which scenarios run, the soak's rates, the outage's verdicts."""

from __future__ import annotations

from bench.__main__ import _parser, _scenarios
from bench.memory_soak import run_memory_soak
from bench.outage import CognitoOutage, outage_figures
from bench.scenarios import Run
from bench.soak import rates, scenario
from bench.tests.test_parts import seeded
from bench.workload import Mix, build
from consumer.local.ledger import AppliedJson, LedgerSnapshot


def test_the_long_runs_run_only_when_named() -> None:
    assert "outage" not in _scenarios(_parser().parse_args([]))
    chosen = _scenarios(_parser().parse_args(["--scenario", "soak", "--scenario", "latency"]))
    assert chosen == ["latency", "soak"]
    args = _parser().parse_args(["--scenario", "outage", "--outage-seconds", "120"])
    assert args.outage_seconds == 120


def test_soak_rates_compare_the_last_tenth_with_the_second() -> None:
    steady = [i * 0.01 for i in range(1000)]
    early, late = rates(steady)
    assert early is not None
    assert late is not None
    assert round(late / early, 2) == 1.0
    slowing = [i * 0.01 for i in range(900)] + [9 + i * 0.05 for i in range(100)]
    early, late = rates(slowing)
    assert early is not None
    assert late is not None
    assert late / early < 0.25
    assert rates([1.0, 2.0]) == (None, None)
    assert scenario(None).n == 200_000
    assert scenario(20_000).store == "memory"


def test_an_outage_that_dead_letters_a_valid_command_misses_its_target() -> None:
    commands = build(4, Mix(), seeded(3, 1))
    applied: list[AppliedJson] = [
        {"operation": c.effect[0], "identity_id": c.effect[1], "key": c.effect[2], "at": 100.0 + i}
        for i, c in enumerate(commands)
        if c.effect is not None
    ]
    ledger: LedgerSnapshot = {
        "calls": {},
        "calls_by_outcome": {},
        "throttled": 0,
        "applied_count": len(applied),
        "applied_by_operation": {},
        "applied": applied,
        "calls_per_second": {},
    }
    run = Run(scenario(4), commands, sent_at=[99.0] * 4, first_send=99.0, done_at=104.0)
    run.ledger = ledger
    outage = CognitoOutage("outage", 120, 4, up_at=101.5, applied_at_cut=1, applied_at_up=1)
    outage.cpu_pct = [0.3, 0.4]
    result = outage_figures(run, outage)
    assert result["recovery_to_last_apply_s"] == 1.5
    assert result["recovery_to_first_apply_s"] == 0.5
    assert all(t["met"] for t in result["own_targets"].values())
    run.dlq = [(commands[0].body, "ResourceNotFoundException")]
    missed = outage_figures(run, outage)["own_targets"]
    assert not missed["no_valid_dlq"]["met"]


async def test_the_memory_soak_acks_every_command_and_keeps_the_store_at_its_bound() -> None:
    result = await run_memory_soak(1500, store_max=1000)
    assert result["correct"] is True
    assert result["acked"] == 1500
    assert result["store_records_at_end"] == 1000
    assert len(result["rss_mb_by_tenth"]) >= 10
    assert "memory_growth" in result["own_targets"]
