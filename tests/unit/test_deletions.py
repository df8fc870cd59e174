"""The DeleteIdentities coalescer: whole commands per call, at most sixty ids, each command the
fate of its own ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from consumer.aws.cognito import translate
from consumer.aws.deletions import DeleteCoalescer
from consumer.core import errors


class Gate:
    """An unlimited limiter that counts its slots and successes."""

    rate = None

    def __init__(self) -> None:
        self.slots = 0
        self.successes = 0

    async def acquire(self) -> None:
        self.slots += 1

    def on_success(self) -> None:
        self.successes += 1

    def on_throttle(self, sent_at: float | None = None, *, repeated: bool = False) -> None:
        pass

    def on_answer(self, seconds: float) -> None:
        pass


class Service:
    """Records the ids of each call; ``left`` says which ids each call leaves, by call number."""

    def __init__(self, left: dict[int, dict[str, str]] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.left = left or {}

    async def __call__(self, ids: list[str]) -> list[tuple[str, str]]:
        self.calls.append(ids)
        left = self.left.get(len(self.calls), {})
        return [(i, code) for i, code in left.items() if i in ids]


def ident(n: int) -> str:
    return f"us-east-1:{n:08x}-0000-4000-8000-000000000000"


async def test_commands_in_flight_share_a_call_of_at_most_sixty_ids() -> None:
    service, gate = Service(), Gate()
    coalescer = DeleteCoalescer(service, gate, translate)
    started: list[int] = []

    def on_started(n: int) -> Callable[[], None]:
        return lambda: started.append(n)

    await asyncio.gather(*(coalescer.delete([ident(n)], on_started(n)) for n in range(70)))

    assert [len(ids) for ids in service.calls] == [60, 10]
    assert sorted(started) == list(range(70))
    assert coalescer.calls == gate.slots == gate.successes == 2


async def test_internal_server_error_ids_alone_go_again_then_fail_their_command() -> None:
    flaky, fine, other = ident(1), ident(2), ident(3)
    service = Service({1: {flaky: "InternalServerError"}, 2: {flaky: "InternalServerError"}})
    coalescer = DeleteCoalescer(service, Gate(), translate, max_tries=3)

    results = await asyncio.gather(
        coalescer.delete([flaky, fine]), coalescer.delete([other]), return_exceptions=True
    )

    assert list(results) == [None, None]  # healed at the third call
    assert service.calls == [[flaky, fine, other], [flaky], [flaky]]

    service = Service({n: {flaky: "InternalServerError"} for n in (1, 2, 3)})
    coalescer = DeleteCoalescer(service, Gate(), translate, max_tries=3)
    with pytest.raises(errors.InternalError, match=flaky):
        await coalescer.delete([flaky, fine])
    assert service.calls == [[flaky, fine], [flaky], [flaky]]


async def test_access_denied_fails_only_its_own_command_naming_the_ids() -> None:
    denied, beside, other = ident(1), ident(2), ident(3)
    service = Service({1: {denied: "AccessDenied"}})
    coalescer = DeleteCoalescer(service, Gate(), translate)

    mine, theirs = await asyncio.gather(
        coalescer.delete([denied, beside]), coalescer.delete([other]), return_exceptions=True
    )

    assert isinstance(mine, errors.IdentitiesDenied)
    assert denied in mine.detail
    assert beside not in mine.detail
    assert theirs is None
    assert len(service.calls) == 1  # AccessDenied is never sent again


async def test_a_failed_call_fails_every_command_in_it() -> None:
    async def down(ids: list[str]) -> list[tuple[str, str]]:
        raise ConnectionResetError

    coalescer = DeleteCoalescer(down, Gate(), translate)
    results = await asyncio.gather(
        coalescer.delete([ident(1)]), coalescer.delete([ident(2)]), return_exceptions=True
    )
    assert all(isinstance(r, errors.NetworkFault) for r in results)


async def test_a_cancelled_command_never_goes_out() -> None:
    service = Service()
    coalescer = DeleteCoalescer(service, Gate(), translate, linger=0.05)
    task = asyncio.create_task(coalescer.delete([ident(1)]))
    await asyncio.sleep(0)
    task.cancel()
    await coalescer.delete([ident(2)])
    assert service.calls == [[ident(2)]]
