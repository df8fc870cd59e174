"""What seeding made: a pool and its identities as values, and their JSON for the admin surface.

Kept apart from the seeding itself (`seed.py`, which writes moto's state in process) so that the
plain HTTP admin client, and whoever reads what it answers, imports no moto. Each identity
builds the unlink request that would unlink it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

DEVELOPER_PROVIDER: Final = "login.consumer.local"
LOGIN_PROVIDERS: Final = ("accounts.google.com", "graph.facebook.com")


@dataclass(frozen=True, slots=True)
class SeededPool:
    identity_pool_id: str
    developer_provider_name: str
    login_providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeveloperIdentity:
    identity_id: str
    identity_pool_id: str
    developer_provider_name: str
    developer_user_identifier: str

    def unlink_request(self) -> dict[str, str]:
        """The UnlinkDeveloperIdentity parameters that unlink this identifier."""
        return {
            "IdentityId": self.identity_id,
            "IdentityPoolId": self.identity_pool_id,
            "DeveloperProviderName": self.developer_provider_name,
            "DeveloperUserIdentifier": self.developer_user_identifier,
        }


@dataclass(frozen=True, slots=True)
class FederatedIdentity:
    identity_id: str
    identity_pool_id: str
    logins: Mapping[str, str] = field(hash=False)  # provider -> currently valid token

    def unlink_request(self, providers: Sequence[str] | None = None) -> dict[str, Any]:
        """The UnlinkIdentity parameters removing `providers` (by default the first one)."""
        remove = list(providers) if providers is not None else [next(iter(self.logins))]
        return {
            "IdentityId": self.identity_id,
            "Logins": dict(self.logins),
            "LoginsToRemove": remove,
        }


@dataclass(frozen=True, slots=True)
class Seeded:
    pool: SeededPool
    developer: tuple[DeveloperIdentity, ...]
    federated: tuple[FederatedIdentity, ...]


def seeded_to_json(seeded: Seeded) -> dict[str, Any]:
    """Plain JSON for `POST /_local/seed`; `seeded_from_json` reads it back."""
    return {
        "pool": {
            "identity_pool_id": seeded.pool.identity_pool_id,
            "developer_provider_name": seeded.pool.developer_provider_name,
            "login_providers": list(seeded.pool.login_providers),
        },
        "developer": [[d.identity_id, d.developer_user_identifier] for d in seeded.developer],
        "federated": [[f.identity_id, dict(f.logins)] for f in seeded.federated],
    }


def seeded_from_json(data: Mapping[str, Any]) -> Seeded:
    pool = SeededPool(
        str(data["pool"]["identity_pool_id"]),
        str(data["pool"]["developer_provider_name"]),
        tuple(data["pool"]["login_providers"]),
    )
    pool_id, provider = pool.identity_pool_id, pool.developer_provider_name
    devs = (DeveloperIdentity(i, pool_id, provider, user) for i, user in data["developer"])
    feds = (FederatedIdentity(i, pool_id, dict(logins)) for i, logins in data["federated"])
    return Seeded(pool, tuple(devs), tuple(feds))
