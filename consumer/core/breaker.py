"""Dependency health: tells "down for everyone" from "this command fails".

A command's failure budget exists to retire commands that fail on their own. A network fault or
an `InternalErrorException` says nothing about the command when every other command fails too,
and charging it turned each outage longer than the budget's backoff (about 5 minutes) into a
dead-lettered backlog. So every call to a dependency (Cognito, the worker's credentials, the
idempotency store) reports here whether it was answered, and this gate decides two things:

* whether a failure is charged: only while the dependency otherwise answers, that is, while its
  breaker is closed and, among its recent calls (``window``) for *other* commands, the latest was
  answered and so were most. An answer is anything the service says about a command, throttles
  and permanent errors included. Other commands only: a command failing alone on a quiet worker
  (the others all done, or none yet) is charged, and so dead-lettered on its own budget.
* whether the worker runs at all: ``failures`` consecutive failures of one dependency, with no
  answer between, of at least two commands, open its breaker (one command failing again and
  again alone, on a quiet worker, is its own trouble: charged, and so dead-lettered in time).
  The worker stops receiving, commands that reach the gate go back uncharged, and after a
  capped backoff (``probe_min_seconds`` doubling to ``probe_max_seconds``) one command goes
  through as a probe (half-open). Its answer closes the
  breaker; its failure reopens it for a longer wait.

Why this design. MassTransit's kill switch trips on a failure *rate* over a window and restarts
after a fixed delay; a rate needs a minimum call count and a window long enough to be stable, so
it trips late on a worker with few calls and flaps on a brownout. NServiceBus's automatic rate
limiting trips on consecutive failures and then runs one message at a time until one succeeds:
the same signal as here, but its throttled mode keeps receiving. A circuit breaker with a
half-open probe (Nygard) uses consecutive failures, the sharpest cross-command signal a worker
with many commands in flight has, and its open state costs nothing: no receives, no calls, a
sleep of up to ``probe_max_seconds``. The charge rule is separate from the trip rule so that a
brownout (say 95% of calls fail) charges nobody even between trips, while a single bad command
among good ones is charged on every attempt. A command alone in an outage is charged until a
second command fails too and the breaker trips, and not after.

The probe is a real command, not a synthetic call: it needs no extra IAM permission and it tests
exactly what the backlog needs (store, credentials and Cognito together).

The processor consults the gate before a command touches any dependency, beside the rate limiter
that paces each Cognito call inside the executor: health decides whether calls go out at all, the
limiter how fast. The gate is a pure state machine over a `Clock`; listeners (metrics) hear the
start and the end of each outage, and it logs one line for each.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from consumer.core import errors
from consumer.core.clock import Clock

log = structlog.get_logger("consumer.core.breaker")

COGNITO = "cognito"
CREDENTIALS = "credentials"
STORE = "idempotency_store"
DEPENDENCIES = (COGNITO, CREDENTIALS, STORE)
# A Cognito answer also proves the credentials signed the request.
COGNITO_ANSWERED = (COGNITO, CREDENTIALS)


def dependency_of(error: errors.UnlinkError) -> str | None:
    """The dependency a failure points at; None when the failure is the command's own."""
    if isinstance(error, errors.StoreUnavailable):
        return STORE
    if isinstance(error, errors.WorkerFault | errors.AccessDenied):
        return CREDENTIALS  # what the worker's role may do
    if isinstance(error, errors.UnexpectedError | errors.LookupFailed):
        # A bug in our own code, or a look-up only this command needed: charged, so it cannot
        # loop for ever, and never a pause for everyone (other commands still go through).
        return None
    if isinstance(error, errors.Transient):
        return COGNITO
    return None


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failures: int = 5  # consecutive failures, no answer between, that open a breaker
    probe_min_seconds: float = 2.0
    probe_max_seconds: float = 30.0
    window: int = 20  # recent calls that say whether a dependency "otherwise answers"


@dataclass(frozen=True, slots=True)
class Change:
    """A breaker opened (``down``) or closed; ``outage_seconds`` is set on recovery."""

    dependency: str
    down: bool
    error: str
    outage_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Outage:
    dependency: str
    state: State
    error: str
    seconds: float  # since the outage began (its first trip)
    probe_in: float  # seconds until the next probe (0: due now)


