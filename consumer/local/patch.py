"""Teaches moto's Cognito Identity the operations in `operations`, once per process.

moto looks an operation up by method name on `CognitoIdentityResponse` at request time, so
methods set on that class are served by every moto server in the process. Before patching we
check that moto still lacks what we add and still has what we replace: a moto upgrade that
changes either fails here, loudly, instead of being silently shadowed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

import botocore.session
from moto.cognitoidentity.responses import CognitoIdentityResponse
from moto.core.utils import camelcase_to_underscores

from consumer.local import operations as ops
from consumer.local.cognito_call import Call, MotoMethod, guarded

ADDED: Final[dict[str, MotoMethod]] = {
    "delete_identities": ops.delete_identities,
    "describe_identity": ops.describe_identity,
    "lookup_developer_identity": ops.lookup_developer_identity,
    "unlink_developer_identity": ops.unlink_developer_identity,
    "unlink_identity": ops.unlink_identity,
}
REPLACED: Final[dict[str, MotoMethod]] = {
    "get_id": ops.get_id,
    "get_open_id_token_for_developer_identity": ops.get_open_id_token_for_developer_identity,
}
# moto's own pool operations, behind our field checks (and a clean-up after a delete).
GUARDED: Final[dict[str, tuple[Callable[[Call], None], Callable[[Call], None] | None]]] = {
    "create_identity_pool": (ops.check_create_identity_pool, None),
    "describe_identity_pool": (ops.check_pool_id, None),
    "delete_identity_pool": (ops.check_pool_id, ops.forget_pool),
}
_INSTALLED: Final = "_consumer_local_installed"
_lock = threading.Lock()


class MotoChangedError(RuntimeError):
    """moto's Cognito Identity is no longer what this package patches."""


def check_moto(cls: type = CognitoIdentityResponse) -> None:
    """MotoChangedError unless moto lacks every method we add and has every one we replace."""
    for name in ADDED:
        if hasattr(cls, name):
            raise MotoChangedError(
                f"moto now implements CognitoIdentityResponse.{name}; compare it with "
                "consumer.local.operations and drop ours or keep ours deliberately."
            )
    for name in (*REPLACED, *GUARDED):
        method = getattr(cls, name, None)
        if not callable(method) or not method.__module__.startswith("moto."):
            raise MotoChangedError(f"moto no longer has CognitoIdentityResponse.{name}.")


def install() -> None:
    """Adds and replaces the operations on moto's CognitoIdentityResponse; idempotent."""
    cls = CognitoIdentityResponse
    with _lock:
        if getattr(cls, _INSTALLED, False):
            return
        check_moto()
        for name, method in {**ADDED, **REPLACED}.items():
            setattr(cls, name, method)
        for name, (check, after) in GUARDED.items():
            setattr(cls, name, guarded(getattr(cls, name), check, after))
        setattr(cls, _INSTALLED, True)


def served_operations() -> frozenset[str]:
    """The Cognito Identity operation names (as in X-Amz-Target) this process can answer."""
    model = botocore.session.get_session().get_service_model("cognito-identity")
    methods = {name for name, value in vars(CognitoIdentityResponse).items() if callable(value)}
    return frozenset(
        name for name in model.operation_names if camelcase_to_underscores(name) in methods
    )
