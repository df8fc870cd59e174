"""The worker's first log line lists its effective settings, and no secret."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from consumer import app
from consumer.settings import Settings
from tests.integration.conftest import Queues

SECRET_KEY = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE-SESSION-TOKEN"


async def test_start_line_lists_effective_settings_without_secrets(
    queues: Queues, monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str]
) -> None:
    # Credentials the SDK reads from the environment; the local stack accepts any.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    # Settings as a deployment sets them: environment variables plus a flag on top.
    monkeypatch.setenv("UNLINK_QUEUE_URL", queues.url)
    monkeypatch.setenv("UNLINK_CONCURRENCY", "7")
    monkeypatch.setenv("UNLINK_WAIT_TIME_SECONDS", "1")
    settings = Settings(max_attempts=5)  # the rest from the environment
    # A logger bound afresh, so an earlier structlog configuration cached elsewhere cannot
    # route the line around the capture.
    monkeypatch.setattr(app, "log", structlog.get_logger("consumer.app"))
    monkeypatch.setattr(app, "install_signal_handlers", lambda worker: None)

    with capture_logs() as logs:
        await app.run(settings, until_idle=True)

    first = logs[0]
    assert first["event"] == "worker_started"
    assert first["log_level"] == "info"
    effective = first["settings"]
    assert effective["queue_url"] == queues.url
    assert effective["concurrency"] == 7
    assert effective["max_attempts"] == 5
    assert effective["wait_time_seconds"] == 1
    assert effective["region"] == "us-east-1"
    assert effective["visibility_timeout_seconds"] == 30  # defaults are listed too
    assert set(effective) == set(Settings.model_fields)
    assert "limiter" in first
    everything = repr(logs)
    assert SECRET_KEY not in everything
    assert SESSION_TOKEN not in everything
    assert "testing" not in everything  # the access key id of the stack's environment
    # No pseudonym key configured: said once, at start-up, right after the settings.
    assert logs[1]["event"] == "pseudonym_key_missing"
    assert logs[1]["log_level"] == "warning"
    assert logs[-1]["event"] == "worker_stopped"


async def test_an_unknown_unlink_variable_is_named_in_one_warning_at_start_up(
    queues: Queues, monkeypatch: pytest.MonkeyPatch, aws_env: dict[str, str]
) -> None:
    monkeypatch.setenv("UNLINK_QUEUE_URL", queues.url)
    monkeypatch.setenv("UNLINK_WAIT_TIME_SECONDS", "0")
    monkeypatch.setenv("UNLINK_CONCURENCY", "64")  # the typo a deployment makes
    monkeypatch.setenv("UNLINK_IDEMPOTENCY_TTL", "3600")
    settings = Settings()
    monkeypatch.setattr(app, "log", structlog.get_logger("consumer.app"))
    monkeypatch.setattr(app, "install_signal_handlers", lambda worker: None)

    with capture_logs() as logs:
        await app.run(settings, until_idle=True)

    assert settings.concurrency == 32  # the misspelled value did nothing
    warnings = [line for line in logs if line["event"] == "unknown_settings"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["variables"] == {
        "UNLINK_CONCURENCY": "UNLINK_CONCURRENCY",
        "UNLINK_IDEMPOTENCY_TTL": "UNLINK_IDEMPOTENCY_TTL_SECONDS",
    }
