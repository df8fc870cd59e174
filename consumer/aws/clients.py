"""The one place aiobotocore clients are made: region, and each service's timeouts and retries.

The worker (through `open_clients`) and the operator tools (through `client`) get the same
settings for the same service, so a tool never drifts from what the worker was tuned to.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

from consumer.core.errors import ConfigurationError
from consumer.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sqs import SQSClient

Service = Literal["sqs", "cognito-identity", "dynamodb"]


def sqs_config(settings: Settings) -> AioConfig:
    return AioConfig(
        # The read timeout sits above the long poll so a dead connection cannot hang a receive.
        read_timeout=settings.wait_time_seconds + 10,
        connect_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=settings.concurrency + 10,
    )


def cognito_config(settings: Settings) -> AioConfig:
    return AioConfig(
        read_timeout=settings.call_timeout_seconds,
        connect_timeout=5,
        # `standard`: `legacy` would not retry TooManyRequestsException (see the setting).
        retries={"mode": "standard", "total_max_attempts": settings.cognito_max_attempts},
        max_pool_connections=settings.concurrency + 4,
    )


def dynamodb_config(settings: Settings) -> AioConfig:
    return AioConfig(
        read_timeout=5,
        connect_timeout=3,
        retries={"mode": "standard", "total_max_attempts": 3},
        max_pool_connections=settings.concurrency + 4,
    )


CONFIGS: dict[Service, Callable[[Settings], AioConfig]] = {
    "sqs": sqs_config,
    "cognito-identity": cognito_config,
    "dynamodb": dynamodb_config,
}


# The worker's requests are built from what it has already checked: commands validated by their
# pydantic model (every constraint botocore's validator checks, and stricter ones), receipt handles
# and queue URLs SQS and the settings gave, keys the worker made. botocore's second validation of
# each request finds nothing and costs CPU on every call; the operator tools keep it.
WORKER_VALIDATION = AioConfig(parameter_validation=False)


def region_of(settings: Settings, session: AioSession) -> str:
    """The setting, else the AWS configuration's; a one-line error when there is neither."""
    region = settings.region or session.get_config_variable("region")
    if not region:
        raise ConfigurationError("AWS_REGION: no region configured (set AWS_REGION)")
    return str(region)


@overload
def client(
    service: Literal["sqs"],
    settings: Settings,
    session: AioSession | None = None,
    extra: AioConfig | None = None,
) -> AbstractAsyncContextManager[SQSClient]: ...
@overload
def client(
    service: Literal["cognito-identity"],
    settings: Settings,
    session: AioSession | None = None,
    extra: AioConfig | None = None,
) -> AbstractAsyncContextManager[CognitoIdentityClient]: ...
@overload
def client(
    service: Literal["dynamodb"],
    settings: Settings,
    session: AioSession | None = None,
    extra: AioConfig | None = None,
) -> AbstractAsyncContextManager[DynamoDBClient]: ...
def client(
    service: Service,
    settings: Settings,
    session: AioSession | None = None,
    extra: AioConfig | None = None,
) -> AbstractAsyncContextManager[Any]:
    """One client for ``service``, closed on exit: `async with client("sqs", settings) as sqs`.

    ``extra``: options merged over the service's configuration (`WORKER_VALIDATION`)."""
    session = session or get_session()
    config = CONFIGS[service](settings)
    if extra is not None:
        config = config.merge(extra)
    return session.create_client(service, region_name=region_of(settings, session), config=config)


@dataclass(slots=True)
class Clients:
    sqs: SQSClient
    cognito: CognitoIdentityClient
    dynamodb: DynamoDBClient | None


@contextlib.asynccontextmanager
async def open_clients(
    settings: Settings, session: AioSession | None = None
) -> AsyncIterator[Clients]:
    """One session and one long-lived client per service for the worker's lifetime, without
    botocore's parameter validation (`WORKER_VALIDATION`)."""
    session = session or get_session()
    region_of(settings, session)  # a missing region is one error before any client opens
    extra = WORKER_VALIDATION
    async with contextlib.AsyncExitStack() as stack:
        sqs = await stack.enter_async_context(client("sqs", settings, session, extra))
        cognito = await stack.enter_async_context(
            client("cognito-identity", settings, session, extra)
        )
        dynamodb = None
        if settings.idempotency_table:
            dynamodb = await stack.enter_async_context(client("dynamodb", settings, session, extra))
        yield Clients(sqs, cognito, dynamodb)
