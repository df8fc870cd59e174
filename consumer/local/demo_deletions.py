"""The account-deletion part of `make run`: commands that name the user, and identities deleted
in coalesced DeleteIdentities calls, with the outcome each must reach."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

MISSING_POOL = "us-east-1:00000000-0000-4000-8000-00000000abcd"


@dataclass
class Deletions:
    """(expected outcome, body) pairs and the effects Cognito must show for them."""

    mix: list[tuple[str, Any]] = field(default_factory=list)
    unlinks: int = 0  # unlinks that must be applied
    identities: int = 0  # identities that must be deleted
    delete_commands: int = 0


async def deletion_commands(
    cognito: CognitoIdentityClient, pool: str, provider: str, delete_commands: int = 12
) -> Deletions:
    """A linked user, a user never linked and a pool that does not exist, each named by the
    user; and ``delete_commands`` DeleteIdentities of one to three identities each."""

    async def identity(user: str) -> str:
        made = await cognito.get_open_id_token_for_developer_identity(
            IdentityPoolId=pool, Logins={provider: user}
        )
        return made["IdentityId"]

    def by_user(user: str, pool_id: str = pool) -> dict[str, Any]:
        return {
            "action": "UnlinkDeveloperIdentity",
            "IdentityPoolId": pool_id,
            "DeveloperProviderName": provider,
            "DeveloperUserIdentifier": user,
        }

    linked = f"deleted-user-{uuid.uuid4().hex[:12]}"
    await identity(linked)
    result = Deletions(unlinks=1, delete_commands=delete_commands)
    result.mix += [
        ("applied", by_user(linked)),
        ("not_linked", by_user(f"never-linked-{uuid.uuid4().hex[:12]}")),
        ("ResourceNotFoundException", by_user(linked, MISSING_POOL)),
    ]
    for n in range(delete_commands):
        ids = [await identity(f"closed-{uuid.uuid4().hex[:12]}") for _ in range(1 + n % 3)]
        result.identities += len(ids)
        result.mix.append(("applied", {"action": "DeleteIdentities", "IdentityIdsToDelete": ids}))
    return result
