"""The worker's IAM policy grants what its code can call, and nothing else."""

from __future__ import annotations

import ast

from .documents import load_template
from .worker_actions import ROOT_MODULE, worker_actions, worker_calls, worker_modules


def _granted() -> set[str]:
    policy = load_template()["Resources"]["WorkerPolicy"]["Properties"]["PolicyDocument"]
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_the_worker_imports_neither_the_operator_tools_nor_the_local_stack() -> None:
    modules = worker_modules()
    assert ROOT_MODULE in modules
    assert "consumer.aws.sqs" in modules
    assert not [m for m in modules if m.startswith(("consumer.tools", "consumer.local"))]


def test_clients_are_made_in_one_place_for_the_services_read_here() -> None:
    makers = [
        module
        for module, tree in worker_modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "create_client"
    ]
    assert makers == ["consumer.aws.clients"]


def test_the_worker_policy_grants_exactly_the_actions_the_code_calls() -> None:
    calls = worker_calls()
    for call in sorted(calls, key=lambda c: c.action):
        print(f"{call.action:45} {call.module}:{call.line} {call.code}")
    needed, granted = worker_actions(), _granted()
    print("missing:", sorted(needed - granted), "never called:", sorted(granted - needed))
    assert needed - granted == set(), "called, not granted: denied in AWS"
    assert granted - needed == set(), "granted, never called: not least privilege"
