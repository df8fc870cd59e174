"""`--profile`: where a worker's CPU goes, sampled from outside the process by py-spy.

py-spy reads the worker's stacks from another process, so the worker runs at its own speed and
its CPU figures stay true; a sample of a thread waiting in a system call (the event loop in
`epoll`) is dropped as idle, so what remains is CPU. Profilers inside the process bend what they
measure here: pyinstrument hooks every call and return (its wall clock made the worker six times
slower, its CPU clock twenty), and in async mode it charges an awaited 20 ms Cognito call to the
line that awaits it.

Writes PREFIX.txt (py-spy's collapsed stacks, one `frame;frame;... count` line per stack, for
flamegraph.pl or speedscope) and, from it, PREFIX-top.txt: the functions with the most self and
cumulative CPU, per command.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE_HZ = 1000  # samples per second while the worker runs
PY_SPY = Path(sys.executable).with_name("py-spy")


class Sampler:
    """py-spy attached to one process; it stops and writes its file when the process exits."""

    def __init__(self, pid: int, prefix: Path) -> None:
        self.prefix = prefix
        command = [str(PY_SPY), "record", "--pid", str(pid), "--rate", str(RATE_HZ)]
        # Never pause the worker to read it; one entry per function, not per line.
        command += ["--nonblocking", "--function", "--format", "raw"]
        command += ["--output", str(prefix.with_suffix(".txt"))]
        self._log = prefix.with_suffix(".log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603  # the venv's own py-spy
            command, stdout=self._log, stderr=self._log
        )

    def finish(self, commands: int, cpu_s: float, timeout: float = 30.0) -> None:
        """Once the worker has exited: waits for the file, then writes and prints the top, the
        samples' shares of ``cpu_s`` (the worker's CPU over the run, from the kernel)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
        stacks = self.prefix.with_suffix(".txt")
        if not stacks.exists():
            print(f"bench: no CPU profile; see {self.prefix.with_suffix('.log')}", file=sys.stderr)
            return
        text = top(stacks, commands, cpu_s)
        self.prefix.with_name(f"{self.prefix.name}-top.txt").write_text(text + "\n")
        print(text, file=sys.stderr)


def tally(stacks: Path) -> tuple[Counter[str], Counter[str], int]:
    """Samples by function: as the running frame (self), anywhere on the stack (cumulative,
    once per stack however often it recurses), and the total."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        own[frames[-1]] += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
        total += int(count)
    return own, anywhere, total


def top(stacks: Path, commands: int, cpu_s: float, count: int = 15) -> str:
    """The ``count`` functions with the most self CPU, then the most cumulative CPU, each as
    a share of the samples and that share of ``cpu_s``, over the run and per command.

    The samples are scaled to the kernel's count of CPU time because on a busy machine a worker
    that is ready to run but waits for a core is not idle to py-spy: the sample count overstates
    the time, and the shares lean towards the lines where the kernel hands the core to another
    process, right after a system call that wakes it (a socket's connect, write or close).
    """
    own, anywhere, total = tally(stacks)
    ms = 1000 * cpu_s / max(1, total)  # CPU milliseconds per sample
    per = 1000 * ms / max(1, commands)
    lines = [
        f"CPU profile {stacks.name}: {total} samples over {cpu_s:.2f} s of worker CPU, "
        f"{1000 * cpu_s / max(1, commands):.2f} ms per command over {commands} commands"
    ]
    for title, counter in (("self", own), ("cumulative", anywhere)):
        lines.append(f"  by {title} CPU:\n        ms   us/cmd   share  function")
        for function, samples in counter.most_common(count):
            share = 100 * samples / max(1, total)
            lines.append(f"  {samples * ms:>8.0f} {samples * per:>8.1f} {share:>6.1f}%  {function}")
    return "\n".join(lines)
