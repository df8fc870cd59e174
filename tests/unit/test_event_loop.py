"""`unlink-consumer run` runs on uvloop where it is installed: sockets and timers in C."""

from __future__ import annotations

from consumer import cli


def test_the_worker_s_loop_is_uvloop() -> None:
    factory = cli.event_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()
