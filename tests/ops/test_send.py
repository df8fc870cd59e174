"""`unlink-consumer send`: one command from the AWS CLI's flags, or many from a JSON-lines file."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession, get_session

from consumer import cli as consumer_cli
from consumer.local.stack import LocalStack
from consumer.tools import send as producer
from tests.infra.stack import aws_client
from tests.ops.conftest import cli

POOL_ID = "us-east-1:0b9d5f6c-1234-4abc-9def-000000000001"


def identity() -> str:
    return f"us-east-1:{uuid.uuid4()}"


def developer(**extra: Any) -> dict[str, Any]:
    return {
        "action": "UnlinkDeveloperIdentity",
        "IdentityId": identity(),
        "IdentityPoolId": POOL_ID,
        "DeveloperProviderName": "login.example.com",
        "DeveloperUserIdentifier": f"user-{uuid.uuid4().hex[:8]}",
        **extra,
    }


@pytest.fixture
def queue_url(stack: LocalStack, aws_env: dict[str, str]) -> Iterator[str]:
    sqs = aws_client("sqs", stack.endpoint_url)
    url = str(sqs.create_queue(QueueName=f"send-{uuid.uuid4().hex[:12]}")["QueueUrl"])
    yield url
    sqs.delete_queue(QueueUrl=url)


def bodies_on(stack: LocalStack, url: str) -> list[str]:
    """Every body on the queue (consumed)."""
    sqs = aws_client("sqs", stack.endpoint_url)
    found: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return found
        found.extend(m["Body"] for m in messages)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def jsonl(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "commands.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


# -- many, from a file ---------------------------------------------------------------------


def file_with_bad_lines() -> tuple[list[str], dict[int, str]]:
    """Lines of a file (1-based numbers in the comments) and the bad ones by number."""
    sns = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:account-deleted",
        "Message": json.dumps(developer()),
    }
    event = {"id": str(uuid.uuid4()), "detail-type": "x", "source": "y", "detail": developer()}
    lines = [
        json.dumps(developer(command_id="c-1")),  # 1
        "",  # 2: blank lines are skipped, and still counted
        "this is not json",  # 3
        json.dumps(developer()),  # 4
        json.dumps({"action": "UnlinkDeveloperIdentity"}),  # 5: fields missing
        json.dumps(sns),  # 6: an envelope is a valid line too
        *(json.dumps(developer(command_id=f"c-{n}")) for n in range(7, 17)),  # 7..16
        json.dumps(developer(IdentityId="not-an-identity-SECRETISH")),  # 17
        json.dumps(event),  # 18
    ]
    bad = {3: "not JSON", 5: "IdentityPoolId", 17: "IdentityId"}  # 5: IdentityId is optional
    return lines, bad


async def test_send_file_sends_good_lines_in_batches_and_reports_bad_ones_by_number(
    stack: LocalStack, queue_url: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    lines, bad = file_with_bad_lines()
    path = jsonl(tmp_path, lines)

    result = await cli("send", "--queue-url", queue_url, "--file", str(path), env=aws_env)

    assert result.returncode == 1  # some lines were bad
    reported = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [int(line.split()[1].rstrip(":")) for line in reported] == sorted(bad)
    for line in reported:
        assert bad[int(line.split()[1].rstrip(":"))] in line
    assert "SECRETISH" not in result.stderr  # a line's content is never echoed
    assert "sent 14, rejected 3, not sent 0" in result.stderr
    good = [line for number, line in enumerate(lines, start=1) if line and number not in bad]
    assert sorted(bodies_on(stack, queue_url)) == sorted(good)


def test_a_line_the_queue_refuses_is_reported_with_its_file_line_number(
    stack: LocalStack,
    queue_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Bad lines first, so positions among the valid lines differ from file line numbers; the
    # refused one sits in the second batch of ten.
    lines = ["{", "[]", "", *(json.dumps(developer(command_id=f"ok-{n}")) for n in range(4, 16))]
    lines[13] = json.dumps(developer(command_id="refuse-me"))  # line 14
    path = jsonl(tmp_path, lines)
    monkeypatch.setattr(producer, "get_session", refusing_session("refuse-me"))

    code = consumer_cli.main(["send", "--queue-url", queue_url, "--file", str(path)])

    err = capsys.readouterr().err
    assert code == 1
    assert "line 14: not sent: InvalidMessageContents" in err
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("line ")] == [
        "line 1",
        "line 2",
        "line 14",
    ]
    assert "sent 11, rejected 2, not sent 1" in err
    on_queue = bodies_on(stack, queue_url)
    assert len(on_queue) == 11
    assert all("refuse-me" not in body for body in on_queue)


def refusing_session(marker: str) -> Any:
    """A session whose SQS clients behave as if SQS refused the batch entries holding `marker`:
    the entry is taken out of the request and answered as a per-entry failure."""

    def take_out(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        refused = [e for e in params["Entries"] if marker in e["MessageBody"]]
        params["Entries"] = [e for e in params["Entries"] if e not in refused]
        context["refused"] = [e["Id"] for e in refused]

    def answer(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        parsed.setdefault("Failed", []).extend(
            {
                "Id": entry_id,
                "SenderFault": True,
                "Code": "InvalidMessageContents",
                "Message": "Invalid characters found.",
            }
            for entry_id in context.get("refused", [])
        )

    def make() -> AioSession:
        session = get_session()
        session.register("before-parameter-build.sqs.SendMessageBatch", take_out)
        session.register("after-call.sqs.SendMessageBatch", answer)
        return session

    return make


def test_a_file_that_cannot_be_read_is_one_line_and_exit_2(
    queue_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"

    code = consumer_cli.main(["send", "--queue-url", queue_url, "--file", str(missing)])

    assert code == 2
    assert capsys.readouterr().err.strip().startswith("unlink-consumer: --file:")


# -- one, from flags -------------------------------------------------------------------------


def test_unlink_developer_identity_from_flags(
    stack: LocalStack, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = developer(command_id="deletion-8812")

    code = consumer_cli.main(
        [
            "send",
            "--queue-url",
            queue_url,
            "unlink-developer-identity",
            "--identity-id",
            command["IdentityId"],
            "--identity-pool-id",
            command["IdentityPoolId"],
            "--developer-provider-name",
            command["DeveloperProviderName"],
            "--developer-user-identifier",
            command["DeveloperUserIdentifier"],
            "--command-id",
            "deletion-8812",
        ]
    )

    assert code == 0, capsys.readouterr().err
    [body] = bodies_on(stack, queue_url)
    assert json.loads(body) == command


def test_delete_identities_and_an_unlink_by_user_from_flags(
    stack: LocalStack, queue_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [identity(), identity()]
    by_user = {k: v for k, v in developer().items() if k != "IdentityId"}

    deleted = consumer_cli.main(
        ["send", "--queue-url", queue_url, "delete-identities", "--identity-ids-to-delete", *ids]
    )
    unlinked = consumer_cli.main(
        [
            "send",
            "--queue-url",
            queue_url,
            "unlink-developer-identity",
            "--identity-pool-id",
            by_user["IdentityPoolId"],
            "--developer-provider-name",
            by_user["DeveloperProviderName"],
            "--developer-user-identifier",
            by_user["DeveloperUserIdentifier"],
        ]
    )
    too_many = consumer_cli.main(
        ["send", "--queue-url", queue_url, "delete-identities", "--identity-ids-to-delete"]
        + [identity() for _ in range(61)]
    )

    assert (deleted, unlinked, too_many) == (0, 0, 2)
    assert "--identity-ids-to-delete (IdentityIdsToDelete)" in capsys.readouterr().err
    sent = sorted((json.loads(b) for b in bodies_on(stack, queue_url)), key=json.dumps)
    expected = [{"action": "DeleteIdentities", "IdentityIdsToDelete": ids}, by_user]
    assert sent == sorted(expected, key=json.dumps)


def test_unlink_identity_from_flags_with_login_shorthand(stack: LocalStack, queue_url: str) -> None:
    identity_id = identity()

    code = consumer_cli.main(
        [
            "send",
            "--queue-url",
            queue_url,
            "unlink-identity",
            "--identity-id",
            identity_id,
            "--logins",
            "accounts.google.com=TOKEN-1,graph.facebook.com=TOKEN-2",
            "--logins-to-remove",
            "accounts.google.com",
            "graph.facebook.com",
        ]
    )

    assert code == 0
    [body] = bodies_on(stack, queue_url)
    assert json.loads(body) == {
        "action": "UnlinkIdentity",
        "IdentityId": identity_id,
        "Logins": {"accounts.google.com": "TOKEN-1", "graph.facebook.com": "TOKEN-2"},
        "LoginsToRemove": ["accounts.google.com", "graph.facebook.com"],
    }


def test_cli_input_json_as_a_string_and_as_a_file_with_flags_on_top(
    stack: LocalStack, queue_url: str, tmp_path: Path
) -> None:
    from_string = developer()
    del from_string["action"]
    in_file = developer()
    del in_file["action"]
    path = tmp_path / "cmd.json"
    path.write_text(json.dumps(in_file), encoding="utf-8")
    override = identity()

    first = consumer_cli.main(
        [
            "send",
            "--queue-url",
            queue_url,
            "unlink-developer-identity",
            "--cli-input-json",
            json.dumps(from_string),
        ]
    )
    second = consumer_cli.main(
        [
            "send",
            "--queue-url",
            queue_url,
            "unlink-developer-identity",
            "--cli-input-json",
            f"file://{path}",
            "--identity-id",
            override,
        ]
    )

    assert (first, second) == (0, 0)
    sent = sorted((json.loads(b) for b in bodies_on(stack, queue_url)), key=json.dumps)
    expected = [
        {"action": "UnlinkDeveloperIdentity", **from_string},
        {"action": "UnlinkDeveloperIdentity", **in_file, "IdentityId": override},
    ]
    assert sent == sorted(expected, key=json.dumps)


@pytest.mark.parametrize(
    "operation", ["unlink-developer-identity", "unlink-identity", "delete-identities"]
)
def test_generate_cli_skeleton_input_and_output(
    operation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No queue needed: nothing is sent.
    assert consumer_cli.main(["send", operation, "--generate-cli-skeleton"]) == 0
    skeleton = json.loads(capsys.readouterr().out)
    assert skeleton == producer.SKELETONS[operation]
    assert all(value in ("", [""], {"KeyName": ""}) for value in skeleton.values())

    assert consumer_cli.main(["send", operation, "--generate-cli-skeleton", "output"]) == 0
    assert capsys.readouterr().out.strip() == "{}"


def test_a_filled_in_skeleton_is_a_valid_command(
    stack: LocalStack, queue_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    consumer_cli.main(["send", "unlink-identity", "--generate-cli-skeleton"])
    skeleton = json.loads(capsys.readouterr().out)
    skeleton |= {
        "IdentityId": identity(),
        "Logins": {"accounts.google.com": "TOKEN"},
        "LoginsToRemove": ["accounts.google.com"],
    }
    path = tmp_path / "cmd.json"
    path.write_text(json.dumps(skeleton), encoding="utf-8")

    code = consumer_cli.main(
        ["send", "--queue-url", queue_url, "unlink-identity", "--cli-input-json", f"file://{path}"]
    )

    assert code == 0
    [body] = bodies_on(stack, queue_url)
    assert json.loads(body) == {"action": "UnlinkIdentity", **skeleton}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--identity-id", "not-an-identity"], "invalid command: --identity-id (IdentityId): "),
        (["--identity-id", "us-east-1:" + "0" * 60], "--identity-id (IdentityId): String should"),
        (["--logins", "{oops"], "--logins: not JSON"),
        (["--logins", "no-equals-sign"], "--logins: expected JSON or provider=token"),
        (
            ["--logins", "eyJ" + "t" * 200 + "=accounts.google.com"],  # token and name swapped
            "--logins (Logins): a provider name: String should have at most 128 characters",
        ),
        (["--cli-input-json", "[1, 2]"], "--cli-input-json: expected a JSON object"),
        (["--cli-input-json", "{"], "--cli-input-json: not JSON"),
        (["--cli-input-json", "file:///no/such/file.json"], "--cli-input-json: cannot read"),
    ],
)
def test_a_bad_flag_value_is_a_clear_error_exit_2_and_nothing_sent(
    flags: list[str],
    message: str,
    stack: LocalStack,
    queue_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    complete = [
        "--identity-id",
        identity(),
        "--logins",
        "accounts.google.com=TOKEN",
        "--logins-to-remove",
        "accounts.google.com",
    ]

    code = consumer_cli.main(
        ["send", "--queue-url", queue_url, "unlink-identity", *complete, *flags]
    )

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert bodies_on(stack, queue_url) == []


async def test_bad_flags_exit_2_from_the_command_line(
    queue_url: str, aws_env: dict[str, str]
) -> None:
    bad_value, unknown_choice, no_operation = await asyncio.gather(
        cli(
            "send",
            "--queue-url",
            queue_url,
            "unlink-developer-identity",
            "--identity-id",
            "nope",
            env=aws_env,
        ),
        cli("send", "unlink-identity", "--generate-cli-skeleton", "yaml", env=aws_env),
        cli("send", "--queue-url", queue_url, env=aws_env),
    )

    assert bad_value.returncode == 2
    assert bad_value.stderr.startswith(
        "unlink-consumer: invalid command: --identity-id (IdentityId)"
    )
    assert unknown_choice.returncode == 2
    assert "invalid choice: 'yaml'" in unknown_choice.stderr
    assert no_operation.returncode == 2
    assert "name an operation or --file" in no_operation.stderr


async def test_send_file_shows_a_progress_bar_on_a_terminal(
    stack: LocalStack, queue_url: str, aws_env: dict[str, str], tmp_path: Path
) -> None:
    path = jsonl(tmp_path, [json.dumps(developer()) for _ in range(14)])

    result = await cli("send", "--queue-url", queue_url, "--file", str(path), env=aws_env, tty=True)

    assert result.returncode == 0, result.stderr
    assert f"sending [{'#' * 21}{'-' * 9}] 10/14" in result.stderr  # drawn after each batch
    assert f"sending [{'#' * 30}] 14/14\n" in result.stderr
    assert "sent 14, rejected 0, not sent 0" in result.stderr
    assert len(bodies_on(stack, queue_url)) == 14
