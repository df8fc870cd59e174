"""`unlink-consumer send`: enqueue commands with the AWS CLI's own flags, or many from a file.

Every command is validated before anything is sent, so a bad one never reaches the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session

from consumer.app import sqs_config
from consumer.commands import command_to_body, parse_payload
from consumer.envelopes import decode
from consumer.errors import ConfigurationError, MalformedCommand
from consumer.progress import Progress
from consumer.settings import load_settings

SKELETONS: dict[str, dict[str, Any]] = {
    "unlink-developer-identity": {
        "IdentityId": "",
        "IdentityPoolId": "",
        "DeveloperProviderName": "",
        "DeveloperUserIdentifier": "",
    },
    "unlink-identity": {"IdentityId": "", "Logins": {"KeyName": ""}, "LoginsToRemove": [""]},
}
ACTION_OF = {
    "unlink-developer-identity": "UnlinkDeveloperIdentity",
    "unlink-identity": "UnlinkIdentity",
}


def add_parser(sub: Any) -> None:
    send = sub.add_parser("send", help="validate and enqueue commands")
    send.add_argument("--queue-url", default=None, help="default: UNLINK_QUEUE_URL")
    send.add_argument("--region", default=None)
    send.add_argument("--file", type=Path, help="a JSON-lines file of commands, one per line")
    send.add_argument("--message-group-id", default=None, help="FIFO queues only")
    send.set_defaults(handler=handle)
    ops = send.add_subparsers(dest="operation")
    for name in SKELETONS:
        op = ops.add_parser(name)
        op.add_argument("--identity-id")
        if name == "unlink-developer-identity":
            op.add_argument("--identity-pool-id")
            op.add_argument("--developer-provider-name")
            op.add_argument("--developer-user-identifier")
        else:
            op.add_argument("--logins", help='JSON, or shorthand "provider=token,..."')
            op.add_argument("--logins-to-remove", nargs="+")
        op.add_argument("--command-id")
        op.add_argument("--cli-input-json", help="JSON string, or file://path")
        op.add_argument(
            "--generate-cli-skeleton", nargs="?", const="input", choices=["input", "output"]
        )


def _logins(value: str) -> dict[str, str]:
    stripped = value.strip()
    if stripped.startswith("{"):
        parsed = json.loads(stripped)
        if not isinstance(parsed, dict):
            raise MalformedCommand("--logins: expected a JSON object")
        return parsed
    pairs = [p for p in stripped.split(",") if p]
    if not all("=" in p for p in pairs):
        raise MalformedCommand("--logins: expected JSON or provider=token[,provider=token]")
    return dict(p.split("=", 1) for p in pairs)


def _cli_input(value: str) -> dict[str, Any]:
    text = Path(value[7:]).read_text() if value.startswith("file://") else value
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise MalformedCommand(f"--cli-input-json: not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise MalformedCommand("--cli-input-json: expected a JSON object")
    return parsed


def command_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The command object: --cli-input-json first, flags on top (as the AWS CLI does)."""
    request: dict[str, Any] = _cli_input(args.cli_input_json) if args.cli_input_json else {}
    flags: dict[str, Any] = {"IdentityId": args.identity_id, "command_id": args.command_id}
    if args.operation == "unlink-developer-identity":
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
    return {"action": ACTION_OF[args.operation], **request}


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
        print(f"unlink-consumer: invalid command: {exc.detail}", file=sys.stderr)
        return 2
    return asyncio.run(_send_bodies(settings, [command_to_body(command)], args.message_group_id))


def read_commands(path: Path) -> tuple[list[str], list[str]]:
    """Valid bodies, and one error line per bad line (with its number, never its content)."""
    bodies: list[str] = []
    problems: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                decode(text)
            except MalformedCommand as exc:
                problems.append(f"line {number}: {exc.detail}")
                continue
            bodies.append(text)
    return bodies, problems


async def _send_file(settings: Any, path: Path, group_id: str | None) -> int:
    try:
        bodies, problems = read_commands(path)
    except OSError as exc:
        raise ConfigurationError(f"--file: {exc.strerror}: {path}") from None
    for problem in problems:
        print(problem, file=sys.stderr)
    code = await _send_bodies(settings, bodies, group_id)
    print(f"sent {len(bodies)}, rejected {len(problems)}", file=sys.stderr)
    return code or (1 if problems else 0)


async def _send_bodies(settings: Any, bodies: list[str], group_id: str | None) -> int:
    session = get_session()
    region = settings.region or session.get_config_variable("region")
    if not region:
        raise ConfigurationError("AWS_REGION: no region configured (set AWS_REGION)")
    failed = 0
    progress = Progress(len(bodies), "sending")
    async with session.create_client("sqs", region_name=region, config=sqs_config(settings)) as sqs:
        for start in range(0, len(bodies), 10):
            chunk = bodies[start : start + 10]
            entries: list[Any] = []
            for index, body in enumerate(chunk):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
                if settings.is_fifo:
                    entry["MessageGroupId"] = group_id or "default"
                    entry["MessageDeduplicationId"] = _dedup_id(body)
                entries.append(entry)
            response = await sqs.send_message_batch(QueueUrl=settings.queue_url, Entries=entries)
            for failure in response.get("Failed", []):
                failed += 1
                print(f"line {start + int(failure['Id']) + 1}: {failure['Code']}", file=sys.stderr)
            progress.advance(len(chunk))
    progress.close()
    return 1 if failed else 0


def _dedup_id(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()
