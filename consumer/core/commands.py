"""The message contract: a Cognito Identity API request plus an ``action`` field.

Field names are the API's own, and every constraint of the API reference is enforced here, before
anything reaches AWS, so a bad command is dead-lettered on first sight instead of being retried.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
)

from consumer.core.errors import MalformedCommand

# The API's patterns are whole-string patterns in Java syntax, where \w is ASCII-only.
_ID_PATTERN = r"^[A-Za-z0-9_-]+:[0-9a-f-]+$"
_PROVIDER_PATTERN = r"^[A-Za-z0-9_.-]+$"

IdentityIdStr = Annotated[str, StringConstraints(min_length=1, max_length=55, pattern=_ID_PATTERN)]
ProviderNameStr = Annotated[str, StringConstraints(min_length=1, max_length=128)]
DeveloperProviderNameStr = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=_PROVIDER_PATTERN)
]
DeveloperUserIdentifierStr = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
ProviderToken = Annotated[SecretStr, Field(min_length=1, max_length=50_000)]
CommandId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[ -~]+$")]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    command_id: CommandId | None = None

    def api_request(self) -> dict[str, Any]:
        """The exact request for the Cognito Identity call: validated fields, nothing else."""
        raise NotImplementedError

    def effect_fields(self) -> dict[str, Any]:
        """What the command changes; its hash is the idempotency key when no command_id is set."""
        raise NotImplementedError

    def effect_hash(self) -> str:
        """The hash of what the command changes (tokens left out)."""
        canonical = json.dumps(
            {"action": self.action_name(), **self.effect_fields()},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def idempotency_key(self) -> str:
        """The effect, and the ``command_id`` when the producer names the command.

        Without a ``command_id`` the same unlink sent twice (two publishes of one event, a resend
        with fresh tokens) is one command. A new ``command_id`` makes an intentional repeat of an
        effect a command of its own; a reused one never merges two different unlinks.
        """
        if self.command_id is not None:
            return f"id:{self.command_id}:{self.effect_hash()}"
        return "sha256:" + self.effect_hash()

    def action_name(self) -> str:
        raise NotImplementedError


class UnlinkDeveloperIdentity(_Command):
    """Unlinks a developer user identifier from an identity (signed, developer credentials)."""

    action: Literal["UnlinkDeveloperIdentity"]
    IdentityId: IdentityIdStr
    IdentityPoolId: IdentityIdStr
    DeveloperProviderName: DeveloperProviderNameStr
    DeveloperUserIdentifier: DeveloperUserIdentifierStr

    def action_name(self) -> str:
        return self.action

    def api_request(self) -> dict[str, Any]:
        return {
            "IdentityId": self.IdentityId,
            "IdentityPoolId": self.IdentityPoolId,
            "DeveloperProviderName": self.DeveloperProviderName,
            "DeveloperUserIdentifier": self.DeveloperUserIdentifier,
        }

    def effect_fields(self) -> dict[str, Any]:
        return self.api_request()


class UnlinkDeveloperUser(_Command):
    """`UnlinkDeveloperIdentity` without `IdentityId`: unlinks the user the producer names from
    whichever identity of the pool it is linked to. The worker finds that identity with
    `LookupDeveloperIdentity`; a user linked to none is acknowledged as ``not_linked``.

    The idempotency key is the effect (pool, provider, user), so two deletion events of one
    user are one command.
    """

    action: Literal["UnlinkDeveloperIdentity"]
    IdentityPoolId: IdentityIdStr
    DeveloperProviderName: DeveloperProviderNameStr
    DeveloperUserIdentifier: DeveloperUserIdentifierStr

    def action_name(self) -> str:
        return self.action

    def api_request(self) -> dict[str, Any]:
        return {
            "IdentityPoolId": self.IdentityPoolId,
            "DeveloperProviderName": self.DeveloperProviderName,
            "DeveloperUserIdentifier": self.DeveloperUserIdentifier,
        }

    def effect_fields(self) -> dict[str, Any]:
        return self.api_request()


class UnlinkIdentity(_Command):
    """Unlinks federated logins from an identity (public API: needs currently valid tokens)."""

    action: Literal["UnlinkIdentity"]
    IdentityId: IdentityIdStr
    Logins: Annotated[dict[ProviderNameStr, ProviderToken], Field(max_length=10)]
    LoginsToRemove: list[ProviderNameStr]

    def action_name(self) -> str:
        return self.action

    def api_request(self) -> dict[str, Any]:
        return {
            "IdentityId": self.IdentityId,
            "Logins": {name: token.get_secret_value() for name, token in self.Logins.items()},
            "LoginsToRemove": list(self.LoginsToRemove),
        }

    def effect_fields(self) -> dict[str, Any]:
        # Tokens are credentials, not part of what the command does: a resend with fresh
        # tokens is the same unlink.
        return {"IdentityId": self.IdentityId, "LoginsToRemove": sorted(set(self.LoginsToRemove))}


MAX_IDS_TO_DELETE = 60  # DeleteIdentities' own limit per call


class DeleteIdentities(_Command):
    """Deletes 1 to 60 identities (signed, developer credentials): for an account deletion that
    wants the identity gone, not only unlinked. The worker coalesces the ids of commands in
    flight into calls of up to sixty; an identity already gone counts as deleted."""

    action: Literal["DeleteIdentities"]
    IdentityIdsToDelete: Annotated[
        list[IdentityIdStr], Field(min_length=1, max_length=MAX_IDS_TO_DELETE)
    ]

    def action_name(self) -> str:
        return self.action

    def api_request(self) -> dict[str, Any]:
        return {"IdentityIdsToDelete": list(self.IdentityIdsToDelete)}

    def effect_fields(self) -> dict[str, Any]:
        # The same identities in another order, or named twice, are the same deletion.
        return {"IdentityIdsToDelete": sorted(set(self.IdentityIdsToDelete))}


Command = UnlinkDeveloperIdentity | UnlinkDeveloperUser | UnlinkIdentity | DeleteIdentities
ACTIONS = ("UnlinkDeveloperIdentity", "UnlinkIdentity", "DeleteIdentities")
_BY_USER = "UnlinkDeveloperUser"
_ACTION_OF_TAG = {_BY_USER: "UnlinkDeveloperIdentity"}  # errors name the action a producer sent


def _kind(body: Any) -> str | None:
    """The body's command class: its ``action``, and for an `UnlinkDeveloperIdentity` whether
    it names the identity (a present `IdentityId`, even null, is validated as one)."""
    if not isinstance(body, dict):
        return getattr(body, "action", None) if isinstance(body, _Command) else None
    action = body.get("action")
    if action == "UnlinkDeveloperIdentity" and "IdentityId" not in body:
        return _BY_USER
    return action if isinstance(action, str) else None


_COMMAND: TypeAdapter[Command] = TypeAdapter(
    Annotated[
        Annotated[UnlinkDeveloperIdentity, Tag("UnlinkDeveloperIdentity")]
        | Annotated[UnlinkDeveloperUser, Tag(_BY_USER)]
        | Annotated[UnlinkIdentity, Tag("UnlinkIdentity")]
        | Annotated[DeleteIdentities, Tag("DeleteIdentities")],
        Discriminator(_kind),
    ]
)


def _where(loc: tuple[int | str, ...]) -> str:
    """The field path of an error, stopping at `Logins`: pydantic puts a failing map entry's key
    in the path, and a producer that swaps a provider name and its token makes the key the token.
    What failed, the name or the token, follows the path instead."""
    path = [str(p) for p in loc]
    if "Logins" not in path:
        return ".".join(path) or "body"
    end = path.index("Logins") + 1
    entry = path[end:]
    where = ".".join(path[:end])
    if not entry:
        return where
    return f"{where}: {'a provider name' if entry[-1] == '[key]' else 'a token'}"


def _describe(error: ValidationError) -> str:
    """Names each failing field and the rule it broke, never a value or a key of `Logins`
    (tokens are secrets)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(_ACTION_OF_TAG.get(str(p), str(p)) for p in item["loc"])
        if item["type"] == "union_tag_invalid" or item["type"] == "union_tag_not_found":
            parts.append(f"action: must be one of {', '.join(ACTIONS)}")
        else:
            parts.append(f"{_where(loc)}: {item['msg']}")
    return "; ".join(parts[:5]) + (f" (+{len(parts) - 5} more)" if len(parts) > 5 else "")


def parse_payload(payload: object) -> Command:
    """Validates an already-decoded command object."""
    if not isinstance(payload, dict):
        raise MalformedCommand(f"body: expected a JSON object, got {type(payload).__name__}")
    try:
        return _COMMAND.validate_python(payload)
    except ValidationError as exc:
        raise MalformedCommand(_describe(exc)) from None


def command_to_body(command: Command) -> str:
    """The JSON message body for a command, secrets included: only producers call this."""
    body: dict[str, Any] = {"action": command.action_name(), **command.api_request()}
    if command.command_id is not None:
        body["command_id"] = command.command_id
    return json.dumps(body, separators=(",", ":"))