@dataclass(slots=True)
class Breaker:
    """One dependency's state: closed -> open -> half-open -> closed (or open again).

    An outage is one episode from the first trip until the breaker has stayed closed for
    ``probe_max_seconds``: a brownout that closes on a lucky probe and trips again soon after
    continues its episode (the probe wait keeps growing, no new lines, one outage counted), and
    the recovery is reported once, with the episode's whole length, when the closing held.
    """

    dependency: str
    config: BreakerConfig
    consecutive: int = 0
    opened_at: float | None = None
    probe_at: float = 0.0
    probe_delay: float = 0.0
    error: str = ""
    recent: deque[tuple[str, bool]] = field(default_factory=deque)  # (command key, answered)
    # Commands of the consecutive failures, two at most: all the trip rule asks is "two or more",
    # and a days-long outage probes a new command every few seconds.
    failing: set[str] = field(default_factory=set)
    episode_from: float | None = None  # the first trip of the outage being reported
    closed_at: float = 0.0

    def state(self, now: float) -> State:
        if self.opened_at is None:
            return State.CLOSED
        return State.HALF_OPEN if now >= self.probe_at else State.OPEN

    def otherwise_answers(self, key: str) -> bool:
        """Closed, and its latest and most of its recent calls for other commands answered (or
        there were none: nothing speaks for an outage until the breaker trips)."""
        others = [answered for k, answered in self.recent if k != key]
        if self.opened_at is not None:
            return False
        return not others or (others[-1] and 2 * sum(others) >= len(others))

    def _remember(self, key: str, answered: bool) -> None:
        self.recent.append((key, answered))
        if len(self.recent) > self.config.window:
            self.recent.popleft()

    def settled(self, now: float, *, final: bool = False) -> Change | None:
        """The recovery, once the breaker has stayed closed long enough to call the outage over
        (or at once when ``final``: the worker is stopping)."""
        if self.opened_at is not None or self.episode_from is None:
            return None
        if not final and now - self.closed_at < self.config.probe_max_seconds:
            return None
        change = Change(self.dependency, False, self.error, self.closed_at - self.episode_from)
        self.episode_from = None
        return change

    def answered(self, key: str, now: float) -> None:
        """Call `settled` first: it ends an outage that is over before this answer counts."""
        self._remember(key, True)
        self.consecutive = 0
        self.failing.clear()
        if self.opened_at is not None:
            self.opened_at, self.closed_at = None, now

    def failed(self, key: str, error: str, now: float) -> Change | None:
        """Call `settled` first, as for `answered`; answers the start of an outage."""
        self._remember(key, False)
        self.consecutive += 1
        if len(self.failing) < 2:
            self.failing.add(key)
        self.error = error
        state = self.state(now)
        if state is State.HALF_OPEN:  # the probe failed: wait longer
            self._next_probe(now, 2 * self.probe_delay)
            return None
        if state is not State.CLOSED or self.consecutive < self.config.failures:
            return None
        if len(self.failing) < 2:
            return None  # one command failing alone says nothing about the dependency
        self.opened_at = now
        if self.episode_from is not None:  # the same outage, flaring up again
            self._next_probe(now, 2 * self.probe_delay)
            return None
        self.episode_from = now
        self._next_probe(now, self.config.probe_min_seconds)
        return Change(self.dependency, True, error)

    def _next_probe(self, now: float, delay: float) -> None:
        self.probe_delay = min(self.config.probe_max_seconds, delay)
        self.probe_at = now + self.probe_delay


class HealthGate:
    """The breakers of every dependency; the processor reports to it, the worker consults it."""

    def __init__(
        self,
        clock: Clock,
        config: BreakerConfig | None = None,
        listeners: tuple[Callable[[Change], None], ...] = (),
    ) -> None:
        self._clock = clock
        self.config = config or BreakerConfig()
        self._breakers = {d: Breaker(d, self.config) for d in DEPENDENCIES}
        self._listeners = list(listeners)

    def __repr__(self) -> str:
        down = ",".join(o.dependency for o in self.outages()) or "none"
        return f"HealthGate(down={down}, {self.config})"

    def listen(self, listener: Callable[[Change], None]) -> None:
        self._listeners.append(listener)

    def answered(self, key: str, *dependencies: str) -> None:
        """The dependencies answered a call for the command ``key``."""
        now = self._settle()
        for dependency in dependencies:
            self._breakers[dependency].answered(key, now)

    def failed(self, key: str, dependency: str, error: str) -> bool:
        """Records a failed call for the command ``key``; True when the failure is the command's
        own (charge it), else False."""
        now = self._settle()
        breaker = self._breakers[dependency]
        own = breaker.otherwise_answers(key)
        self._tell(breaker.failed(key, error, now))
        return own

    @property
    def paused(self) -> bool:
        """Some dependency is down: receive nothing but probes.

        Reading it also reports a recovery that has held (the loop reads it on every turn).
        """
        self._settle()
        return any(b.opened_at is not None for b in self._breakers.values())

    def admits(self) -> bool:
        """A command may use the dependencies now: all closed, or a probe is due."""
        now = self._clock.monotonic()
        return all(b.state(now) is not State.OPEN for b in self._breakers.values())

    def probe_in(self) -> float:
        """Seconds until every open breaker is due for a probe (0: closed or due now)."""
        now = self._clock.monotonic()
        waits = [b.probe_at - now for b in self._breakers.values() if b.opened_at is not None]
        return max(0.0, max(waits, default=0.0))

    def last_error(self) -> str:
        """The error of the longest outage in progress ("" when none is)."""
        outages = self.outages()
        return outages[0].error if outages else ""

    def outages(self) -> list[Outage]:
        """The dependencies down now, longest outage first (for /readyz and metrics)."""
        now = self._clock.monotonic()
        found = [
            Outage(b.dependency, b.state(now), b.error, now - since, max(0.0, b.probe_at - now))
            for b in self._breakers.values()
            if b.opened_at is not None and (since := b.episode_from or b.opened_at) is not None
        ]
        return sorted(found, key=lambda o: -o.seconds)

    def finish(self) -> None:
        """At shutdown: an outage whose breaker has closed is reported as over now."""
        now = self._clock.monotonic()
        for breaker in self._breakers.values():
            self._tell(breaker.settled(now, final=True))

    def _settle(self) -> float:
        now = self._clock.monotonic()
        for breaker in self._breakers.values():
            self._tell(breaker.settled(now))
        return now

    def _tell(self, change: Change | None) -> None:
        if change is None:
            return
        # One line when a dependency goes down and one when it is back: nothing in between.
        if change.down:
            log.error(
                "dependency_down",
                dependency=change.dependency,
                error=change.error,
                consecutive_failures=self.config.failures,
                action="paused: receiving nothing but probes",
            )
        else:
            log.warning(
                "dependency_recovered",
                dependency=change.dependency,
                last_error=change.error,
                outage_seconds=round(change.outage_seconds, 1),
            )
        for listener in self._listeners:
            listener(change)
