"""Identities of the local Cognito Identity and their links; moto keeps none of this.

A provider token stands for the user it was issued to: the first `GetId` with a token creates the
identity, later calls with it return the same identity, and each identity holds one currently
valid token per provider. Developer user identifiers are linked per pool. Unlinked logins and
identifiers are "new identities next time they are seen", as the API reference says.

One lock guards everything, so each operation is atomic and every call is thread-safe.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from consumer.local.errors import (
    NOT_AUTHORIZED,
    RESOURCE_CONFLICT,
    RESOURCE_NOT_FOUND,
    CognitoError,
)
from consumer.local.ledger import Ledger

UNLINK_DEVELOPER: Final = "UnlinkDeveloperIdentity"
UNLINK_IDENTITY: Final = "UnlinkIdentity"
DELETE_IDENTITIES: Final = "DeleteIdentities"


@dataclass(frozen=True, slots=True)
class PoolView:
    """What the identity operations need to know about a pool (moto owns the pool itself)."""

    pool_id: str
    developer_provider_name: str  # "" when the pool has none
    login_providers: frozenset[str]
    allow_unauthenticated: bool = False

    @property
    def region(self) -> str:
        return self.pool_id.split(":", 1)[0]


@dataclass(slots=True)
class Identity:
    identity_id: str
    pool_id: str
    developer_provider_name: str
    created: float
    modified: float
    developer_ids: list[str] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)  # provider -> currently valid token


@dataclass(frozen=True, slots=True)
class IdentityDescription:
    identity_id: str
    logins: tuple[str, ...]  # provider names, the developer provider included when linked
    created: float
    modified: float


def new_token(provider: str) -> str:
    """An opaque provider token, unique per call."""
    return f"{provider.split('.', maxsplit=1)[0] or 'login'}-token-{uuid.uuid4().hex}"


def _not_found(what: str) -> CognitoError:
    return CognitoError(RESOURCE_NOT_FOUND, what)


class IdentityStore:
    """Every identity of every pool in this process, like moto's own process-global state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._identities: dict[str, Identity] = {}
        self._developer: dict[tuple[str, str], str] = {}  # (pool, identifier) -> identity
        self._tokens: dict[tuple[str, str, str], str] = {}  # (pool, provider, token) -> identity
        self._retired: set[tuple[str, str, str]] = set()  # expired tokens

    # -- helpers; the caller holds the lock ----------------------------------------------------

    def _create(self, pool: PoolView) -> Identity:
        now = time.time()
        identity = Identity(
            identity_id=f"{pool.region}:{uuid.uuid4()}",
            pool_id=pool.pool_id,
            developer_provider_name=pool.developer_provider_name,
            created=now,
            modified=now,
        )
        self._identities[identity.identity_id] = identity
        return identity

    def _get(self, identity_id: str, pool: PoolView | None = None) -> Identity:
        identity = self._identities.get(identity_id)
        if identity is None or (pool is not None and identity.pool_id != pool.pool_id):
            raise _not_found(f"Identity '{identity_id}' not found.")
        return identity

    def _token_owner(self, pool: PoolView, logins: Mapping[str, str]) -> Identity | None:
        """The identity these federated logins belong to; conflict if they name two."""
        owners: set[str] = set()
        for provider, token in logins.items():
            if provider not in pool.login_providers:
                raise CognitoError(
                    NOT_AUTHORIZED, f"Login provider '{provider}' is not enabled for this pool."
                )
            if (pool.pool_id, provider, token) in self._retired:
                raise CognitoError(NOT_AUTHORIZED, f"Invalid login token for '{provider}'.")
            owner = self._tokens.get((pool.pool_id, provider, token))
            if owner is not None:
                owners.add(owner)
        if len(owners) > 1:
            raise CognitoError(RESOURCE_CONFLICT, "Logins belong to different identities.")
        return self._identities[owners.pop()] if owners else None

    def _link_tokens(self, identity: Identity, logins: Mapping[str, str]) -> None:
        for provider, token in logins.items():
            previous = identity.logins.get(provider)
            if previous is not None and previous != token:
                self._tokens.pop((identity.pool_id, provider, previous), None)
            identity.logins[provider] = token
            self._tokens[(identity.pool_id, provider, token)] = identity.identity_id
        if logins:
            identity.modified = time.time()

    # -- operations ----------------------------------------------------------------------------

    def get_id(self, pool: PoolView, logins: Mapping[str, str]) -> str:
        """GetId: the identity of these logins, created on first sight."""
        with self._lock:
            if not logins:
                if not pool.allow_unauthenticated:
                    raise CognitoError(
                        NOT_AUTHORIZED,
                        "Unauthenticated access is not supported for this identity pool.",
                    )
                return self._create(pool).identity_id
            identity = self._token_owner(pool, logins) or self._create(pool)
            self._link_tokens(identity, logins)
            return identity.identity_id

    def link_developer(
        self,
        pool: PoolView,
        identity_id: str | None,
        identifier: str,
        federated: Mapping[str, str] | None = None,
    ) -> str:
        """GetOpenIdTokenForDeveloperIdentity: links the identifier (and any other logins)."""
        federated = federated or {}
        key = (pool.pool_id, identifier)
        with self._lock:
            linked = self._developer.get(key)
            if identity_id is not None:
                target: Identity | None = self._get(identity_id, pool)
                if linked is not None and linked != identity_id:
                    raise CognitoError(
                        RESOURCE_CONFLICT,
                        "The developer user identifier is already linked to another identity.",
                    )
            else:
                target = self._identities[linked] if linked is not None else None
            owner = self._token_owner(pool, federated)
            if owner is not None and target is not None and owner is not target:
                raise CognitoError(RESOURCE_CONFLICT, "Logins belong to another identity.")
            identity = target or owner or self._create(pool)
            if linked is None:
                self._developer[key] = identity.identity_id
                identity.developer_ids.append(identifier)
                identity.modified = time.time()
            self._link_tokens(identity, federated)
            return identity.identity_id

    def lookup_developer(
        self, pool: PoolView, identity_id: str | None, identifier: str | None
    ) -> tuple[str, list[str]]:
        """LookupDeveloperIdentity: the identity and all its developer user identifiers."""
        with self._lock:
            if identifier is not None:
                linked = self._developer.get((pool.pool_id, identifier))
                if linked is None:
                    raise _not_found("The developer user identifier is not linked.")
                if identity_id is not None and identity_id != linked:
                    raise CognitoError(
                        RESOURCE_CONFLICT,
                        "The developer user identifier is linked to another identity.",
                    )
                identity = self._identities[linked]
            else:
                identity = self._get(identity_id or "", pool)
                if not identity.developer_ids:
                    raise _not_found("The identity has no developer user identifier.")
            return identity.identity_id, list(identity.developer_ids)

    def describe(self, identity_id: str) -> IdentityDescription:
        """DescribeIdentity."""
        with self._lock:
            identity = self._get(identity_id)
            names = sorted(identity.logins)
            if identity.developer_ids:
                names.append(identity.developer_provider_name)
            return IdentityDescription(
                identity.identity_id, tuple(names), identity.created, identity.modified
            )

    def unlink_developer(
        self,
        pool: PoolView,
        identity_id: str,
        provider_name: str,
        identifier: str,
        ledger: Ledger,
    ) -> None:
        """UnlinkDeveloperIdentity; records the effect in the ledger when it changed anything."""
        with self._lock:
            identity = self._get(identity_id, pool)
            if not pool.developer_provider_name or provider_name != pool.developer_provider_name:
                raise CognitoError(
                    NOT_AUTHORIZED,
                    f"'{provider_name}' is not the developer provider of this identity pool.",
                )
            linked = self._developer.get((pool.pool_id, identifier))
            if linked is None:
                raise _not_found("The developer user identifier is not linked to any identity.")
            if linked != identity_id:
                raise CognitoError(
                    RESOURCE_CONFLICT,
                    "The developer user identifier is linked to another identity.",
                )
            del self._developer[(pool.pool_id, identifier)]
            identity.developer_ids.remove(identifier)
            identity.modified = time.time()
            ledger.record_applied(UNLINK_DEVELOPER, identity_id, identifier)

    def unlink_logins(
        self,
        identity_id: str,
        logins: Mapping[str, str],
        to_remove: Sequence[str],
        ledger: Ledger,
    ) -> None:
        """UnlinkIdentity: the caller proves the identity with its currently valid tokens."""
        with self._lock:
            identity = self._get(identity_id)
            if not logins:
                raise CognitoError(
                    NOT_AUTHORIZED, "Logins must hold a currently valid token for the identity."
                )
            for provider, token in logins.items():
                if identity.logins.get(provider) != token:
                    raise CognitoError(
                        NOT_AUTHORIZED,
                        f"Invalid login token for '{provider}': not one of the identity's "
                        "currently valid tokens.",
                    )
            for provider in to_remove:
                if provider not in identity.logins:
                    raise _not_found(f"Login provider '{provider}' is not linked to the identity.")
            for provider in dict.fromkeys(to_remove):
                token = identity.logins.pop(provider)
                self._tokens.pop((identity.pool_id, provider, token), None)
                ledger.record_applied(UNLINK_IDENTITY, identity_id, provider)
            if to_remove:
                identity.modified = time.time()

    def delete(
        self, identity_ids: Sequence[str], unprocessed: Mapping[str, str], ledger: Ledger
    ) -> list[tuple[str, str]]:
        """DeleteIdentities: the (identity, error code) pairs left in place.

        ``unprocessed`` names the identities the service fails to delete (an injected fault).
        An unknown identity is no error: the reference lists no ResourceNotFoundException for
        this operation, and a repeated delete must be harmless, so it is simply not there.
        """
        left: list[tuple[str, str]] = []
        with self._lock:
            for identity_id in dict.fromkeys(identity_ids):  # a repeated id is one identity
                if identity_id in unprocessed:
                    left.append((identity_id, unprocessed[identity_id]))
                    continue
                identity = self._identities.pop(identity_id, None)
                if identity is None:
                    continue
                for identifier in identity.developer_ids:
                    self._developer.pop((identity.pool_id, identifier), None)
                for provider, token in identity.logins.items():
                    self._tokens.pop((identity.pool_id, provider, token), None)
                ledger.record_applied(DELETE_IDENTITIES, identity_id, "")
        return left

    # -- helpers for tests, seeding and the admin surface --------------------------------------

    def expire_tokens(self, identity_id: str) -> dict[str, str]:
        """Replaces every token of the identity; the old ones now fail with NotAuthorized."""
        with self._lock:
            identity = self._get(identity_id)
            fresh = {provider: new_token(provider) for provider in identity.logins}
            for provider, old in identity.logins.items():
                self._tokens.pop((identity.pool_id, provider, old), None)
                self._retired.add((identity.pool_id, provider, old))
            self._link_tokens(identity, fresh)
            return dict(fresh)

    def current_tokens(self, identity_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._get(identity_id).logins)

    def drop_pool(self, pool_id: str) -> None:
        """Forgets a deleted pool's identities and links."""
        with self._lock:
            gone = [i for i, identity in self._identities.items() if identity.pool_id == pool_id]
            for identity_id in gone:
                del self._identities[identity_id]
            self._developer = {k: v for k, v in self._developer.items() if k[0] != pool_id}
            self._tokens = {k: v for k, v in self._tokens.items() if k[0] != pool_id}


# Process-global, like moto's backends: every server thread of every stack sees one state.
STORE: Final = IdentityStore()
