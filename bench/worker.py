"""The benchmark's experiment knobs, spelled as the worker's own settings (UNLINK_*).

Every knob the benchmark varies is a documented setting in consumer/settings.py, so every worker
it starts is the ordinary `python -m consumer run`, configured through its environment alone:

    --aimd decrease_factor=0.7,increase_per_second=1   UNLINK_RATE_CONTROL=aimd,
                                                        UNLINK_AIMD_DECREASE_FACTOR=0.7, ...
    --sqs-linger 0.05                                   UNLINK_SQS_LINGER_SECONDS=0.05
    --cognito-attempts 1                                UNLINK_COGNITO_MAX_ATTEMPTS=1
"""

from __future__ import annotations

from consumer.settings import Settings

AIMD_PREFIX = "aimd_"


def aimd_names() -> list[str]:
    """The AIMD constants a run can set: the `aimd_*` settings without their prefix."""
    return sorted(
        name.removeprefix(AIMD_PREFIX)
        for name in Settings.model_fields
        if name.startswith(AIMD_PREFIX)
    )


def parse_pairs(text: str) -> dict[str, float]:
    """`a=1,b=2.5` -> {"a": 1.0, "b": 2.5}; ValueError for anything else."""
    pairs: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        pairs[name.strip()] = float(value)
    return pairs


def parse_aimd(text: str) -> dict[str, float]:
    """`--aimd`'s value: pairs whose names are AIMD settings, checked before any worker starts."""
    pairs = parse_pairs(text)
    _check_aimd(pairs)
    return pairs


def _check_aimd(pairs: dict[str, float]) -> None:
    unknown = set(pairs) - set(aimd_names())
    if unknown:
        raise ValueError(f"unknown AIMD settings: {sorted(unknown)}; known: {aimd_names()}")


def knob_settings(
    aimd: dict[str, float], sqs_linger: float | None, cognito_attempts: int | None
) -> dict[str, str]:
    """The UNLINK_* variables for the knobs that are set; an unset knob keeps the default."""
    _check_aimd(aimd)
    env = {f"UNLINK_{AIMD_PREFIX}{name}".upper(): str(value) for name, value in aimd.items()}
    if aimd:
        env["UNLINK_RATE_CONTROL"] = "aimd"  # the aimd_* settings tune that limiter only
    if sqs_linger is not None:
        env["UNLINK_SQS_LINGER_SECONDS"] = str(sqs_linger)
    if cognito_attempts is not None:
        env["UNLINK_COGNITO_MAX_ATTEMPTS"] = str(cognito_attempts)
    return env
