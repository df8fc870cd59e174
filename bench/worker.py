"""`python -m bench.worker run`: the worker with tuning knobs it does not expose.

For experiments only (`--aimd`, `--sqs-linger`, `--cognito-attempts`): it changes defaults the
composition root uses, then runs the ordinary `unlink-consumer run`. The default benchmark runs
`python -m consumer`.

    BENCH_AIMD="decrease_factor=0.7,increase_per_second=1"   AimdConfig fields
    BENCH_SQS_LINGER=0.05                                    seconds a batched SQS call waits
    BENCH_COGNITO_ATTEMPTS=1                                 botocore attempts per Cognito call
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from aiobotocore.config import AioConfig

from consumer import app, cli
from consumer.aws import sqs
from consumer.aws.ratelimit import AimdConfig
from consumer.settings import Settings


def parse_pairs(text: str) -> dict[str, float]:
    """`a=1,b=2.5` -> {"a": 1.0, "b": 2.5}; ValueError for anything else."""
    pairs: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=VALUE, got {item!r}")
        pairs[name.strip()] = float(value)
    return pairs


def _aimd(overrides: dict[str, float]) -> Callable[..., AimdConfig]:
    known = set(AimdConfig.__dataclass_fields__)
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown AimdConfig fields: {sorted(unknown)}; known: {sorted(known)}")

    def make(**kwargs: Any) -> AimdConfig:
        return AimdConfig(**{**overrides, **kwargs})

    return make


def _cognito_config(attempts: int) -> Callable[[Settings], AioConfig]:
    original = app.cognito_config

    def config(settings: Settings) -> AioConfig:
        retries = AioConfig(retries={"mode": "standard", "total_max_attempts": attempts})
        merged: AioConfig = original(settings).merge(retries)
        return merged

    return config


def configure(environ: dict[str, str]) -> None:
    """Applies the BENCH_* knobs found in `environ`."""
    aimd = parse_pairs(environ.get("BENCH_AIMD", ""))
    if aimd:
        setattr(app, "AimdConfig", _aimd(aimd))  # noqa: B010  # build_limiter looks it up here
    linger = environ.get("BENCH_SQS_LINGER")
    if linger:
        defaults = sqs.SqsQueue.__init__.__defaults__ or ()
        sqs.SqsQueue.__init__.__defaults__ = (*defaults[:-1], float(linger))
    attempts = environ.get("BENCH_COGNITO_ATTEMPTS")
    if attempts:
        setattr(app, "cognito_config", _cognito_config(int(attempts)))  # noqa: B010


def main() -> int:
    configure(dict(os.environ))
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
