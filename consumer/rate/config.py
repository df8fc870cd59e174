"""Every constant of the rate control, once, each with its reason; and the states its machines
take. A constant set to its neutral value switches its mechanism off (`bench.ablation` does so,
one at a time, to show what each is worth)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Mode(enum.StrEnum):
    """The fleet's plan: how its rate is decided."""

    STARTUP = "startup"  # a cold fleet: one worker slow-starts for it, the others wait or join
    CRUISE = "cruise"  # just below the learned quota
    PROBE = "probe"  # a little above it, to find a raised quota
    FIXED = "fixed"  # a known quota: never adapted


class Gate(enum.StrEnum):
    """Where a worker's rate comes from (`QuotaLimiter`)."""

    FIXED = "fixed"  # the configured ceiling (or none), never adapted
    LOCAL = "local"  # its own law: no table, or the table cannot be reached
    PROBER = "prober"  # a cold fleet's one worker, slow-starting on its own law for it
    WAITING = "waiting"  # one of the others while the fleet starts: its share may be nil
    SHARING = "sharing"  # its share of the fleet's plan
    BRAKED = "braked"  # that share cut by a throttle, until the fleet's next decision


class Phase(enum.StrEnum):
    """A worker's own law (`LocalLaw`)."""

    SLOW_START = "slow-start"  # doubling until the first throttle
    STEADY = "steady"  # a small raise per success, a cut per overshoot


@dataclass(frozen=True, slots=True)
class RateConfig:
    # -- the quota's bucket, as the laws model it ----------------------------------------------
    burst_seconds: float = 1.0  # its depth in seconds of its quota: what a measurement allows for
    min_rate: float = 0.5  # calls/s no law goes below (a cut never stops a worker), and the
    # least a worker short of work wants (before its first call it asks for some, not none)

    # -- one worker's own law (`LocalLaw`) -----------------------------------------------------
    initial_rate: float = 4.0  # calls/s before anything is known: slow start grows from it, and
    # a cold fleet's others join in from it
    slow_start_doubling_seconds: float = 0.15  # it doubles this often (no quota: full speed in
    slow_start_round_trips: float = 5.0  # about a second), or once per this many round trips if
    # slower: each call sent in the round trip before the first throttle returns is a throttle
    slow_start_limited_seconds: float = 0.3  # it grows only while a call waited this recently
    history_seconds: float = 15.0  # successes kept to measure the quota by at the first
    # throttle: slow start's own, and a starting fleet's timelines
    cut: float = 0.15  # steady: a throttle (one per overshoot) cuts the rate by this share...
    gain: float = 0.0015  # ...a success raises it by this share: throttles settle at ~1%
    limited_seconds: float = 2.0  # a call waited this recently: the rate is what holds calls
    # back, so more would be used (steady growth, a worker's want, the fleet's probes)

    # -- the fleet's law (`FleetLaw`), one decision per window ----------------------------------
    window_seconds: float = 5.0  # between decisions; a worker short of work wants what it sent
    # over the last one, and a repeated throttle is judged over it
    margin: float = 0.02  # cruise this far below the estimate; a light throttle steps it down
    # by this, a heavy one in a probe by at most three times this
    probe_every_seconds: float = 20.0  # quiet cruising before a probe
    probe_step: float = 0.03  # a probe sends this share above the estimate...
    probe_flat_windows: int = 3  # ...for this many windows (long enough to empty the burst)...
    probe_growth: float = 2.0  # ...then each quiet window multiplies the step...
    max_probe_step: float = 4.0  # ...up to this
    probe_history: int = 12  # windows since the last throttle the plan keeps: a probe's
    # throttle measures the quota by them
    busy_fraction: float = 0.1  # a window this share throttled measured the quota exactly
    startup_alone_windows: int = 10  # a cold fleet's prober slow-starts alone for at most this
    # many heartbeats while its calls still wait; then (or once it can send no more) the others
    # join in, doubling each heartbeat but never past twice what got through
    slot_seconds: float = 0.1  # a starting fleet times its successes in slots this long, each
    slot_sent: int = 30  # heartbeat carrying its last this many (a lost beat loses none)

    # -- a worker's share of the plan (`QuotaLimiter`, `FleetMember`) ---------------------------
    brake: float = 0.9  # a throttle between two decisions cuts a cruising share to this until
    # the next decision
    catch_up_seconds: float = 0.5  # calls held up elsewhere go at once for up to this long
    # behind their schedule: the bucket refilled by as many meanwhile
    repeat_share: float = 0.1  # a command's repeated throttle is the quota's if, over the last
    # window, other calls were throttled or repeated ones were this share of the calls
    recent_seconds: float = 60.0  # the operator view's "last minute"

    # -- the heartbeat (`FleetCoordinator`) -----------------------------------------------------
    heartbeat_seconds: float = 1.0  # UNLINK_FLEET_HEARTBEAT_SECONDS; a starting fleet's leader
    # decides at every one
    expiry_seconds: float = 5.0  # an entry unchanged this long (by the reader's own clock) is dead
    span_tolerance: float = 2.0  # a worker's own span of a window more than this many times off
    # the leader's is not believed (its clock jumped, or its entry lies): the leader's is used
    detach_after_failures: int = 3  # failed heartbeats before a worker steers on its own
    max_backoff_seconds: float = 10.0  # between heartbeats while the table does not answer

    @property
    def slot_history(self) -> int:
        """The slots of a starting fleet's timelines kept (`history_seconds` of them)."""
        return round(self.history_seconds / self.slot_seconds)
