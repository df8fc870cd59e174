"""The processes a benchmark runs: the local stack and the workers, and their CPU and memory.

Each gets its own process (and so its own core when one is free), as in production. CPU is read
from `/proc/<pid>/stat` (user + system), memory from `VmRSS` in `/proc/<pid>/status`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float  # user + system seconds since the process started
    rss_kb: int
    at: float  # time.monotonic() of the sample
    # Voluntary context switches since the process started: how often it went to sleep and was
    # woken (a timer, a socket); an event loop's wake-ups, whoever asked for them.
    wakeups: int = 0


def usage(pid: int) -> Usage:
    """The process's CPU time and resident memory now."""
    at = time.monotonic()
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    rss = wakeups = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("voluntary_ctxt_switches:"):
            wakeups = int(line.split()[1])
    return Usage(cpu, rss, at, wakeups)


def cpu_share(start: Usage, end: Usage) -> float:
    """Share of one core used between two samples (1.0 = a whole core)."""
    return (end.cpu_s - start.cpu_s) / max(1e-9, end.at - start.at)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


class StackProcess:
    """`python -m consumer.local` on a free port, faults from its flags."""

    def __init__(
        self,
        log_path: Path,
        latency_ms: float = 0.0,
        quota: float | None = None,
        internal_error_rate: float = 0.0,
    ) -> None:
        command = [sys.executable, "-m", "consumer.local", "--port", "0"]
        command += ["--latency-ms", str(latency_ms)]
        command += ["--internal-error-rate", str(internal_error_rate)]
        if quota is not None:
            command += ["--quota", str(quota)]
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            command, stdout=subprocess.PIPE, stderr=self._log
        )
        self.env: dict[str, str] = {}
        try:
            self._read_env(self.process.stdout)
        except BaseException:
            self.stop()
            raise

    def _read_env(self, stdout: IO[bytes] | None) -> None:
        if stdout is None:
            raise RuntimeError("the local stack has no stdout")
        for raw in stdout:
            line = raw.decode().strip()
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                self.env[name] = value
            elif line.startswith("# admin"):
                return
        raise RuntimeError(f"the local stack exited with {self.process.wait()} before it started")

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def endpoint_url(self) -> str:
        return self.env["AWS_ENDPOINT_URL_SQS"]

    def stop(self) -> None:
        _stop(self.process, 10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


class WorkerProcess:
    """`python -m consumer run`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        command = [sys.executable, "-m", "consumer", "run"]
        with log_path.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603  # our own interpreter and module
                command, env=env, stdout=sink, stderr=sink
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 40.0) -> int:
        return _stop(self.process, timeout)


def worker_env(aws_env: dict[str, str], settings: dict[str, str]) -> dict[str, str]:
    """This environment without AWS_*/UNLINK_*, the stack's AWS variables, and the settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "UNLINK_"))}
    env.update(aws_env)
    env.update(settings)
    return env
