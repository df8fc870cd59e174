"""The project's error tree; foreign errors are mapped onto it at the boundary.

UnlinkError
├── MalformedCommand           the body is not a valid command (permanent)
├── CommandFailed              Cognito Identity rejected or failed the call
│   ├── PermanentFailure       no retry can fix it
│   │   ├── InvalidParameter · ResourceNotFound · ResourceConflict · NotAuthorized
│   └── TransientFailure       a later retry may succeed
│       ├── Throttled · InternalError · ExternalServiceError · NetworkFault
├── WorkerFault                the worker's own problem (credentials, configuration)
└── StoreUnavailable           the idempotency store cannot be reached
"""

from __future__ import annotations

from typing import ClassVar


class UnlinkError(Exception):
    """Base of every error the project raises on purpose."""

    code: ClassVar[str] = "UnlinkError"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedCommand(UnlinkError):
    code = "malformed"


class CommandFailed(UnlinkError):
    pass


class PermanentFailure(CommandFailed):
    pass


class InvalidParameter(PermanentFailure):
    code = "InvalidParameterException"


class ResourceNotFound(PermanentFailure):
    code = "ResourceNotFoundException"


class ResourceConflict(PermanentFailure):
    code = "ResourceConflictException"


class NotAuthorized(PermanentFailure):
    code = "NotAuthorizedException"


class TransientFailure(CommandFailed):
    pass


class Throttled(TransientFailure):
    code = "TooManyRequestsException"


class InternalError(TransientFailure):
    code = "InternalErrorException"


class ExternalServiceError(TransientFailure):
    code = "ExternalServiceException"


class NetworkFault(TransientFailure):
    code = "network_error"


class InProgressElsewhere(TransientFailure):
    """Another worker holds a live claim on the same command."""

    code = "in_progress_elsewhere"


class WorkerFault(UnlinkError):
    """Credentials or configuration: never a message's fault, never charged to its budget."""

    code = "worker_fault"


class StoreUnavailable(TransientFailure):
    code = "idempotency_store_unavailable"


class ConfigurationError(UnlinkError):
    code = "configuration"
