"""A call whose first attempt lost its answer stays evidence, even if its retry never connected.

When a connection drops after the request went out, botocore retries; while Cognito is cut off the
retry is refused (`EndpointConnectionError`, "not sent"), and that refusal is what the call
raises. The first attempt may have applied the unlink, so the error must still say the answer
was lost: otherwise the command's next attempt meets ResourceNotFound, does not verify, and a
valid command is dead-lettered (seen in the outage benchmark: one per call cut mid-flight).
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from consumer.aws.cognito import translate
from consumer.aws.pacing import AttemptPacing
from consumer.rate.limiter import QuotaLimiter
from tests.fakes import FakeClock


def pacing() -> AttemptPacing:
    return AttemptPacing(QuotaLimiter(FakeClock()))


def dropped() -> Exception:
    return botocore.exceptions.ConnectionClosedError(endpoint_url="http://cognito")


def refused() -> Exception:
    return botocore.exceptions.EndpointConnectionError(endpoint_url="http://cognito")


async def test_a_refused_retry_after_a_dropped_connection_says_the_answer_was_lost() -> None:
    hooks = pacing()
    context: dict[str, Any] = {}
    final = refused()
    with hooks.call() as attempts:
        hooks.response_received(context=context, exception=dropped())
        hooks.response_received(context=context, exception=final)
    assert attempts.lost_before
    assert translate(final).code == "network_error"


async def test_a_call_refused_every_time_sent_nothing() -> None:
    hooks = pacing()
    context: dict[str, Any] = {}
    with hooks.call() as attempts:
        hooks.response_received(context=context, exception=refused())
        hooks.response_received(context=context, exception=refused())
    assert not attempts.lost_before


async def test_a_call_that_lost_only_its_last_answer_reports_no_earlier_loss() -> None:
    # The final attempt's own loss is its error's class (a network fault), not an earlier one's.
    hooks = pacing()
    context: dict[str, Any] = {}
    with hooks.call() as attempts:
        hooks.response_received(context=context, exception=refused())
        hooks.response_received(context=context, exception=dropped())
    assert not attempts.lost_before
