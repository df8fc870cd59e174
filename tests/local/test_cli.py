"""`unlink-consumer local` (`python -m consumer.local`): exports, faults, clean signal exits."""

from __future__ import annotations

import signal

import pytest

from consumer.local.admin_client import AdminClient
from consumer.local.cli import serve
from consumer.local.stack import LocalStack
from tests.local.conftest import local_process


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_runs_in_the_foreground_until_a_signal(stop_signal: signal.Signals) -> None:
    flags = ["--port", "0", "--latency-ms", "5", "--quota", "40", "--internal-error-rate", "0.1"]
    with local_process("-m", "consumer.local", *flags) as (process, exports):
        url = exports["AWS_ENDPOINT_URL_COGNITO_IDENTITY"]
        assert url.startswith("http://127.0.0.1:")
        assert exports["AWS_ENDPOINT_URL_SQS"] == url
        faults = AdminClient(url).faults()
        assert (faults.latency_s, faults.quota_rps, faults.internal_error_rate) == (
            0.005,
            40,
            0.1,
        )
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0


def test_bad_flags_exit_2() -> None:
    with pytest.raises(SystemExit) as exit_:
        serve(["--internal-error-rate", "2"])
    assert exit_.value.code == 2


def test_a_taken_port_exits_2(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve(["--port", str(stack.port)]) == 2
    assert "cannot listen" in capsys.readouterr().err
