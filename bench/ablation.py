"""`python -m bench.ablation`: what each mechanism of the rate control is worth, in the simulation.

Runs the deterministic simulation (tests/support/fleet_sim.py: the real limiter, laws and fleet
member of every worker against a simulated token bucket) over a matrix of fleets 1, 3, 5, 10 x
quotas 10, 25, 50 calls/s x answer times 20 and 200 ms x callers waking on time and 20 ms late,
each from a cold start, with the fleet table and without it; and over a short-handed row: fleets
of 3, 5, 10 on 25 calls/s whose workers each carry less than the quota (one call in flight,
100 ms answers), callers on time and late, with the table. Once as built and once with each
mechanism switched off (its constant set to its neutral value, or its method made a no-op).
Per variant it prints the worst cell of each column group: the lowest applied rate over the
middle 80% of commands (as a share of the quota) and the highest share of calls throttled over
the whole run (cold start included). A mechanism whose removal worsens no worst cell by more
than 0.5 points of rate or 0.2 points of throttled calls does not earn its place.

    python -m bench.ablation                  # the whole matrix, every mechanism (minutes)
    python -m bench.ablation --only brake,catch-up --seconds 60
    python -m bench.ablation --only none      # as built only (seconds)
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from typing import Any
from unittest import mock

import structlog

from consumer.rate.config import RateConfig
from consumer.rate.laws import FleetLaw, Plan, Window
from tests.support.fleet_sim import Spec, run

BUILT = RateConfig()


def _alone(_: FleetLaw, plan: Plan, __: Window) -> float:
    return plan.rate  # the others of a cold fleet never join in


# Each mechanism, and what switches it off: constants of `RateConfig`, or methods replaced.
MECHANISMS: dict[str, dict[str, Any]] = {
    "brake": {"brake": 1.0},  # a throttle between two decisions brakes nobody
    "catch-up": {"catch_up_seconds": 0.0},  # a caller behind its schedule loses its slots
    "probe growth": {"probe_growth": 1.0},  # a probe keeps its first step
    "flat probe windows": {"probe_flat_windows": 0},  # a probe's step grows from its first
    "probe history": {"probe_history": 0},  # a probe's throttle measures its own window only
    "join-in": {"FleetLaw._join": _alone},  # a cold fleet's prober stays alone
    "alone windows": {"startup_alone_windows": 0},  # the others join while the prober grows
    "start timelines": {"slot_sent": 0},  # the take-over without the fleet's own bound
    "round-trip doubling": {"slow_start_round_trips": 0.0},  # slow start by the clock alone
}
PATCHED = {"FleetLaw": FleetLaw}
FLEETS = (1, 3, 5, 10)
QUOTAS = (10.0, 25.0, 50.0)
LATENCIES = (0.02, 0.2)
LAGS = (0.0, 0.02)
SHORT_HANDED = (3, 5, 10)  # fleets on 25/s whose workers carry 10/s each

# (group, table, workers, quota, latency, lag, calls in flight per worker)
Cell = tuple[str, bool, int, float, float, float, int]
Figures = tuple[float, float]  # (rate / quota over the middle 80%, throttled share)
GROUPS = ("table, on time", "table, late", "without it", "short-handed")


def cells() -> list[Cell]:
    matrix = [
        (GROUPS[bool(lag)] if table else GROUPS[2], table, workers, quota, latency, lag, 32)
        for table, workers, quota, latency, lag in itertools.product(
            (True, False), FLEETS, QUOTAS, LATENCIES, LAGS
        )
    ]
    short = [
        (GROUPS[3], True, workers, 25.0, 0.1, lag, 1) for workers in SHORT_HANDED for lag in LAGS
    ]
    return matrix + short


def _quiet() -> None:
    """Each decision of every simulated leader is logged at info: only warnings here."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _run(job: tuple[dict[str, Any], Cell, float]) -> Figures:
    changes, (_, table, workers, quota, latency, lag, concurrency), seconds = job
    constants = {name: value for name, value in changes.items() if "." not in name}
    config = replace(BUILT, **constants)
    spec = Spec(
        workers,
        quota,
        int(quota * seconds),
        shared=table,
        latency=latency,
        lag=lag,
        concurrency=concurrency,
        config=config,
    )
    with ExitStack() as patches:
        for name, value in changes.items():
            if "." in name:
                owner, attribute = name.split(".")
                patches.enter_context(mock.patch.object(PATCHED[owner], attribute, value))
        result = run(spec)
    rate, _ = result.steady()
    return rate / quota, result.throttled()


def worst(figures: Iterable[tuple[Cell, Figures]]) -> dict[str, Figures]:
    """Per column group: the lowest rate share and the highest throttled share of any cell."""
    out: dict[str, Figures] = {}
    for (group, *_), (rate, throttled) in figures:
        low, high = out.get(group, (1e9, 0.0))
        out[group] = (min(low, rate), max(high, throttled))
    return out


def measure(
    changes: dict[str, Any], seconds: float, pool: ProcessPoolExecutor
) -> dict[str, Figures]:
    matrix = cells()
    results = pool.map(_run, [(changes, cell, seconds) for cell in matrix], chunksize=4)
    return worst(zip(matrix, results, strict=True))


def _line(name: str, figures: dict[str, Figures], built: dict[str, Figures] | None) -> str:
    cols = []
    for group in GROUPS:
        rate, throttled = figures[group]
        cols.append(f"{100 * rate:7.2f}% {100 * throttled:6.2f}%")
    verdict = ""
    if built is not None:
        rate_loss = max(100 * (built[g][0] - figures[g][0]) for g in GROUPS)
        throttle_gain = max(100 * (figures[g][1] - built[g][1]) for g in GROUPS)
        earns = rate_loss > 0.5 or throttle_gain > 0.2
        verdict = f"  {rate_loss:+6.2f} {throttle_gain:+6.2f}  {'keep' if earns else 'remove'}"
    return f"{name:<20} {'   '.join(cols)}{verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__)
    parser.add_argument("--seconds", type=float, default=90.0, help="work per run at the quota")
    parser.add_argument("--only", default="", help="mechanisms to switch off, comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MECHANISMS)
    if names == ["none"]:
        names = []
    unknown = set(names) - set(MECHANISMS)
    if unknown:
        parser.error(f"unknown mechanisms: {sorted(unknown)}; known: {list(MECHANISMS)}")
    print(
        f"{len(cells())} cells, {args.seconds:.0f} s of work each; worst cell per column "
        "(rate: lowest share of the quota over the middle 80%; throttled: highest share of "
        "calls, cold start included)"
    )
    print(
        f"{'switched off':<20} "
        + "   ".join(f"{group:>16}" for group in GROUPS)
        + f"  {'rate':>6} {'thr':>6}  (points worse than as built)"
    )
    with ProcessPoolExecutor(args.jobs, initializer=_quiet) as pool:
        built = measure({}, args.seconds, pool)
        print(_line("nothing (as built)", built, None), flush=True)
        for name in names:
            print(_line(name, measure(MECHANISMS[name], args.seconds, pool), built), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
