"""`unlink-consumer send`: enqueue commands with the AWS CLI's own flags, or many from a file.

Every command is validated before anything is sent, so a bad one never reaches the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions
from aiobotocore.session import get_session

from consumer.aws.batching import MAX_ENTRIES, BatchEntryFailed
from consumer.aws.clients import client
from consumer.aws.sqs import entry_size, send_batcher
from consumer.core.commands import command_to_body, parse_payload
from consumer.core.envelopes import decode
from consumer.core.errors import ConfigurationError, MalformedCommand
from consumer.settings import Settings, load_settings
from consumer.tools.progress import Progress

# `submit_many` sends at once; only an entry the service failed waits this long to go again.
LINGER_SECONDS = 0.02

SKELETONS: dict[str, dict[str, Any]] = {
    "unlink-developer-identity": {
        "IdentityId": "",
        "IdentityPoolId": "",
        "DeveloperProviderName": "",
        "DeveloperUserIdentifier": "",
    },
    "unlink-identity": {"IdentityId": "", "Logins": {"KeyName": ""}, "LoginsToRemove": [""]},
    "delete-identities": {"IdentityIdsToDelete": [""]},
}
ACTION_OF = {
    "unlink-developer-identity": "UnlinkDeveloperIdentity",
    "unlink-identity": "UnlinkIdentity",
    "delete-identities": "DeleteIdentities",
}

# The flag that sets each field, for error messages about a command built from flags.
FLAG_OF = {
    "IdentityId": "--identity-id",
    "IdentityPoolId": "--identity-pool-id",
    "DeveloperProviderName": "--developer-provider-name",
    "DeveloperUserIdentifier": "--developer-user-identifier",
    "Logins": "--logins",
    "LoginsToRemove": "--logins-to-remove",
    "IdentityIdsToDelete": "--identity-ids-to-delete",
    "command_id": "--command-id",
}


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    not_sent: int = 0


@dataclass(frozen=True, slots=True)
class Line:
    """One valid command of a file, with the line number it was read from and, when the line
    gave one, its own message group (a fair queue's tenant, or a FIFO group)."""

    number: int
    body: str
    group_id: str | None = None


# SQS's rule for a MessageGroupId: 1-128 characters, letters, digits and punctuation.
GROUP_ID = re.compile(r"[A-Za-z0-9!-/:-@\[-`{-~]{1,128}")


def add_parser(sub: Any) -> None:
    send = sub.add_parser("send", help="validate and enqueue commands")
    send.add_argument("--queue-url", default=None, help="default: UNLINK_QUEUE_URL")
    send.add_argument("--region", default=None, help="default: AWS_REGION or the profile's")
    send.add_argument("--file", type=Path, help="a JSON-lines file of commands, one per line")
    send.add_argument(
        "--message-group-id",
        default=None,
        type=_group_id,
        help="the group: a FIFO queue's order, a standard queue's tenant (a fair queue)",
    )
    send.set_defaults(handler=handle)
    ops = send.add_subparsers(dest="operation")
    for name in SKELETONS:
        op = ops.add_parser(name)
        if name == "delete-identities":
            op.add_argument("--identity-ids-to-delete", nargs="+", help="1 to 60 identity ids")
        else:
            # Without it, unlink-developer-identity names the user: the worker finds the identity.
            op.add_argument("--identity-id")
        if name == "unlink-developer-identity":
            op.add_argument("--identity-pool-id")
            op.add_argument("--developer-provider-name")
            op.add_argument("--developer-user-identifier")
        elif name == "unlink-identity":
            op.add_argument("--logins", help='JSON, or shorthand "provider=token,..."')
            op.add_argument("--logins-to-remove", nargs="+")
        op.add_argument("--command-id")
        op.add_argument("--cli-input-json", help="JSON string, or file://path")
        op.add_argument(
            "--generate-cli-skeleton", nargs="?", const="input", choices=["input", "output"]
        )


def _group_id(value: str) -> str:
    if not GROUP_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(
            "1-128 letters, digits or punctuation (SQS's MessageGroupId)"
        )
    return value


def _json_object(text: str, flag: str) -> dict[str, Any]:
    """A flag's JSON object, or `MalformedCommand` naming the flag."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise MalformedCommand(f"{flag}: not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise MalformedCommand(f"{flag}: expected a JSON object")
    return parsed


def _logins(value: str) -> dict[str, str]:
    stripped = value.strip()
    if stripped.startswith("{"):
        return _json_object(stripped, "--logins")
    pairs = [p for p in stripped.split(",") if p]
    if not all("=" in p for p in pairs):
        raise MalformedCommand("--logins: expected JSON or provider=token[,provider=token]")
    return dict(p.split("=", 1) for p in pairs)


def _cli_input(value: str) -> dict[str, Any]:
    if value.startswith("file://"):
        path = Path(value[len("file://") :])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise MalformedCommand(f"--cli-input-json: cannot read {path}: {reason}") from None
    else:
        text = value
    return _json_object(text, "--cli-input-json")


def command_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The command object: --cli-input-json first, flags on top (as the AWS CLI does)."""
    request: dict[str, Any] = _cli_input(args.cli_input_json) if args.cli_input_json else {}
    flags: dict[str, Any] = {
        "IdentityId": getattr(args, "identity_id", None),
        "command_id": args.command_id,
    }
    if args.operation == "delete-identities":
        flags["IdentityIdsToDelete"] = args.identity_ids_to_delete
    elif args.operation == "unlink-developer-identity":
        flags |= {
            "IdentityPoolId": args.identity_pool_id,
            "DeveloperProviderName": args.developer_provider_name,
            "DeveloperUserIdentifier": args.developer_user_identifier,
        }
    else:
        flags |= {
            "Logins": _logins(args.logins) if args.logins else None,
            "LoginsToRemove": args.logins_to_remove,
        }
    request |= {k: v for k, v in flags.items() if v is not None}
    # The operation named on the command line decides the action, whatever the input JSON says.
    return {**request, "action": ACTION_OF[args.operation]}


def flag_names(detail: str) -> str:
    """A validation detail in terms of flags: "UnlinkIdentity.Logins.x: ..." becomes
    "--logins (Logins).x: ..."."""
    parts = []
    for part in detail.split("; "):
        where, sep, rule = part.partition(": ")
        path = where.split(".")
        if path[0] in ACTION_OF.values() and len(path) > 1:
            path = path[1:]
        if sep and path[0] in FLAG_OF:
            field = path[0]
            where = ".".join([f"{FLAG_OF[field]} ({field})", *path[1:]])
        parts.append(f"{where}{sep}{rule}")
    return "; ".join(parts)


def handle(args: argparse.Namespace) -> int:
    if args.operation and args.generate_cli_skeleton:
        skeleton = SKELETONS[args.operation] if args.generate_cli_skeleton == "input" else {}
        print(json.dumps(skeleton, indent=4))
        return 0
    if not args.operation and not args.file:
        raise ConfigurationError("send: name an operation or --file (see --help)")
    settings = load_settings({"queue_url": args.queue_url, "region": args.region})
    if args.file:
        return asyncio.run(_send_file(settings, args.file, args.message_group_id))
    try:
        command = parse_payload(command_from_flags(args))
    except MalformedCommand as exc:
        print(f"unlink-consumer: invalid command: {flag_names(exc.detail)}", file=sys.stderr)
        return 2
    lines = [Line(0, command_to_body(command))]
    report = asyncio.run(_send_bodies(settings, lines, args.message_group_id))
    return 1 if report.not_sent else 0


def read_commands(path: Path) -> tuple[list[Line], list[str]]:
    """Valid bodies, and one error line per bad line (with its number, never its content).

    A line is a command (or an envelope the worker unwraps), or an SQS entry that gives its own
    group: ``{"MessageBody": <command>, "MessageGroupId": "tenant-7"}``.
    """
    bodies: list[Line] = []
    problems: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                read = _line(number, text)
            except MalformedCommand as exc:
                problems.append(f"line {number}: {exc.detail}")
                continue
            bodies.append(read)
    return bodies, problems


def _line(number: int, text: str) -> Line:
    """One line as a `Line`, or `MalformedCommand` naming what is wrong."""
    group = None
    if text.startswith("{") and '"MessageBody"' in text:
        try:
            entry = json.loads(text)
        except ValueError:
            entry = None  # decode() below names what is wrong
        if isinstance(entry, dict) and "MessageBody" in entry:
            body, group = entry["MessageBody"], entry.get("MessageGroupId")
            if group is not None and not (isinstance(group, str) and GROUP_ID.fullmatch(group)):
                raise MalformedCommand("MessageGroupId: 1-128 letters, digits or punctuation")
            text = body if isinstance(body, str) else json.dumps(body)
    decode(text)
    return Line(number, text, group)


async def _send_file(settings: Settings, path: Path, group_id: str | None) -> int:
    try:
        bodies, problems = read_commands(path)
    except OSError as exc:
        raise ConfigurationError(f"--file: {exc.strerror}: {path}") from None
    for problem in problems:
        print(problem, file=sys.stderr)
    report = await _send_bodies(settings, bodies, group_id) if bodies else SendReport()
    print(
        f"sent {report.sent}, rejected {len(problems)}, not sent {report.not_sent}",
        file=sys.stderr,
    )
    return 1 if problems or report.not_sent else 0


async def _send_bodies(settings: Settings, lines: list[Line], group_id: str | None) -> SendReport:
    """Sends ten at a time through the SQS adapter's batcher (which also keeps each call within
    SQS's 1 MiB); a failed entry is reported with its line number (0: from flags)."""
    report = SendReport()
    progress = Progress(len(lines), "sending")
    async with client("sqs", settings, get_session()) as sqs:
        sends = send_batcher(sqs, settings.queue_url, "send", LINGER_SECONDS)
        for start in range(0, len(lines), MAX_ENTRIES):
            window = lines[start : start + MAX_ENTRIES]
            entries = [
                (
                    _entry(line, settings.is_fifo, line.group_id or group_id),
                    entry_size(line.body, {}),
                )
                for line in window
            ]
            results = await sends.submit_many(entries)
            report.sent += results.count(None)
            for line, result in zip(window, results, strict=True):
                if isinstance(result, BatchEntryFailed):
                    report.not_sent += 1
                    where = f"line {line.number}" if line.number else "command"
                    progress.message(f"{where}: not sent: {result.code} {result.message}".rstrip())
                elif result is not None:
                    return _stopped(report, progress, len(lines), line, result)
            progress.advance(len(window))
    progress.close()
    return report


def _entry(line: Line, fifo: bool, group_id: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"MessageBody": line.body}
    if fifo:
        entry["MessageGroupId"] = group_id or "default"
        entry["MessageDeduplicationId"] = _dedup_id(line.body)
    elif group_id is not None:
        entry["MessageGroupId"] = group_id  # a standard queue with groups is a fair queue
    return entry


def _stopped(
    report: SendReport, progress: Progress, total: int, first: Line, error: BaseException
) -> SendReport:
    """A call failed as a whole (no queue, no credentials): nothing after it is sent."""
    if not isinstance(error, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
        raise error
    progress.close()
    report.not_sent = total - report.sent
    where = f" from line {first.number} on" if first.number else ""
    print(f"unlink-consumer: SendMessageBatch failed: {error}", file=sys.stderr)
    print(f"not sent: {report.not_sent} command(s){where}", file=sys.stderr)
    return report


def _dedup_id(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()
