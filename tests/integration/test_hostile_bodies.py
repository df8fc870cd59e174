"""Generated hostile bodies through the real queue: each ends in the DLQ with a clear reason."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import make_queues, send_all
from tests.integration.scenario import dlq_bodies
from tests.integration.worker_runner import run_until_idle, settings_for

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

pytestmark = pytest.mark.slow

# SQS accepts only these characters in a body (utf-8 already leaves out surrogates).
SQS_TEXT = st.characters(codec="utf-8", exclude_characters="\x00\x0b\x0c\ufffe\uffff").filter(
    lambda c: c in "\t\n\r" or ord(c) >= 0x20
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(SQS_TEXT)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(SQS_TEXT), inner)
)
FIELDS = ["IdentityId", "IdentityPoolId", "DeveloperProviderName", "DeveloperUserIdentifier"]


def near_miss() -> st.SearchStrategy[dict[str, Any]]:
    """Commands that look right but break a type, a pattern or a size."""
    bad_value = (
        st.integers()
        | st.lists(st.text(SQS_TEXT), max_size=2)
        | st.text(SQS_TEXT, max_size=3).map(lambda t: "x" + t)  # breaks the identity pattern
        | st.integers(1025, 60_000).map(lambda n: "u" * n)
        | st.none()
    )
    return st.builds(
        lambda field, value, action: {
            "action": action,
            "IdentityId": "us-east-1:0f0f",
            "IdentityPoolId": "us-east-1:0f0f",
            "DeveloperProviderName": "login.example.com",
            "DeveloperUserIdentifier": "u",
            field: value,
        },
        st.sampled_from(FIELDS[:3]),
        bad_value,
        st.sampled_from(["UnlinkDeveloperIdentity", "UnlinkIdentity"]),
    )


BODIES = st.lists(
    st.one_of(
        JSON.map(json.dumps),
        near_miss().map(json.dumps),
        st.text(SQS_TEXT, min_size=1, max_size=300),
        st.builds(lambda t, n: t * n, st.text(SQS_TEXT, min_size=1, max_size=4), st.just(15_000)),
    ),
    min_size=5,
    max_size=25,
    unique=True,
)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies=BODIES)
async def test_hostile_bodies_never_crash_the_worker(sqs: SQSClient, bodies: list[str]) -> None:
    queues = await make_queues(sqs)
    await send_all(sqs, queues.url, bodies)
    stats = await run_until_idle(settings_for(queues.url))
    assert stats.outcomes["unrouted"] == 0
    dead = await dlq_bodies(sqs, queues.dlq_url)
    assert sorted(dead) == sorted(bodies)
    assert stats.outcomes["dead_lettered"] == len(bodies)
