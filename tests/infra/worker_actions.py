"""Every IAM action the worker can need, read from its code rather than written down.

The worker is what `consumer.app` (the composition root) imports, followed transitively. That
leaves out `consumer.tools` (dlq, send, fleet, progress: an operator runs them with their own
credentials) and `consumer.local` (the local stack, never deployed), which the worker never
imports; `worker_modules` says so if that changes. In those modules, every attribute named
after an operation of a service the worker opens a client for (`client.receive_message`,
`self._client.update_item`, and `self._client.describe_identity` passed to a helper) is a call
the worker can make; botocore's service models turn the names into API operations.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from botocore import xform_name

from consumer.aws.clients import CONFIGS

from .stack import REPO_ROOT

ROOT_MODULE = "consumer.app"
# SQS authorizes its batch APIs by the single-message actions; IAM has no action of their name.
AUTHORIZED_BY = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@dataclass(frozen=True, slots=True)
class Call:
    module: str
    line: int
    code: str  # e.g. "self._client.get_item"
    action: str  # e.g. "dynamodb:GetItem"


def _file(module: str) -> Path | None:
    base = REPO_ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported(module: str, tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def worker_modules() -> dict[str, ast.Module]:
    """The project modules the composition root imports, directly or not, parsed."""
    parsed: dict[str, ast.Module] = {}
    todo = [ROOT_MODULE]
    while todo:
        module = todo.pop()
        path = _file(module)
        if module in parsed or path is None or not module.startswith("consumer"):
            continue
        parsed[module] = ast.parse(path.read_text(encoding="utf-8"), str(path))
        todo.extend(_imported(module, parsed[module]))
    return parsed


def _operations() -> dict[str, list[str]]:
    """snake_case method name -> the IAM actions of that name, in the worker's services."""
    session = botocore.session.get_session()
    by_method: dict[str, list[str]] = {}
    for service in CONFIGS:
        model = session.get_service_model(service)
        prefix = model.signing_name  # the IAM prefix: sqs, dynamodb, cognito-identity
        for operation in model.operation_names:
            by_method.setdefault(xform_name(operation), []).append(f"{prefix}:{operation}")
    return by_method


def worker_calls() -> list[Call]:
    """Every AWS operation named in the worker's code, where it is named."""
    operations = _operations()
    calls = []
    for module, tree in worker_modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in operations:
                actions = operations[node.attr]
                assert len(actions) == 1, f"{module}:{node.lineno}: which of {actions}?"
                calls.append(Call(module, node.lineno, ast.unparse(node), actions[0]))
    return calls


def worker_actions() -> set[str]:
    """The IAM actions that authorize the worker's calls."""
    return {AUTHORIZED_BY.get(call.action, call.action) for call in worker_calls()}
