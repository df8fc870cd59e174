"""Workers as real processes: `python -m consumer run`, as users and orchestrators start them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def worker_env(aws_env: dict[str, str], queue_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UNLINK_"))}
    env.update(aws_env)
    env.update(
        {
            "UNLINK_QUEUE_URL": queue_url,
            "UNLINK_WAIT_TIME_SECONDS": "1",
            "UNLINK_BACKOFF_BASE_SECONDS": "1",
            "UNLINK_BACKOFF_MAX_SECONDS": "2",
            "UNLINK_LOG_FORMAT": "json",
        }
    )
    env.update({f"UNLINK_{k.upper()}": v for k, v in settings.items()})
    return env


def start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "consumer", "run", *args],
            env=env,
            stdout=sink,
            stderr=sink,
        )


def stop_all(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every worker still running, then up to 30 s each to exit before a kill."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
