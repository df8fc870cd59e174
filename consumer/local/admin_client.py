"""A small synchronous client for a running stack's `/_local/` admin surface.

For processes that did not start the stack (benchmark workers, a shell):

    admin = AdminClient("http://127.0.0.1:4566")
    admin.set_faults(quota_rps=50)
    ...
    assert admin.ledger(events=False)["applied_count"] == 5000
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, cast

from consumer.local.faults import Faults
from consumer.local.ledger import LedgerSnapshot
from consumer.local.request_counts import RequestsJson
from consumer.local.seeded import Seeded, seeded_from_json


class AdminError(RuntimeError):
    """The admin surface refused a request or could not be reached."""


class AdminClient:
    """Reads the ledger and turns the fault knobs of a stack at `endpoint_url`."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        if not endpoint_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {endpoint_url!r}")
        self.base_url = endpoint_url.rstrip("/") + "/_local"
        self.timeout = timeout

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310  # the scheme is checked in __init__
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise AdminError(f"{method} {path}: HTTP {error.code} {detail}") from error
        except (urllib.error.URLError, OSError) as error:
            raise AdminError(f"{method} {path}: {error}") from error

    def health(self) -> bool:
        try:
            return bool(self._request("GET", "/health").get("ok"))
        except AdminError:
            return False

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the stack answers; AdminError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.health():
            if time.monotonic() > deadline:
                raise AdminError(f"no local stack at {self.base_url} after {timeout}s")
            time.sleep(0.05)

    def ledger(self, *, events: bool = True) -> LedgerSnapshot:
        query = "" if events else "?events=0"
        return cast(LedgerSnapshot, self._request("GET", f"/ledger{query}"))

    def applied_count(self) -> int:
        return self.ledger(events=False)["applied_count"]

    def faults(self) -> Faults:
        return Faults.from_json(self._request("GET", "/faults"))

    def set_faults(self, **changes: Any) -> Faults:
        """Changes some knobs (e.g. `quota_rps=50`); answers the settings now in force."""
        return Faults.from_json(self._request("POST", "/faults", changes))

    def reset_counters(self) -> None:
        self._request("POST", "/reset-counters", {})

    def expire_tokens(self, identity_id: str) -> dict[str, str]:
        """New provider tokens for the identity; the old ones stop working."""
        answer = self._request("POST", "/expire-tokens", {"IdentityId": identity_id})
        return dict(answer["Logins"])

    def requests(self) -> RequestsJson:
        """Every request the stack served, by action (`AmazonSQS.ReceiveMessage`, ...)."""
        return cast(RequestsJson, self._request("GET", "/requests"))

    def seed(self, developer: int = 0, federated: int = 0) -> Seeded:
        """A fresh pool with `developer` and `federated` identities, written by the stack itself."""
        answer = self._request("POST", "/seed", {"developer": developer, "federated": federated})
        return seeded_from_json(answer)
