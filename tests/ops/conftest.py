"""Operations tests: the local stack over real HTTP, the CLI as a subprocess, the worker in-process.

The queue, Cognito and worker helpers come from the integration suite, so both suites speak to the
stack the same way.
"""

from __future__ import annotations

import asyncio
import functools
import os
import pty
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from consumer import app
from consumer.core.worker import Worker
from consumer.observe import metrics
from tests.integration.conftest import Pool, Queues, make_pool, make_queues

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient
    from types_aiobotocore_sqs import SQSClient

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_SECONDS = 60


@pytest.fixture
async def queues(sqs: SQSClient) -> Queues:
    return await make_queues(sqs)


@pytest.fixture
async def pool(cognito: CognitoIdentityClient) -> Pool:
    return await make_pool(cognito, name="ops", supported={"accounts.google.com": "client-id"})


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def cli(
    *args: str, env: dict[str, str], stdin: str | None = None, tty: bool = False
) -> Completed:
    """`python -m consumer ARGS` in a child process with the stack's environment.

    With ``tty`` its stderr is a terminal (a pseudo-terminal read here), as when a person runs it.
    """
    child_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "UNLINK_"))
    }
    child_env.update(env)
    terminal, child_side = pty.openpty() if tty else (-1, -1)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consumer",
        *args,
        cwd=REPO_ROOT,
        env=child_env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=child_side if tty else asyncio.subprocess.PIPE,
    )
    terminal_output = None
    if tty:
        os.close(child_side)
        terminal_output = asyncio.ensure_future(asyncio.to_thread(_read_until_closed, terminal))
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else None),
            CLI_TIMEOUT_SECONDS,
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    finally:
        if terminal_output is not None:
            err = await terminal_output
            os.close(terminal)
    assert process.returncode is not None
    return Completed(process.returncode, out.decode(), err.decode().replace("\r\n", "\n"))


def _read_until_closed(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child's side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def look(sqs: SQSClient, url: str) -> list[dict[str, Any]]:
    """Every visible message on a queue, left on it (made visible again at once)."""
    seen: list[dict[str, Any]] = []
    handles: list[str] = []
    try:
        while True:
            response = await sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=30,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            messages = response.get("Messages", [])
            if not messages:
                return seen
            for message in messages:
                attrs = {
                    k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()
                }
                seen.append({"body": message["Body"], "attributes": attrs, "raw": message})
                handles.append(message["ReceiptHandle"])
    finally:
        for start in range(0, len(handles), 10):
            entries: Any = [
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ]
            await sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def run_python(
    *args: str, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python ARGS` in a child process from the repository root, its output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=check,
        env=env,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Probes:
    """Where `app.run` serves its probes in a test, and the workers it has built so far."""

    port: int
    workers: list[Worker]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> Probes:
    """`app.run` with its probes on a free loopback port and no signal handlers of its own."""
    found = Probes(free_port(), [])
    # The probes listen on every interface in production; here on the loopback only.
    monkeypatch.setattr(app, "serve", functools.partial(metrics.serve, host="127.0.0.1"))
    monkeypatch.setattr(app, "install_signal_handlers", found.workers.append)
    return found


__all__ = ["Completed", "Probes", "cli", "free_port", "look", "run_python"]
