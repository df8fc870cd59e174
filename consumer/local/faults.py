"""Injected trouble for the local Cognito Identity: latency, a quota and error rates.

`Faults` is plain mutable configuration (tests flip `stack.faults.internal_error_rate` between
calls); `FaultInjector` owns the state that goes with it (the quota's token bucket, the dice).
Every fault but one is decided before an operation runs, so an injected error never applies an
unlink; `fail_after_apply` alone answers an error after the unlink took effect.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

from consumer.local.errors import EXTERNAL_SERVICE, INTERNAL_ERROR, TOO_MANY_REQUESTS

UNLINK_OPERATIONS: Final = frozenset({"UnlinkDeveloperIdentity", "UnlinkIdentity"})
DELETE_OPERATION: Final = "DeleteIdentities"
# The ErrorCode values of an UnprocessedIdentityId, as the API reference lists them.
UNPROCESSED_CODES: Final = frozenset({"AccessDenied", "InternalServerError"})
LOOKUP_OPERATIONS: Final = frozenset({"DescribeIdentity", "LookupDeveloperIdentity"})


@dataclass
class Faults:
    """Knobs, read on every request so they can be changed while the stack runs."""

    latency_s: float = 0.0  # added to every Cognito Identity call
    quota_rps: float | None = None  # shared rate quota on the two unlink operations
    quota_burst: float | None = None  # bucket size; one second's worth (at least 1) by default
    internal_error_rate: float = 0.0  # InternalErrorException (500) on the unlink operations
    external_error_rate: float = 0.0  # ExternalServiceException on UnlinkIdentity
    # IdentityId -> error code answered by every unlink of that identity (a "poisoned" target).
    # A bare HTTP status ("429") is answered with a plain-text body, as a proxy would.
    fail_identities: dict[str, str] = field(default_factory=dict)
    # IdentityId -> error code answered in place of a *successful* unlink of that identity: the
    # effect is applied but the caller never learns it (a 5xx or a lost response after the
    # apply). An unlink that fails (say, a repeat meeting ResourceNotFound) is answered as it is.
    fail_after_apply: dict[str, str] = field(default_factory=dict)
    # Error code answered by every DescribeIdentity and LookupDeveloperIdentity (the low-quota
    # look-ups), e.g. TooManyRequestsException; None: they answer normally.
    fail_lookups: str | None = None
    # IdentityId -> ErrorCode ("InternalServerError" or "AccessDenied") that DeleteIdentities
    # answers for that identity in UnprocessedIdentityIds, leaving it in place.
    unprocessed_identities: dict[str, str] = field(default_factory=dict)
    # A rate quota of DeleteIdentities alone (its own, as on AWS); None: unlimited.
    delete_quota_rps: float | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises ValueError for an impossible setting (also a string where a number belongs)."""
        numbers: dict[str, Any] = {
            "latency_s": self.latency_s,
            "quota_rps": 1.0 if self.quota_rps is None else self.quota_rps,
            "quota_burst": 1.0 if self.quota_burst is None else self.quota_burst,
            "delete_quota_rps": 1.0 if self.delete_quota_rps is None else self.delete_quota_rps,
            "internal_error_rate": self.internal_error_rate,
            "external_error_rate": self.external_error_rate,
        }
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
        if self.latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        for name in ("quota_rps", "delete_quota_rps"):
            if numbers[name] <= 0:
                raise ValueError(f"{name} must be > 0 or null")
        if numbers["quota_burst"] < 1:
            raise ValueError("quota_burst must be >= 1 or null")
        for name in ("internal_error_rate", "external_error_rate"):
            if not 0.0 <= numbers[name] <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.fail_lookups is not None and not isinstance(self.fail_lookups, str):
            raise ValueError("fail_lookups must be an error code or null")
        for name in ("fail_identities", "fail_after_apply", "unprocessed_identities"):
            failing = getattr(self, name)
            if not isinstance(failing, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in failing.items()
            ):
                raise ValueError(f"{name} must map identity ids to error codes")
        if not set(self.unprocessed_identities.values()) <= UNPROCESSED_CODES:
            raise ValueError(f"unprocessed_identities codes must be in {sorted(UNPROCESSED_CODES)}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Applies a partial JSON update in place, all or nothing; ValueError if invalid."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        merged = {**self.to_json(), **changes}
        candidate = Faults(**merged)
        for name in known:
            setattr(self, name, getattr(candidate, name))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        faults = cls()
        faults.update(data)
        return faults


class TokenBucket:
    """A shared request quota; the rate is passed per call so it can change at runtime."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._shape: tuple[float, float] | None = None
        self._tokens = 0.0
        self._last = 0.0

    def try_take(self, rate: float, burst: float | None = None) -> bool:
        capacity = burst if burst is not None else max(1.0, rate)
        with self._lock:
            now = self._clock()
            if self._shape != (rate, capacity):  # a new quota starts with a full bucket
                self._shape = (rate, capacity)
                self._tokens = capacity
            else:
                self._tokens = min(capacity, self._tokens + (now - self._last) * rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class FaultInjector:
    """Decides, per request, whether a Cognito Identity call fails instead of running."""

    def __init__(self, faults: Faults, rng: random.Random | None = None) -> None:
        self.faults = faults
        self._bucket = TokenBucket()
        self._delete_bucket = TokenBucket()
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    def delay(self) -> None:
        """Sleeps in the server thread, as a slow service would."""
        if self.faults.latency_s > 0:
            time.sleep(self.faults.latency_s)

    def _roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def injected_error(self, operation: str, identity_id: str | None) -> str | None:
        """The error code to answer instead of running the operation, if any."""
        if operation not in UNLINK_OPERATIONS:
            return self._other_error(operation)
        faults = self.faults
        if faults.quota_rps is not None and not self._bucket.try_take(
            faults.quota_rps, faults.quota_burst
        ):
            return TOO_MANY_REQUESTS
        if identity_id is not None and identity_id in faults.fail_identities:
            return faults.fail_identities[identity_id]
        if self._roll(faults.internal_error_rate):
            return INTERNAL_ERROR
        if operation == "UnlinkIdentity" and self._roll(faults.external_error_rate):
            return EXTERNAL_SERVICE
        return None

    def _other_error(self, operation: str) -> str | None:
        """The faults of the look-ups and of DeleteIdentities (whose quota is its own)."""
        if operation in LOOKUP_OPERATIONS:
            return self.faults.fail_lookups
        quota = self.faults.delete_quota_rps
        if operation == DELETE_OPERATION and quota is not None:
            return None if self._delete_bucket.try_take(quota) else TOO_MANY_REQUESTS
        return None

    def error_after(self, operation: str, identity_id: str | None) -> str | None:
        """The error code to answer in place of a successful operation's response, if any."""
        if operation not in UNLINK_OPERATIONS or identity_id is None:
            return None
        return self.faults.fail_after_apply.get(identity_id)
