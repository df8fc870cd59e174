"""The benchmark's experiment knobs, spelled as the worker's own settings (UNLINK_*).

Every knob the benchmark varies is a documented setting in consumer/settings.py, so every worker
it starts is the ordinary `python -m consumer run`, configured through its environment alone:

    --sqs-linger 0.05                                   UNLINK_SQS_LINGER_SECONDS=0.05
    --cognito-attempts 1                                UNLINK_COGNITO_MAX_ATTEMPTS=1
"""

from __future__ import annotations


def knob_settings(sqs_linger: float | None, cognito_attempts: int | None) -> dict[str, str]:
    """The UNLINK_* variables for the knobs that are set; an unset knob keeps the default."""
    env: dict[str, str] = {}
    if sqs_linger is not None:
        env["UNLINK_SQS_LINGER_SECONDS"] = str(sqs_linger)
    if cognito_attempts is not None:
        env["UNLINK_COGNITO_MAX_ATTEMPTS"] = str(cognito_attempts)
    return env
