"""The producer's trace from a message: W3C `traceparent` or X-Ray's AWSTraceHeader."""

from __future__ import annotations

import pytest

from consumer.core.messages import Message
from consumer.core.tracecontext import TraceParent, from_traceparent, from_xray, trace_of

W3C = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_traceparent() -> None:
    assert from_traceparent(W3C) == TraceParent(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", sampled=True
    )
    assert from_traceparent(W3C[:-2] + "00") == TraceParent(
        "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", sampled=False
    )


def test_x_ray_header_in_the_w3c_form() -> None:
    assert from_xray(XRAY) == TraceParent(
        "5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", sampled=True
    )
    # Lambda and SQS may leave the parent out, and write the fields in any order.
    assert from_xray("Sampled=0;Root=1-5759e988-bd862e3fe1be46a994272793") == TraceParent(
        "5759e988bd862e3fe1be46a994272793", None, sampled=False
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # the invalid trace id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # one digit short
    ],
)
def test_an_invalid_traceparent_is_no_trace(value: str) -> None:
    assert from_traceparent(value) is None


@pytest.mark.parametrize("value", ["", "Root=2-5759e988-bd862e3fe1be46a994272793", "Parent=1"])
def test_an_invalid_x_ray_header_is_no_trace(value: str) -> None:
    assert from_xray(value) is None


def test_traceparent_wins_and_a_bad_one_falls_back_to_x_ray() -> None:
    assert trace_of(W3C, XRAY) == from_traceparent(W3C)
    assert trace_of("garbage", XRAY) == from_xray(XRAY)
    assert trace_of(None, None) is None


def test_a_received_message_carries_both() -> None:
    raw = {
        "MessageId": "m",
        "ReceiptHandle": "r",
        "Body": "{}",
        "Attributes": {"ApproximateReceiveCount": "1", "AWSTraceHeader": XRAY},
        "MessageAttributes": {"traceparent": {"DataType": "String", "StringValue": W3C}},
    }
    message = Message.from_sqs(raw)
    assert message.aws_trace_header == XRAY
    assert message.trace == from_traceparent(W3C)
    del raw["MessageAttributes"]
    assert Message.from_sqs(raw).trace == from_xray(XRAY)
