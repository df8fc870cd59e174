"""`unlink-consumer` as a user meets it, through a child process: version, help, the `local`
command, AWS CLI-style global options, log levels in any case, and errors that blame the right
thing."""

from __future__ import annotations

import importlib.metadata
import json
import re
from typing import TYPE_CHECKING

import pytest

import consumer
from consumer import cli as consumer_cli
from consumer import flags
from consumer.local.admin_client import AdminClient
from consumer.local.stack import LocalStack
from consumer.settings import Settings
from tests.integration.conftest import Queues
from tests.local.conftest import local_process
from tests.ops.conftest import REPO_ROOT, cli, look, run_python

if TYPE_CHECKING:
    from types_aiobotocore_sqs import SQSClient

# An environment with no credentials anywhere botocore looks (instance metadata switched off).
NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
DEVELOPER_COMMAND = [
    "unlink-developer-identity",
    "--identity-id",
    "us-east-1:0a1b2c3d-0000-4000-8000-000000000001",
    "--identity-pool-id",
    "us-east-1:0a1b2c3d-0000-4000-8000-000000000002",
    "--developer-provider-name",
    "login.example.com",
    "--developer-user-identifier",
    "user-1",
]


def one_line(text: str) -> str:
    return " ".join(text.split())


async def test_version_is_the_package_version() -> None:
    result = await cli("--version", env={})

    assert result.returncode == 0
    assert result.stdout.strip() == f"unlink-consumer {consumer.__version__}"
    assert importlib.metadata.version("cognito-unlink-consumer") == consumer.__version__


async def test_run_help_documents_every_setting_from_the_model() -> None:
    result = await cli("run", "--help", env={})

    assert result.returncode == 0
    text = one_line(result.stdout)
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name}: a setting without a description has no help"
        assert flags.flag(name) in text, name
        assert one_line(field.description.rstrip(".")) in text, name
        for variable in flags.env_names(name):
            assert variable in text, name
    assert "--concurrency N Commands in flight (default: 32; env UNLINK_CONCURRENCY)" in text
    assert "--log-level {debug,info,warning,error,critical}" in text
    assert "--otel-tracing, --no-otel-tracing" in text
    assert "(default: required; env UNLINK_QUEUE_URL)" in text
    assert "env UNLINK_REGION or AWS_REGION or AWS_DEFAULT_REGION" in text


async def test_local_help_lists_the_stacks_own_flags() -> None:
    result = await cli("local", "--help", env={})

    assert result.returncode == 0
    assert result.stdout.startswith("usage: unlink-consumer local")
    text = one_line(result.stdout)
    for flag, says in [
        ("--port PORT", "0 picks a free one (4566)"),
        ("--latency-ms MS", "added to Cognito calls (0)"),
        ("--quota CALLS_PER_S", "token-bucket quota"),
        ("--internal-error-rate P", "InternalErrorException"),
        ("--external-error-rate P", "ExternalServiceException"),
    ]:
        assert flag in text, flag
        assert says in text, flag


def test_local_runs_with_the_documented_flags() -> None:
    flags_ = ["--latency-ms", "20", "--quota", "50", "--port", "0"]
    with local_process("-m", "consumer", "local", *flags_, cwd=REPO_ROOT) as (process, exports):
        faults = AdminClient(exports["AWS_ENDPOINT_URL_SQS"]).faults()
        assert (faults.latency_s, faults.quota_rps) == (0.02, 50)
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_local_without_the_extra_names_the_extra_in_one_line() -> None:
    hide_moto = (
        "import sys; sys.modules['moto'] = None; "
        "from consumer.cli import main; sys.exit(main(['local', '--port', '0']))"
    )
    result = run_python("-c", hide_moto)

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "cognito-unlink-consumer[local]" in line


async def test_global_options_after_the_operation(
    sqs: SQSClient, queues: Queues, aws_env: dict[str, str], stack: LocalStack
) -> None:
    # The service's own endpoint variable points nowhere: --endpoint-url wins, as in the AWS CLI.
    env = aws_env | {"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9"}

    sent = await cli(
        "send",
        *DEVELOPER_COMMAND,
        "--queue-url",
        queues.url,
        "--endpoint-url",
        stack.endpoint_url,
        "--region",
        "us-east-1",
        env=env,
    )
    # The queue lives in us-east-1; asked for in another region, it is not there.
    elsewhere = await cli(
        "send", *DEVELOPER_COMMAND, "--queue-url", queues.url, "--region", "eu-west-1", env=aws_env
    )
    profile = await cli(
        "send", *DEVELOPER_COMMAND, "--queue-url", queues.url, "--profile", "nosuch", env=aws_env
    )
    before = await cli(
        "--queue-url", queues.url, "--region", "us-east-1", "send", *DEVELOPER_COMMAND, env=aws_env
    )

    assert sent.returncode == 0, sent.stderr
    assert before.returncode == 0, before.stderr
    assert len(await look(sqs, queues.url)) == 2
    assert elsewhere.returncode == 1
    assert "queue does not exist" in elsewhere.stderr.lower()
    assert profile.returncode == 1
    assert "nosuch" in profile.stderr
    assert "Traceback" not in elsewhere.stderr + profile.stderr


