"""One Cognito Identity request as our operations see it, and the glue to moto's dispatch.

moto calls an operation as a method of `CognitoIdentityResponse` with no arguments; `operation`
turns a plain function of a `Call` into such a method and renders `CognitoError`s as JSON 1.1
errors with the right HTTP status, which moto passes through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from moto.cognitoidentity.models import cognitoidentity_backends

from consumer.local.errors import (
    INVALID_PARAMETER,
    JSON_CONTENT_TYPE,
    RESOURCE_NOT_FOUND,
    CognitoError,
)
from consumer.local.faults import Faults
from consumer.local.identities import PoolView
from consumer.local.ledger import Ledger

# The WSGI environ key under which a stack hands its ledger to the operations it serves.
LEDGER_ENVIRON_KEY: Final = "consumer.local.ledger"
# ... and its faults, for the few an operation applies itself (DeleteIdentities' unprocessed ids).
FAULTS_ENVIRON_KEY: Final = "consumer.local.faults"
# Where effects go when a request did not come through a LocalStack (moto used in-process).
FALLBACK_LEDGER: Final = Ledger()
NO_FAULTS: Final = Faults()

MotoResult = str | tuple[str, dict[str, Any]]
MotoMethod = Callable[[Any], MotoResult]


def error_result(error: CognitoError) -> tuple[str, dict[str, Any]]:
    """A CognitoError in the (body, headers-with-status) shape moto's dispatch returns as is."""
    return error.body(), {"status": error.status, **error.headers()}


def pool_view(account_id: str, pool_id: str) -> PoolView:
    """The pool as moto stores it; ResourceNotFoundException when there is none."""
    region = pool_id.split(":", 1)[0]
    try:
        pool = cognitoidentity_backends[account_id][region].identity_pools.get(pool_id)
    except KeyError:  # a region moto does not know
        pool = None
    if pool is None:
        raise CognitoError(RESOURCE_NOT_FOUND, f"IdentityPool '{pool_id}' not found.")
    providers = set(pool.supported_login_providers or {})
    providers.update(p.get("ProviderName", "") for p in pool.cognito_identity_providers or [])
    # An OIDC provider logs in under its issuer host, a SAML provider under its ARN.
    providers.update(
        a.split("oidc-provider/", 1)[-1] for a in pool.open_id_connect_provider_arns or []
    )
    providers.update(pool.saml_provider_arns or [])
    return PoolView(
        pool_id=pool_id,
        developer_provider_name=pool.developer_provider_name or "",
        login_providers=frozenset(providers - {""}),
        allow_unauthenticated=bool(pool.allow_unauthenticated_identities),
    )


class Call:
    """The parsed JSON body of a request, its account and the ledger effects are recorded in."""

    def __init__(self, response: Any) -> None:
        self._response = response
        body = response.body or "{}"
        try:
            params = json.loads(body)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise CognitoError(INVALID_PARAMETER, "The request body must be a JSON object.")
        self.params: dict[str, Any] = params

    @property
    def account_id(self) -> str:
        return str(self._response.current_account)

    @property
    def ledger(self) -> Ledger:
        environ = self._response.normalized_request.environ
        ledger = environ.get(LEDGER_ENVIRON_KEY)
        return ledger if isinstance(ledger, Ledger) else FALLBACK_LEDGER

    @property
    def faults(self) -> Faults:
        faults = self._response.normalized_request.environ.get(FAULTS_ENVIRON_KEY)
        return faults if isinstance(faults, Faults) else NO_FAULTS

    def pool(self, pool_id: str) -> PoolView:
        return pool_view(self.account_id, pool_id)


def operation(function: Callable[[Call], dict[str, Any] | None]) -> MotoMethod:
    """A moto response method running `function`; None means HTTP 200 with an empty body."""

    def method(response: Any) -> MotoResult:
        try:
            result = function(Call(response))
        except CognitoError as error:
            return error_result(error)
        if result is None:
            return ""
        return json.dumps(result), {"Content-Type": JSON_CONTENT_TYPE}

    method.__name__ = method.__qualname__ = function.__name__
    method.__doc__ = function.__doc__
    return method


def guarded(
    original: MotoMethod,
    check: Callable[[Call], None],
    after: Callable[[Call], None] | None = None,
) -> MotoMethod:
    """moto's own method behind our request checks (and an optional step after it succeeds)."""

    def method(response: Any) -> MotoResult:
        try:
            call = Call(response)
            check(call)
        except CognitoError as error:
            return error_result(error)
        result = original(response)
        if after is not None:
            after(call)
        return result

    method.__name__ = method.__qualname__ = getattr(original, "__name__", "guarded")
    method.__doc__ = getattr(original, "__doc__", None)
    return method
