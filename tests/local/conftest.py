"""One local stack per test module, clients without retries, a fresh pool per test, and the stack
as a child process for the command-line tests."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from consumer.local.faults import Faults
from consumer.local.seed import create_pool
from consumer.local.seeded import SeededPool
from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient

# Injected errors must reach the test as they are, not be retried away. (In botocore's retry
# config `max_attempts` counts retries after the first call; `total_max_attempts` counts calls.)
RETRIES: Final = {"total_max_attempts": 1, "mode": "standard"}
NO_RETRIES = AioConfig(retries=RETRIES)
# Lets malformed requests reach the server, whose validation is what is under test.
UNVALIDATED = AioConfig(retries=RETRIES, parameter_validation=False)


@pytest.fixture(scope="module")
def module_stack() -> Iterator[LocalStack]:
    with LocalStack() as stack:
        yield stack


@pytest.fixture
def stack(module_stack: LocalStack) -> Iterator[LocalStack]:
    """The module's stack, its faults back to none after each test."""
    yield module_stack
    module_stack.faults.update(Faults().to_json())


def client_kwargs(stack: LocalStack, config: AioConfig = NO_RETRIES) -> dict[str, Any]:
    return {
        "endpoint_url": stack.endpoint_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": config,
    }


@pytest.fixture
async def cognito(stack: LocalStack) -> AsyncIterator[CognitoIdentityClient]:
    async with get_session().create_client("cognito-identity", **client_kwargs(stack)) as client:
        yield client


@pytest.fixture
async def raw_cognito(stack: LocalStack) -> AsyncIterator[CognitoIdentityClient]:
    """A client that sends whatever it is given, for server-side validation tests."""
    kwargs = client_kwargs(stack, UNVALIDATED)
    async with get_session().create_client("cognito-identity", **kwargs) as client:
        yield client


@pytest.fixture
async def pool(cognito: CognitoIdentityClient) -> SeededPool:
    return await create_pool(cognito)


def read_exports(process: subprocess.Popen[str]) -> dict[str, str]:
    """The `export NAME=value` lines the stack prints before its admin line."""
    assert process.stdout is not None
    exports: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("# admin"):
            break
        match = re.fullmatch(r"export (\w+)=(\S+)\n", line)
        assert match, line
        exports[match[1]] = match[2]
    return exports


@contextlib.contextmanager
def local_process(
    *args: str, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """`python ARGS` serving the stack as a child process, and what it exports; killed on exit."""
    with subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            yield process, read_exports(process)
        finally:
            process.kill()
