"""The `/_local/` admin surface and its client, as another process would use them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

from consumer.local.admin_client import AdminClient, AdminError
from consumer.local.seed import seed_in_process
from consumer.local.stack import LocalStack

if TYPE_CHECKING:
    from types_aiobotocore_cognito_identity import CognitoIdentityClient


@pytest.fixture
def admin(stack: LocalStack) -> AdminClient:
    return AdminClient(stack.endpoint_url)


def test_health_and_readiness(admin: AdminClient) -> None:
    assert admin.health()
    admin.wait_ready(timeout=1)


def test_faults_are_read_and_changed_remotely(admin: AdminClient, stack: LocalStack) -> None:
    assert admin.faults() == stack.faults

    changed = admin.set_faults(quota_rps=50, internal_error_rate=0.25)

    assert changed.quota_rps == stack.faults.quota_rps == 50
    assert stack.faults.internal_error_rate == 0.25
    with pytest.raises(AdminError, match="HTTP 400"):
        admin.set_faults(internal_error_rate=3)
    with pytest.raises(AdminError, match="HTTP 400"):
        admin.set_faults(warp_speed=True)
    assert stack.faults.internal_error_rate == 0.25


async def test_ledger_counts_and_events(
    admin: AdminClient, stack: LocalStack, cognito: CognitoIdentityClient
) -> None:
    seeded = seed_in_process(stack, developer=1, federated=1)
    admin.reset_counters()
    assert admin.ledger()["applied_count"] == 0

    await cognito.unlink_developer_identity(**seeded.developer[0].unlink_request())
    await cognito.unlink_identity(**seeded.federated[0].unlink_request())
    fed = seeded.federated[0]
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        await cognito.unlink_identity(
            IdentityId=fed.identity_id,
            Logins={"graph.facebook.com": fed.logins["graph.facebook.com"]},
            LoginsToRemove=["accounts.google.com"],  # already unlinked
        )

    ledger = admin.ledger()
    assert ledger["applied_count"] == admin.applied_count() == 2
    assert ledger["applied_by_operation"] == {"UnlinkDeveloperIdentity": 1, "UnlinkIdentity": 1}
    assert ledger["calls"]["UnlinkIdentity"] == {"ok": 1, "ResourceNotFoundException": 1}
    assert ledger["calls_by_outcome"]["ok"] == 2
    assert [(e["operation"], e["identity_id"], e["key"]) for e in ledger["applied"]] == [
        (
            "UnlinkDeveloperIdentity",
            seeded.developer[0].identity_id,
            seeded.developer[0].developer_user_identifier,
        ),
        ("UnlinkIdentity", seeded.federated[0].identity_id, "accounts.google.com"),
    ]
    assert admin.ledger(events=False)["applied"] == []

    admin.reset_counters()
    assert admin.ledger()["calls"] == {}
    assert stack.ledger.applied_count() == 0


def test_tokens_expire_remotely(admin: AdminClient, stack: LocalStack) -> None:
    [fed] = seed_in_process(stack, federated=1).federated

    fresh = admin.expire_tokens(fed.identity_id)

    assert stack.identities.current_tokens(fed.identity_id) == fresh != dict(fed.logins)
    with pytest.raises(AdminError, match="HTTP 404"):
        admin.expire_tokens("us-east-1:00000000-0000-4000-8000-000000000000")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/_local/nothing", 404), ("DELETE", "/_local/faults", 405)],
)
def test_unknown_admin_requests_never_reach_moto(
    stack: LocalStack, method: str, path: str, status: int
) -> None:
    request = urllib.request.Request(stack.endpoint_url + path, method=method)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)
    assert error.value.code == status
    assert "error" in json.loads(error.value.read())


def test_an_absent_stack_is_reported_not_hung_on() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    admin = AdminClient(f"http://127.0.0.1:{free_port}", timeout=1)
    assert not admin.health()
    with pytest.raises(AdminError, match="no local stack"):
        admin.wait_ready(timeout=0.2)


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http"):
        AdminClient("file:///etc/passwd")


def test_the_admin_client_imports_and_answers_without_moto(admin: AdminClient) -> None:
    """A process that only talks to a running stack (a benchmark worker, a shell) needs no
    `[local]` extra: the client, and the identities it answers with, load without moto."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        class NoMoto(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("moto", "werkzeug"):
                    raise ImportError("no " + name)
                return None

        sys.meta_path.insert(0, NoMoto())
        from consumer.local.admin_client import AdminClient

        client = AdminClient({admin.base_url.removesuffix("/_local")!r})
        seeded = client.seed(developer=1)
        print(len(seeded.developer), client.health())
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True"]
