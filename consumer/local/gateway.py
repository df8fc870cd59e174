"""The WSGI application a LocalStack serves: moto, behind a Cognito Identity gateway.

Paths under `/_local/` go to the admin surface and never reach moto. A Cognito Identity request
(recognised by its `X-Amz-Target`) is counted, delayed and possibly failed by the stack's faults
before moto sees it; everything else (SQS, DynamoDB, CloudFormation) passes straight through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from consumer.local.admin_server import AdminServer
from consumer.local.cognito_call import FAULTS_ENVIRON_KEY, LEDGER_ENVIRON_KEY
from consumer.local.errors import UNKNOWN_OPERATION, CognitoError
from consumer.local.faults import UNLINK_OPERATIONS, FaultInjector, Faults
from consumer.local.identities import IdentityStore
from consumer.local.ledger import OK, Ledger
from consumer.local.patch import served_operations
from consumer.local.request_counts import RequestCounts, action_of, write_of
from consumer.local.wsgi_util import read_body, respond_error

TARGET_PREFIX: Final = "AWSCognitoIdentityService"
ADMIN_PREFIX: Final = "/_local/"

if TYPE_CHECKING:
    from _typeshed import OptExcInfo


def cognito_operation(environ: WSGIEnvironment) -> str | None:
    """The Cognito Identity operation of a request, or None for any other service.

    The long target form of the API reference's sample request
    (`com.amazonaws.cognito.identity.model.AWSCognitoIdentityService.UnlinkIdentity`) is
    rewritten to the short one, the only form moto routes.
    """
    prefix, _, operation = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")
    if prefix != TARGET_PREFIX and not prefix.endswith(f".{TARGET_PREFIX}"):
        return None
    environ["HTTP_X_AMZ_TARGET"] = f"{TARGET_PREFIX}.{operation}"
    return operation


def _identity_id(environ: WSGIEnvironment) -> str | None:
    try:
        params = json.loads(read_body(environ) or b"{}")
    except ValueError:
        return None
    value = params.get("IdentityId") if isinstance(params, dict) else None
    return value if isinstance(value, str) else None


class Gateway:
    """Wraps moto's WSGI application; one per LocalStack, so faults and ledger are per stack."""

    def __init__(
        self,
        moto_app: WSGIApplication,
        faults: Faults,
        ledger: Ledger,
        store: IdentityStore,
        region: str = "us-east-1",
    ) -> None:
        self._moto_app = moto_app
        self.injector = FaultInjector(faults)
        self.ledger = ledger
        self.requests = RequestCounts()
        self._admin = AdminServer(self.injector, ledger, store, self.requests, region)
        self._served = served_operations()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(ADMIN_PREFIX):
            return self._admin(environ, start_response)
        action = action_of(environ)
        self.requests.record(action, write_of(action, environ))
        operation = cognito_operation(environ)
        if operation is None:
            return self._moto_app(environ, start_response)
        return self._cognito(operation, environ, start_response)

    def _cognito(
        self, operation: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if operation not in self._served:
            # moto would answer a 500 HTML page, which clients retry as an outage.
            self.ledger.record_call(operation, UNKNOWN_OPERATION)
            message = f"The local Cognito Identity does not implement {operation}."
            return respond_error(start_response, CognitoError(UNKNOWN_OPERATION, message))
        self.injector.delay()
        identity_id = _identity_id(environ) if operation in UNLINK_OPERATIONS else None
        injected = self.injector.injected_error(operation, identity_id)
        if injected is not None:
            self.ledger.record_call(operation, injected)
            message = f"{injected} injected by the local stack's faults."
            return respond_error(start_response, CognitoError(injected, message))

        environ[LEDGER_ENVIRON_KEY] = self.ledger
        environ[FAULTS_ENVIRON_KEY] = self.injector.faults
        after = self.injector.error_after(operation, identity_id)
        if after is not None:
            return self._then_fail(after, operation, environ, start_response)
        outcome = "exception"

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            nonlocal outcome
            if status.startswith("2"):
                outcome = OK
            else:
                error_type = {k.lower(): v for k, v in headers}.get("x-amzn-errortype")
                outcome = error_type or status.split(" ", 1)[0]
            return start_response(status, headers, exc_info)

        try:
            return self._moto_app(environ, capture)
        finally:
            self.ledger.record_call(operation, outcome)

    def _then_fail(
        self, code: str, operation: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Runs the operation; a success (its effect in the ledger) is answered with ``code``
        instead, as if the response were lost. A failure passes through as it is."""
        answered: list[tuple[str, list[tuple[str, str]]]] = []

        def keep(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            answered.append((status, headers))
            return lambda _data: None

        body = b"".join(self._moto_app(environ, keep))
        status, headers = answered[0] if answered else ("500 Internal Server Error", [])
        if status.startswith("2"):
            self.ledger.record_call(operation, code)
            message = f"{code} injected by the local stack's faults after the operation applied."
            return respond_error(start_response, CognitoError(code, message))
        error_type = {k.lower(): v for k, v in headers}.get("x-amzn-errortype")
        self.ledger.record_call(operation, error_type or status.split(" ", 1)[0])
        start_response(status, headers)
        return [body]
