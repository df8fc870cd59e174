"""Entry points: `unlink-consumer run | send | local | dlq`.

Settings come from the environment (UNLINK_*) and flags override them. A bad or missing setting is
one line naming it and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import botocore.exceptions

from consumer import app
from consumer.core.errors import ConfigurationError
from consumer.observe import logs
from consumer.settings import load_settings
from consumer.tools import dlq
from consumer.tools import send as producer

EXIT_USAGE = 2

# Flags of `run` and the settings they override.
RUN_FLAGS: dict[str, tuple[str, type]] = {
    "--queue-url": ("queue_url", str),
    "--dlq-url": ("dlq_url", str),
    "--idempotency-table": ("idempotency_table", str),
    "--concurrency": ("concurrency", int),
    "--wait-time-seconds": ("wait_time_seconds", int),
    "--visibility-timeout-seconds": ("visibility_timeout_seconds", int),
    "--max-attempts": ("max_attempts", int),
    "--grace-period-seconds": ("grace_period_seconds", float),
    "--rate-limit": ("rate_limit", float),
    "--metrics-port": ("metrics_port", int),
    "--log-format": ("log_format", str),
    "--log-level": ("log_level", str),
    "--region": ("region", str),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unlink-consumer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the worker")
    for flag, (_, kind) in RUN_FLAGS.items():
        run.add_argument(flag, type=kind, default=None)
    run.add_argument("--until-idle", action="store_true", help="stop once the queue is empty")

    producer.add_parser(sub)

    local = sub.add_parser("local", help="run the embedded local AWS stack in the foreground")
    local.add_argument("args", nargs=argparse.REMAINDER)

    dlq.add_parser(sub)
    return parser


def _run(args: argparse.Namespace) -> int:
    overrides = {
        setting: getattr(args, flag[2:].replace("-", "_"))
        for flag, (setting, _) in RUN_FLAGS.items()
    }
    settings = load_settings(overrides)
    logs.configure(settings.log_format, settings.log_level)
    asyncio.run(app.run(settings, until_idle=args.until_idle))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "local":
            # The local stack needs moto, an optional extra: imported only when asked for.
            from consumer.local.cli import serve  # noqa: PLC0415

            return serve(args.args)
        handler: Any = args.handler
        return int(handler(args))
    except ConfigurationError as exc:
        print(f"unlink-consumer: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        # An AWS call failed outright (no such queue, no credentials, endpoint unreachable).
        print(f"unlink-consumer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
