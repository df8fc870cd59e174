"""The visibility keeper: what it believes of a message's deadline is what SQS holds."""

from __future__ import annotations

import asyncio

from consumer.core.messages import Message
from consumer.core.visibility import VisibilityKeeper
from tests.unit.worker_fakes import MemoryQueue, VirtualClock


class FlakyQueue(MemoryQueue):
    """Refuses the first visibility change, then accepts."""

    refusals: int = 1

    async def change_visibility(self, message: Message, seconds: int) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("SQS did not answer")
        await super().change_visibility(message, seconds)


async def test_a_failed_extension_leaves_the_deadline_where_sqs_has_it_and_is_tried_again() -> None:
    clock = VirtualClock()
    queue = FlakyQueue(clock)
    queue.put("{}")
    [message] = await queue.receive(1, 0)  # hidden for 60 s from now
    keeper = VisibilityKeeper(queue, clock, 60)
    keeper.track(message)
    task = asyncio.create_task(keeper.run())
    # Due at 30 s left: the pass at 40 s fails; the next pass (50 s) must try again, well before
    # the message reappears at 60 s, not half a timeout later.
    await clock.advance(55)
    task.cancel()
    extended = [when - 1_000.0 for mid, _, when in queue.visibility if mid == message.message_id]
    assert extended == [50.0]
    stored = queue.get(message.message_id)
    assert stored is not None
    assert stored.visible_at > clock.now  # never reappeared while the worker still held it