async def test_dlq_peek_takes_its_dlq_url_after_the_operation_without_a_queue_url(
    queues: Queues, aws_env: dict[str, str]
) -> None:
    result = await cli("dlq", "peek", "--dlq-url", queues.dlq_url, env=aws_env)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("level", "logs_info"), [("INFO", True), ("Critical", False)])
async def test_log_level_in_any_case(
    queues: Queues, aws_env: dict[str, str], level: str, logs_info: bool
) -> None:
    env = aws_env | {"UNLINK_LOG_LEVEL": level, "UNLINK_LOG_FORMAT": "json"}

    result = await cli(
        "run", "--queue-url", queues.url, "--wait-time-seconds", "0", "--until-idle", env=env
    )

    assert result.returncode == 0, result.stderr
    events = [json.loads(line)["event"] for line in result.stderr.splitlines() if line]
    assert ("worker_started" in events) is logs_info


async def test_missing_credentials_say_what_botocore_says_and_how_to_provide_them(
    queues: Queues, aws_env: dict[str, str]
) -> None:
    env = {k: v for k, v in aws_env.items() if not k.startswith("AWS_SECRET")}
    env = {k: v for k, v in env.items() if k != "AWS_ACCESS_KEY_ID"} | NO_CREDENTIALS

    result = await cli("run", "--queue-url", queues.url, "--until-idle", env=env)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "Unable to locate credentials" in line
    assert "AWS_ACCESS_KEY_ID" in line
    assert "--profile" in line
    assert "UNLINK_QUEUE_URL" not in line


async def test_a_bad_flag_names_the_flag_and_a_bad_variable_names_the_variable() -> None:
    url = ["--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q"]

    bad_format = await cli("run", *url, "--log-format", "yaml", env={})
    bad_range = await cli("run", *url, "--concurrency", "0", env={})
    bad_variable = await cli("run", *url, env={"UNLINK_CONCURRENCY": "0"})

    for result in (bad_format, bad_range, bad_variable):
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
    assert "argument --log-format: invalid choice: 'yaml'" in bad_format.stderr
    assert "UNLINK_LOG_FORMAT" not in bad_format.stderr
    assert bad_range.stderr.strip().startswith("unlink-consumer: --concurrency: ")
    assert bad_variable.stderr.strip().startswith("unlink-consumer: UNLINK_CONCURRENCY: ")


def help_of(words: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What ``unlink-consumer WORDS --help`` prints, parsed in this process: the parser is the
    same as a child's, without a second of imports per command (`--version` and the `--help`
    above go through `python -m consumer`)."""
    with pytest.raises(SystemExit) as exited:
        consumer_cli.main([*words, "--help"])
    printed = capsys.readouterr()
    assert exited.value.code == 0, (words, printed.err)
    return printed.out


def test_every_command_and_operation_takes_the_global_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The help of each operation lists them, so none can be forgotten by a new command."""
    operations = [
        ["run"],
        ["send"],
        ["send", "unlink-identity"],
        ["send", "unlink-developer-identity"],
        ["dlq"],
        ["dlq", "peek"],
        ["dlq", "redrive"],
    ]
    for operation in operations:
        printed = help_of(operation, capsys)
        for option in ("--region", "--profile", "--endpoint-url", "--queue-url"):
            assert re.search(rf"^\s+{option}\b", printed, re.MULTILINE), (operation, option)


def test_every_complete_readme_command_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    """Each one-line `unlink-consumer ...` of the README parses (with `--help`: nothing runs)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = {
        line.split(" #")[0].strip()
        for line in readme.splitlines()
        if line.startswith("unlink-consumer ") and not line.rstrip().endswith("\\")
    }
    complete = [c for c in commands if not any(mark in c for mark in ("...", "[", ">", "<"))]
    assert len(complete) >= 5
    for command in complete:
        assert help_of(command.split()[1:], capsys), command
