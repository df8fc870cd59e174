"""The benchmark's pure parts: the workload, the tallies, the targets, the experiment knobs."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from bench import report, worker
from bench.config import DEFAULTS, override
from bench.procs import Usage
from bench.results import correctness, fed_sustained, figures, percentile
from bench.scenarios import Run
from bench.workload import APPLIED, CONFLICT, MALFORMED, NOT_FOUND, Mix, build
from bench.write_units import item_bytes, kinds, write_units
from consumer.local.ledger import LedgerSnapshot
from consumer.local.seeded import DeveloperIdentity, FederatedIdentity, Seeded, SeededPool
from consumer.settings import Settings

POOL = SeededPool("us-east-1:0b9d5f6c-1234-4abc-9def-000000000001", "login.bench", ("g.com",))


def seeded(developer: int, federated: int) -> Seeded:
    devs = tuple(
        DeveloperIdentity(
            f"us-east-1:{i:08x}-0000-4000-8000-000000000000",
            POOL.identity_pool_id,
            POOL.developer_provider_name,
            f"user-{i}",
        )
        for i in range(developer)
    )
    feds = tuple(
        FederatedIdentity(
            f"us-east-1:{i:08x}-1111-4000-8000-000000000000",
            POOL.identity_pool_id,
            {"g.com": f"token-{i}"},
        )
        for i in range(federated)
    )
    return Seeded(POOL, devs, feds)


MIXED = Mix(not_found=0.1, conflicts=0.05, malformed=0.05)


def test_mix_counts_and_seeds() -> None:
    assert MIXED.counts(2000) == {
        "developer": 1280,
        "federated": 320,
        NOT_FOUND: 200,
        CONFLICT: 100,
        MALFORMED: 100,
    }
    assert MIXED.seeds(2000) == (1280 + 200, 320)
    assert sum(Mix().counts(7).values()) == 7


def test_build_gives_unique_bodies_in_the_mix() -> None:
    commands = build(200, MIXED, seeded(*MIXED.seeds(200)))
    assert len(commands) == 200
    assert len({c.body for c in commands}) == 200
    expects = Counter(c.expect for c in commands)
    assert expects == {APPLIED: 160, NOT_FOUND: 20, CONFLICT: 10, MALFORMED: 10}
    effects = [c.effect for c in commands if c.effect is not None]
    assert len(effects) == len(set(effects)) == 160
    assert all((c.effect is None) == (c.expect != APPLIED) for c in commands)
    valid = json.loads(next(c.body for c in commands if c.expect == APPLIED))
    assert valid["action"] in {"UnlinkDeveloperIdentity", "UnlinkIdentity"}
    assert build(200, MIXED, seeded(*MIXED.seeds(200)))[0].expect == commands[0].expect


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0


def ledger(
    applied: list[tuple[str, str, str, float]], calls: dict[str, dict[str, int]]
) -> LedgerSnapshot:
    return {
        "calls": calls,
        "calls_by_outcome": {},
        "throttled": 0,
        "applied_count": len(applied),
        "applied_by_operation": {},
        "calls_per_second": {"101": {"ok": 16}, "102": {"TooManyRequestsException": 4}},
        "applied": [
            {"operation": o, "identity_id": i, "key": k, "at": at} for o, i, k, at in applied
        ],
    }


def make_run(twice: bool = False, lose: bool = False, dead_valid: bool = False) -> Run:
    commands = build(20, MIXED, seeded(*MIXED.seeds(20)))
    run = Run(override(DEFAULTS["mixed"], n=20), commands)
    run.sent_at = [100.0 + i / 10 for i in range(20)]
    run.first_send, run.done_at = 100.0, 104.0
    applied = [(*c.effect, 101.0 + i / 10) for i, c in enumerate(commands) if c.effect]
    if twice:
        applied.append(applied[0])
    if lose:
        applied.pop()
    run.ledger = ledger(
        applied, {"UnlinkDeveloperIdentity": {"ok": 16, "TooManyRequestsException": 4}}
    )
    run.dlq = [(c.body, c.expect) for c in commands if c.expect != APPLIED]
    if dead_valid:
        run.dlq.append((next(c.body for c in commands if c.expect == APPLIED), "retries_exhausted"))
    run.ready = [Usage(1.0, 60_000, 10.0)]
    run.end = [Usage(1.5, 61_000, 14.0)]
    return run


def test_a_clean_run_is_correct() -> None:
    tally = correctness(make_run())
    assert tally["correct"] is True
    assert tally["applied_once"] == 16
    assert tally["dlq_ok"] == tally["dlq_expected"] == 4


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"twice": True}, "applied_twice"),
        ({"lose": True}, "applied_never"),
        ({"dead_valid": True}, "dlq_valid_dead_lettered"),
    ],
)
def test_every_kind_of_wrong_is_caught(kwargs: dict[str, bool], field: str) -> None:
    tally = correctness(make_run(**kwargs))
    assert tally[field] == 1
    assert tally["correct"] is False


def test_figures_divide_by_the_commands() -> None:
    result = figures(make_run())
    assert result["cpu_ms_per_command"] == 25.0
    assert result["throttled_share"] == 0.2
    assert result["cognito_calls_per_command"] == 1.0
    assert result["p50_ms"] == pytest.approx(1000.0)


def test_targets_report_met_and_missed() -> None:
    result: dict[str, Any] = {
        **figures(make_run()),
        "scenario": "quota",
        "quota_rps": 50.0,
        "sustained_per_s": 49.0,
    }
    found = report.targets(result)
    assert found["quota_rate"]["met"] is True
    assert found["throttled"]["met"] is False
    assert found["correctness"]["met"] is True
    idle = report.targets({"scenario": "idle", "cpu_pct": 0.2, "receives_per_period": 1.5})
    assert idle["idle_cpu"]["met"] is True
    assert idle["idle_receives"]["met"] is False
    assert "targets:" in report.table([{**result, "targets": found}])


def test_knobs_reach_the_worker_as_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = override(
        DEFAULTS["quota"],
        sqs_linger=0.07,
        cognito_attempts=1,
    )
    for name, value in scenario.worker_settings().items():
        monkeypatch.setenv(name, value)
    settings = Settings(queue_url="http://queue")
    assert settings.sqs_linger_seconds == 0.07
    assert settings.cognito_max_attempts == 1
    assert not any(name.startswith("BENCH_") for name in scenario.worker_settings())


def test_no_knob_leaves_every_default() -> None:
    assert worker.knob_settings(None, None) == {}


def test_a_ceiling_leaves_out_the_seconds_without_the_feeder() -> None:
    # 10/s while the feeder sends (its last send at 101.0), then twice as quick without it.
    applied_at = [100.0 + i / 10 for i in range(11)] + [101.0 + i / 20 for i in range(1, 31)]
    every = Mix(federated=0.0)
    commands = build(len(applied_at), every, seeded(*every.seeds(len(applied_at))))
    run = Run(override(DEFAULTS["mixed"], n=len(commands)), commands)
    run.sent_at = [min(99.0 + i / 20, 101.0) for i in range(len(commands))]
    run.first_send = 99.0
    effects = [c.effect for c in commands if c.effect is not None]
    run.ledger = ledger([(*e, at) for e, at in zip(effects, applied_at, strict=True)], {})
    assert figures(run)["sustained_per_s"] > 15.0  # the whole middle: mostly the quick part
    assert fed_sustained(run) == pytest.approx(10.0)


def test_the_fair_run_has_one_noisy_tenant_and_nine_quiet_ones() -> None:
    from collections import Counter

    from bench.tenants import tenants

    counts = Counter(tenants(1000))
    assert len(counts) == 10
    assert 0.65 < counts["tenant-0"] / 1000 < 0.75


def test_the_fair_figures_compare_the_two_runs_and_need_both_correct() -> None:
    from bench.fair import fair_figures

    plain = {"commands_per_s": 40.0, "correct": True, "n": 1000}
    grouped = {"commands_per_s": 35.0, "correct": True, "n": 1000}
    result = fair_figures(plain, grouped)
    assert result["grouped_to_plain"] == 0.875
    assert not result["own_targets"]["fair_speed"]["met"]  # more than 10% slower
    assert result["correct"]
    assert not fair_figures(plain, {**grouped, "correct": False})["correct"]


def test_write_units_count_started_kilobytes_of_the_largest_item() -> None:
    item = {"id": {"S": "k" * 10}, "n": {"N": "12345"}, "m": {"M": {"a": {"BOOL": True}}}}
    assert item_bytes(item) == (2 + 10) + (1 + 4) + (1 + 3 + 1 + 1)
    writes = {"UpdateItem SET #status = :in_progress": 3, "UpdateItem SET #me = :me": 2}
    assert kinds(writes) == {"claims": 3, "heartbeats": 2}
    assert write_units(writes, 300) == 5
    assert write_units(writes, 1500) == 10


def test_the_hold_run_brings_its_own_targets() -> None:
    found = report.targets({"scenario": "hold", "correct": True})
    assert list(found) == ["correctness"]
