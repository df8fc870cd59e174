"""The project's error tree; foreign errors are mapped onto it at the boundary.

The policy classifies by the four branches below, never by the leaves (one aside, at the end),
so a new leaf needs no change there. The branch says which budget a failed attempt spends:

UnlinkError                    anything else unforeseen spends the failure budget
├── Permanent                  no retry can fix it: dead-lettered at once
│   ├── MalformedCommand       the body is not a valid command
│   ├── InvalidParameter · ResourceNotFound (NotLinked) · ResourceConflict · NotAuthorized
│   └── IdentitiesDenied       identities DeleteIdentities left, refused (UnprocessedIdentityIds)
├── Throttled                  too fast, not a bad command: the throttle budget
├── Transient                  a later attempt may succeed: the failure budget
│   └── InternalError · ExternalServiceError · NetworkFault (NotSent) · AccessDenied
│       · UnexpectedError · LookupFailed
├── NotTheMessagesFault        deferred, spending nothing
│   └── WorkerFault · StoreUnavailable · InProgressElsewhere
└── ConfigurationError         a bad setting, found at start-up (never from a message)

NotLinked (the user a command names is linked to nothing) is acknowledged, not dead-lettered.
"""

from __future__ import annotations

from typing import ClassVar


class UnlinkError(Exception):
    """Base of every error the project raises on purpose."""

    code: ClassVar[str] = "UnlinkError"

    # Set where a call is translated: an earlier HTTP attempt of the same call went out and lost
    # its answer (a 5xx, a dropped connection), so this answer may follow an applied unlink.
    answer_lost: bool = False

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class Permanent(UnlinkError):
    """The command itself is wrong or refused: retrying cannot help."""


class MalformedCommand(Permanent):
    code = "malformed"


class InvalidParameter(Permanent):
    code = "InvalidParameterException"


class ResourceNotFound(Permanent):
    code = "ResourceNotFoundException"


class NotLinked(ResourceNotFound):
    """The user a command names is linked to no identity of a pool that exists with that
    developer provider: the state the command asks for already holds.

    The one leaf the policy names (it is acknowledged as ``not_linked``, not dead-lettered). It is
    a ResourceNotFound so that, after an attempt whose answer was lost, the processor verifies it
    as it verifies any ResourceNotFound, and acknowledges an unlink that attempt applied.
    """

    code = "not_linked"


class ResourceConflict(Permanent):
    code = "ResourceConflictException"


class NotAuthorized(Permanent):
    code = "NotAuthorizedException"


class IdentitiesDenied(Permanent):
    """DeleteIdentities answered AccessDenied for some identities (in UnprocessedIdentityIds);
    the detail names them."""

    code = "AccessDenied"


class Throttled(UnlinkError):
    """Cognito asked us to slow down; it says nothing about the command."""

    code = "TooManyRequestsException"


class Transient(UnlinkError):
    """The call failed on the way or on the service's side: a later attempt may succeed."""


class InternalError(Transient):
    """Cognito's InternalErrorException (or an unmodeled 5xx)."""

    code = "InternalErrorException"


class ExternalServiceError(Transient):
    code = "ExternalServiceException"


class NetworkFault(Transient):
    code = "network_error"


class NotSent(NetworkFault):
    """The connection was refused or timed out while connecting: the request never left."""


class AccessDenied(Transient):
    """IAM refused the call: the worker's policy does not cover this command's pool, or not yet
    (an IAM change takes a while to reach every endpoint). Transient so the health gate decides:
    charged while other commands get through, so a command outside the policy reaches the DLQ;
    deferred when every command is denied (a role without the grant), which is the worker's."""

    code = "AccessDeniedException"


class UnexpectedError(Transient):
    """An exception nobody mapped; charged like a failure so it cannot loop for ever."""

    code = "unexpected_error"


class LookupFailed(Transient):
    """The look-up that would prove a lost answer's effect failed: the command's own trouble
    (it alone needed that look-up), charged to its budget, never to Cognito's health."""

    code = "verification_failed"


class NotTheMessagesFault(UnlinkError):
    """The worker or its surroundings failed: the message waits and is never charged."""


class WorkerFault(NotTheMessagesFault):
    """Credentials or configuration of the running worker."""

    code = "worker_fault"


class StoreUnavailable(NotTheMessagesFault):
    code = "idempotency_store_unavailable"


class InProgressElsewhere(NotTheMessagesFault):
    """Another worker holds a live claim on the same command."""

    code = "in_progress_elsewhere"


class ConfigurationError(UnlinkError):
    code = "configuration"
