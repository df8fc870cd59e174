"""`python -m bench.ablation`: what each mechanism of the rate control is worth, in the simulation.

Runs the deterministic simulation (tests/support/fleet_sim.py: the real limiter, laws and fleet
member of every worker against a simulated token bucket) over a matrix of fleets 1, 3, 5, 10 x
quotas 10, 25, 50 calls/s x answer times 20 and 200 ms x callers waking on time and 20 ms late,
each from a cold start, with the fleet table and without it; once as built and once with each
mechanism switched off (its constant set to its neutral value). Per variant it prints the worst
cell with and without the table: the lowest applied rate over the middle 80% of commands (as a
share of the quota) and the highest share of calls throttled over the whole run (cold start
included). A mechanism whose removal worsens no worst cell by more than 0.5 points of rate or
0.2 points of throttled calls does not earn its place.

    python -m bench.ablation                  # the whole matrix, every mechanism (minutes)
    python -m bench.ablation --only brake,creep --seconds 60
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import structlog

from consumer.rate.config import RateConfig
from tests.support.fleet_sim import Spec, run

BUILT = RateConfig()
# Each mechanism, and the constants that switch it off.
MECHANISMS: dict[str, dict[str, float]] = {
    "brake": {"brake": 1.0},  # a throttle between two decisions brakes nobody
    "catch-up": {"catch_up_seconds": 0.0},  # a caller behind its schedule loses its slots
    "check windows": {"check_window_seconds": BUILT.window_seconds},  # no short re-check
    "creep": {"creep": 0.0},  # the estimate waits for the next probe
    "probe growth": {"probe_growth": 1.0},  # a probe keeps its first step
    "join-in": {"join_rate": 0.0, "join_headroom": 0.0},  # a cold fleet's prober stays alone
    "start timelines": {"slot_sent": 0},  # the take-over without the fleet's own bound
    "round-trip doubling": {"slow_start_round_trips": 0.0},  # slow start by the clock alone
    "cooldown": {"cooldown_seconds": 0.0},  # every throttle of an overshoot cuts
    "brake hold": {"brake_windows": 1},  # a brake lifts at the next decision
}
FLEETS = (1, 3, 5, 10)
QUOTAS = (10.0, 25.0, 50.0)
LATENCIES = (0.02, 0.2)
LAGS = (0.0, 0.02)

Cell = tuple[bool, int, float, float, float]  # (table, workers, quota, latency, lag)
Figures = tuple[float, float]  # (rate / quota over the middle 80%, throttled share)


def cells() -> list[Cell]:
    return [
        (table, workers, quota, latency, lag)
        for table, workers, quota, latency, lag in itertools.product(
            (True, False), FLEETS, QUOTAS, LATENCIES, LAGS
        )
    ]


def _quiet() -> None:
    """Each decision of every simulated leader is logged at info: only warnings here."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _run(job: tuple[dict[str, float], Cell, float]) -> Figures:
    changes, (table, workers, quota, latency, lag), seconds = job
    config = replace(BUILT, **changes)  # type: ignore[arg-type]
    spec = Spec(
        workers,
        quota,
        int(quota * seconds),
        shared=table,
        latency=latency,
        lag=lag,
        config=config,
    )
    result = run(spec)
    rate, _ = result.steady()
    return rate / quota, result.throttled()


def worst(figures: Iterable[tuple[Cell, Figures]]) -> dict[bool, Figures]:
    """Per table/no table: the lowest rate share and the highest throttled share of any cell."""
    out: dict[bool, Figures] = {}
    for (table, *_), (rate, throttled) in figures:
        low, high = out.get(table, (1e9, 0.0))
        out[table] = (min(low, rate), max(high, throttled))
    return out


def measure(
    changes: dict[str, float], seconds: float, pool: ProcessPoolExecutor
) -> dict[bool, Figures]:
    matrix = cells()
    results = pool.map(_run, [(changes, cell, seconds) for cell in matrix], chunksize=4)
    return worst(zip(matrix, results, strict=True))


def _line(name: str, figures: dict[bool, Figures], built: dict[bool, Figures] | None) -> str:
    cols = []
    for table in (True, False):
        rate, throttled = figures[table]
        cols.append(f"{100 * rate:7.2f}% {100 * throttled:6.2f}%")
    verdict = ""
    if built is not None:
        rate_loss = max(100 * (built[t][0] - figures[t][0]) for t in (True, False))
        throttle_gain = max(100 * (figures[t][1] - built[t][1]) for t in (True, False))
        earns = rate_loss > 0.5 or throttle_gain > 0.2
        verdict = f"  {rate_loss:+6.2f} {throttle_gain:+6.2f}  {'keep' if earns else 'remove'}"
    return f"{name:<20} {cols[0]}   {cols[1]}{verdict}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ablation", description=__doc__)
    parser.add_argument("--seconds", type=float, default=90.0, help="work per run at the quota")
    parser.add_argument("--only", default="", help="mechanisms to switch off, comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MECHANISMS)
    unknown = set(names) - set(MECHANISMS)
    if unknown:
        parser.error(f"unknown mechanisms: {sorted(unknown)}; known: {list(MECHANISMS)}")
    print(
        f"{len(cells())} cells, {args.seconds:.0f} s of work each; worst cell per column "
        "(rate: lowest share of the quota over the middle 80%; throttled: highest share of "
        "calls, cold start included)"
    )
    print(
        f"{'switched off':<20} {'with the table':>16}   {'without it':>16}  "
        f"{'rate':>6} {'thr':>6}  (points worse than as built)"
    )
    with ProcessPoolExecutor(args.jobs, initializer=_quiet) as pool:
        built = measure({}, args.seconds, pool)
        print(_line("nothing (as built)", built, None), flush=True)
        for name in names:
            print(_line(name, measure(MECHANISMS[name], args.seconds, pool), built), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
