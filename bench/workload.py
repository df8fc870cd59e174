"""The commands a scenario sends, each with the outcome it must reach.

Valid commands name a seeded identity and must be applied exactly once; the others must each land
in the DLQ exactly once with a known reason. Every body is unique (a second copy of a failing
command would reach the DLQ again: a dead letter absorbs nothing), and the order is shuffled with a
fixed seed.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any, Final

from consumer.local.seeded import Seeded

APPLIED: Final = "applied"
NOT_FOUND: Final = "ResourceNotFoundException"
CONFLICT: Final = "ResourceConflictException"
MALFORMED: Final = "malformed"

Effect = tuple[str, str, str]  # (operation, identity id, key) as the ledger records it


@dataclass(frozen=True, slots=True)
class Command:
    body: str
    expect: str  # APPLIED, or the DLQ reason it must be dead-lettered with
    effect: Effect | None = None  # the ledger entry an applied command leaves


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of the commands; the rest are valid, `federated` of those `UnlinkIdentity`."""

    not_found: float = 0.0
    conflicts: float = 0.0
    malformed: float = 0.0
    federated: float = 0.2

    def counts(self, n: int) -> dict[str, int]:
        bad = {
            NOT_FOUND: round(n * self.not_found),
            CONFLICT: round(n * self.conflicts),
            MALFORMED: round(n * self.malformed),
        }
        valid = max(0, n - sum(bad.values()))
        federated = round(valid * self.federated)
        return {"developer": valid - federated, "federated": federated, **bad}

    def seeds(self, n: int) -> tuple[int, int]:
        """Developer and federated identities to seed: a conflict needs two of its own."""
        counts = self.counts(n)
        return counts["developer"] + 2 * counts[CONFLICT], counts["federated"]


def _developer(identity_id: str, pool: str, provider: str, user: str) -> dict[str, Any]:
    return {
        "action": "UnlinkDeveloperIdentity",
        "IdentityId": identity_id,
        "IdentityPoolId": pool,
        "DeveloperProviderName": provider,
        "DeveloperUserIdentifier": user,
    }


def _malformed(i: int, pool: str, provider: str) -> str:
    user = f"user-{uuid.uuid4().hex}"
    kinds: list[Any] = [
        f"this is not JSON {i}",
        {"action": "DeleteEverything", "n": i},
        _developer("not-an-identity-id", pool, provider, user),
        {**_developer(f"us-east-1:{uuid.uuid4()}", pool, provider, user), "Logins": {}},
    ]
    kind = kinds[i % len(kinds)]
    return kind if isinstance(kind, str) else json.dumps(kind)


def build(n: int, mix: Mix, seeded: Seeded, seed: int = 7) -> list[Command]:
    """`n` commands in `mix`'s shares over `seeded`'s identities (seeded with `mix.seeds(n)`)."""
    counts = mix.counts(n)
    pool, provider = seeded.pool.identity_pool_id, seeded.pool.developer_provider_name
    developers = list(seeded.developer)
    commands: list[Command] = []
    for ident in developers[: counts["developer"]]:
        user = ident.developer_user_identifier
        body = _developer(ident.identity_id, pool, provider, user)
        effect = ("UnlinkDeveloperIdentity", ident.identity_id, user)
        commands.append(Command(json.dumps(body), APPLIED, effect))
    for fed in seeded.federated[: counts["federated"]]:
        request = fed.unlink_request()
        body = {"action": "UnlinkIdentity", **request}
        effect = ("UnlinkIdentity", fed.identity_id, request["LoginsToRemove"][0])
        commands.append(Command(json.dumps(body), APPLIED, effect))
    spare = developers[counts["developer"] :]
    for i in range(counts[CONFLICT]):
        owner, other = spare[2 * i], spare[2 * i + 1]
        # The other identity's identifier, named against this one: linked elsewhere.
        user = other.developer_user_identifier
        body = _developer(owner.identity_id, pool, provider, user)
        commands.append(Command(json.dumps(body), CONFLICT))
    for _ in range(counts[NOT_FOUND]):
        body = _developer(f"us-east-1:{uuid.uuid4()}", pool, provider, f"user-{uuid.uuid4().hex}")
        commands.append(Command(json.dumps(body), NOT_FOUND))
    commands.extend(
        Command(_malformed(i, pool, provider), MALFORMED) for i in range(counts[MALFORMED])
    )
    random.Random(seed).shuffle(commands)
    return commands
