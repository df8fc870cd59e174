"""The admin surface under `/_local/` (served by the stack; `admin_client.py` is its caller).

For processes that cannot touch the stack's objects: benchmarks run the stack in one process and
workers in others; these endpoints give them the ledger and the fault knobs:

    GET  /_local/health                 {"ok": true}
    GET  /_local/ledger[?events=0]      call counters and applied unlinks (`LedgerSnapshot`)
    GET  /_local/faults                 the current `Faults` as JSON
    POST /_local/faults                 a partial `Faults` JSON; answers the new settings
    POST /_local/reset-counters         forgets calls, applied unlinks and request counts
    POST /_local/expire-tokens          {"IdentityId": ...}; answers {"Logins": new tokens}
    GET  /_local/requests               every request served, by action (`RequestsJson`)
    POST /_local/seed                   {"developer": n, "federated": m}; answers the identities
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIEnvironment

from consumer.local.errors import CognitoError
from consumer.local.faults import FaultInjector
from consumer.local.identities import IdentityStore
from consumer.local.ledger import Ledger
from consumer.local.request_counts import RequestCounts
from consumer.local.seed import seed_store
from consumer.local.seeded import seeded_to_json
from consumer.local.wsgi_util import read_body, respond_json

Handler = Callable[[WSGIEnvironment], tuple[int, Any]]


class BadRequest(Exception):
    """The admin request cannot be served as sent."""


def _json(environ: WSGIEnvironment) -> dict[str, Any]:
    try:
        payload = json.loads(read_body(environ) or b"{}")
    except ValueError as error:
        raise BadRequest("the body must be JSON") from error
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object")
    return payload


class AdminServer:
    """A tiny router; every answer is JSON."""

    def __init__(
        self,
        injector: FaultInjector,
        ledger: Ledger,
        store: IdentityStore,
        requests: RequestCounts | None = None,
        region: str = "us-east-1",
    ) -> None:
        self._injector = injector
        self._ledger = ledger
        self._store = store
        self._requests = requests or RequestCounts()
        self._region = region
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/_local/health"): lambda _: (200, {"ok": True}),
            ("GET", "/_local/ledger"): self._get_ledger,
            ("GET", "/_local/faults"): lambda _: (200, self._injector.faults.to_json()),
            ("POST", "/_local/faults"): self._set_faults,
            ("POST", "/_local/reset-counters"): self._reset,
            ("POST", "/_local/expire-tokens"): self._expire_tokens,
            ("GET", "/_local/requests"): lambda _: (200, self._requests.snapshot()),
            ("POST", "/_local/seed"): self._seed,
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", "")).rstrip("/")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        handler = self._routes.get((method, path))
        if handler is None:
            known = any(route_path == path for _, route_path in self._routes)
            status = 405 if known else 404
            return respond_json(start_response, status, {"error": f"no route {method} {path}"})
        try:
            status, payload = handler(environ)
        except BadRequest as error:
            status, payload = 400, {"error": str(error)}
        return respond_json(start_response, status, payload)

    def _get_ledger(self, environ: WSGIEnvironment) -> tuple[int, Any]:
        query = parse_qs(str(environ.get("QUERY_STRING", "")))
        events = query.get("events", ["1"])[-1].lower() not in {"0", "false", "no"}
        return 200, self._ledger.snapshot(events=events)

    def _set_faults(self, environ: WSGIEnvironment) -> tuple[int, Any]:
        faults = self._injector.faults
        try:
            faults.update(_json(environ))
        except ValueError as error:
            raise BadRequest(str(error)) from error
        return 200, faults.to_json()

    def _reset(self, _: WSGIEnvironment) -> tuple[int, Any]:
        self._ledger.reset()
        self._requests.reset()
        return 200, {"ok": True}

    def _expire_tokens(self, environ: WSGIEnvironment) -> tuple[int, Any]:
        identity_id = _json(environ).get("IdentityId")
        if not isinstance(identity_id, str):
            raise BadRequest("IdentityId is required")
        try:
            tokens = self._store.expire_tokens(identity_id)
        except CognitoError as error:
            return 404, {"error": error.message}
        return 200, {"IdentityId": identity_id, "Logins": tokens}

    def _seed(self, environ: WSGIEnvironment) -> tuple[int, Any]:
        request = _json(environ)
        counts = [request.get("developer", 0), request.get("federated", 0)]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            raise BadRequest("developer and federated must be counts (integers >= 0)")
        seeded = seed_store(self._store, self._region, counts[0], counts[1])
        return 200, seeded_to_json(seeded)
