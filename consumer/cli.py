"""Entry points: `unlink-consumer run | send | local | dlq | fleet`.

Settings come from the environment (UNLINK_*) and flags override them; `run`'s flags are generated
from the settings model (consumer/flags.py). As in the AWS CLI, `--region`, `--profile`,
`--endpoint-url` and `--queue-url` go before or after the command and its operation, and a
command's own options after its operation too (`dlq peek --dlq-url URL`). A bad or missing setting
is one line naming it and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import botocore.exceptions

from consumer import __version__, app, flags
from consumer.core.errors import ConfigurationError
from consumer.observe import logs
from consumer.tools import dlq, fleet
from consumer.tools import send as producer

EXIT_USAGE = 2
LOCAL_EXTRA = "cognito-unlink-consumer[local]"
# Settings that are also global options; the SDK options are the AWS CLI's own.
GLOBAL_SETTINGS = ("region", "queue_url")
SDK_OPTIONS = {"profile": "AWS_PROFILE", "endpoint_url": "AWS_ENDPOINT_URL"}
SERVICES = ("SQS", "COGNITO_IDENTITY", "DYNAMODB")  # the clients the commands build
CREDENTIALS_HELP = (
    "give the worker credentials as for the AWS CLI: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "a profile (--profile or AWS_PROFILE), or a role (instance profile, ECS task role, "
    "EKS service account)"
)

Option = tuple[tuple[str, ...], dict[str, Any], argparse.Action]


class _Parser(argparse.ArgumentParser):
    """Remembers its options and commands, so a command's options can be repeated on the
    operations below it (see `_share`)."""

    def __init__(self, *args: Any, passthrough: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: list[Option] = []
        self.commands: dict[str, _Parser] = {}
        self.passthrough = passthrough  # parses its own arguments (`local`)

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*names, **kwargs)
        if action.option_strings and kwargs.get("action") not in ("help", "version"):
            self.options.append((tuple(names), kwargs, action))
        return action

    def add_subparsers(self, **kwargs: Any) -> Any:
        commands = super().add_subparsers(**kwargs)
        self.commands = commands.choices
        return commands


def _share(parser: _Parser, inherited: list[Option]) -> None:
    """Every operation accepts the options of the commands above it.

    The copies default to SUPPRESS, so an operation that is not given the option leaves the
    value its command (or the top level) parsed in place.
    """
    options = [*inherited, *parser.options]
    for child in parser.commands.values():
        if child.passthrough:
            continue
        known = {name for names, _, _ in child.options for name in names}
        picked: list[Option] = []
        # The nearest definition wins: a command's own option before a global one.
        for option in reversed(options):
            if not known.intersection(option[0]):
                picked.insert(0, option)
                known.update(option[0])
        group = child.add_argument_group("options of the commands above")
        for names, kwargs, _ in picked:
            group.add_argument(*names, **(kwargs | {"default": argparse.SUPPRESS}))
        _share(child, options)


def _suppress_global_defaults(parser: _Parser) -> None:
    """A global option's value wins wherever it was given: no level resets it to its default."""
    for _, _, action in parser.options:
        if action.dest in (*GLOBAL_SETTINGS, *SDK_OPTIONS):
            action.default = argparse.SUPPRESS
    for child in parser.commands.values():
        _suppress_global_defaults(child)


def _parser() -> _Parser:
    parser = _Parser(
        prog="unlink-consumer",
        description="Runs Cognito Identity unlink commands from an SQS queue exactly once.",
        epilog="`unlink-consumer COMMAND --help` shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for name in GLOBAL_SETTINGS:
        flags.add_setting(parser, name)
    parser.add_argument(
        "--profile", metavar="NAME", help="AWS profile to use (default: unset; env AWS_PROFILE)"
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="AWS endpoint for every service, e.g. a local stack (env AWS_ENDPOINT_URL)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the worker",
        description="Run the worker. Every flag overrides its environment variable.",
    )
    flags.add_settings(run, skip=GLOBAL_SETTINGS)
    run.add_argument("--until-idle", action="store_true", help="stop once the queue is empty")

    producer.add_parser(sub)
    sub.add_parser(
        "local",
        help=f"run the embedded local AWS stack in the foreground (needs {LOCAL_EXTRA})",
        add_help=False,  # `local --help` is the local stack's own
        passthrough=True,
    )
    dlq.add_parser(sub)
    fleet.add_parser(sub)
    _share(parser, [])
    _suppress_global_defaults(parser)
    return parser


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop wherever it is installed (all but Windows): the worker's sockets, timers and
    callbacks then run in C, where asyncio's own loop spends a quarter of the worker's CPU per
    command in Python; None (asyncio's loop) elsewhere."""
    try:
        import uvloop  # noqa: PLC0415  # optional on platforms without it
    except ModuleNotFoundError:
        return None
    return uvloop.new_event_loop


def _run(args: argparse.Namespace) -> int:
    settings = flags.load(flags.given(args))
    logs.configure(settings.log_format, settings.log_level)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(app.run(settings, until_idle=args.until_idle))
    return 0


def _local(argv: list[str], region: str | None) -> int:
    try:
        # The local stack needs moto, an optional extra: imported only when asked for.
        from consumer.local.cli import serve  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        print(
            f"unlink-consumer local: needs the [local] extra ({exc.name} is not installed): "
            f"pip install '{LOCAL_EXTRA}'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if region is not None and "--region" not in argv:
        argv = ["--region", region, *argv]
    return serve(argv)


def _use_sdk_options(args: argparse.Namespace) -> None:
    """`--profile` and `--endpoint-url` mean what AWS_PROFILE and AWS_ENDPOINT_URL mean to
    botocore; set here, they reach every client the command builds."""
    for option, variable in SDK_OPTIONS.items():
        value = getattr(args, option, None)
        if value:
            os.environ[variable] = value
    if args.endpoint_url:
        # As in the AWS CLI the flag wins, also over a service's own AWS_ENDPOINT_URL_<SERVICE>.
        for service in SERVICES:
            os.environ[f"AWS_ENDPOINT_URL_{service}"] = args.endpoint_url


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "local":
        return _local(rest, getattr(args, "region", None))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    for name in (*GLOBAL_SETTINGS, *SDK_OPTIONS):
        if not hasattr(args, name):
            setattr(args, name, None)
    _use_sdk_options(args)
    return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    """Runs the command; what the user can fix is one line on stderr, never a traceback."""
    try:
        if args.command == "run":
            return _run(args)
        handler: Any = args.handler
        return int(handler(args))
    except ConfigurationError as exc:
        print(f"unlink-consumer: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    except botocore.exceptions.NoCredentialsError as exc:
        print(f"unlink-consumer: {exc}: {CREDENTIALS_HELP}", file=sys.stderr)
        return 1
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        # An AWS call failed outright (no such queue, no such profile, endpoint unreachable).
        print(f"unlink-consumer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
