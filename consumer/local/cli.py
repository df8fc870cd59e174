"""`unlink-consumer local`: the local stack in the foreground until SIGINT or SIGTERM.

Prints the `export` lines that point a shell (and the worker started from it) at the stack, then
the admin URL, and blocks. Faults can be set here and changed later through `/_local/faults`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from consumer.local.faults import Faults
from consumer.local.stack import LocalStack

DEFAULT_PORT = 4566


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unlink-consumer local",
        description="Run SQS, DynamoDB, CloudFormation and Cognito Identity on 127.0.0.1.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (4566)",
    )
    parser.add_argument("--region", default="us-east-1", help="region of the exports (us-east-1)")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, metavar="MS", help="added to Cognito calls (0)"
    )
    parser.add_argument(
        "--quota",
        type=float,
        default=None,
        metavar="CALLS_PER_S",
        help="token-bucket quota on the unlink operations, shared by all callers (none)",
    )
    parser.add_argument(
        "--internal-error-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of unlink calls answered InternalErrorException, 0 to 1 (0)",
    )
    parser.add_argument(
        "--external-error-rate",
        type=float,
        default=0.0,
        metavar="P",
        help="share of UnlinkIdentity calls answered ExternalServiceException, 0 to 1 (0)",
    )
    return parser


def _faults(args: argparse.Namespace) -> Faults:
    return Faults(
        latency_s=args.latency_ms / 1000.0,
        quota_rps=args.quota,
        internal_error_rate=args.internal_error_rate,
        external_error_rate=args.external_error_rate,
    )


def serve(argv: Sequence[str] | None = None) -> int:
    """Runs the stack until SIGINT/SIGTERM; 2 for bad flags or a port that is taken."""
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        faults = _faults(args)
    except ValueError as error:
        parser.error(str(error))
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    try:
        stack = LocalStack(port=args.port, faults=faults, region=args.region).start()
    except OSError as error:
        print(f"unlink-consumer local: cannot listen on port {args.port}: {error}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for name, value in stack.env().items():
            print(f"export {name}={value}")
        print(f"# admin: {stack.admin_url}/ledger  {stack.admin_url}/faults", flush=True)
        print(f"local stack on {stack.endpoint_url}; Ctrl-C to stop", file=sys.stderr)
        while not stopping.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stack.stop()
    return 0
