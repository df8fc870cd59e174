"""The error tree drawn in errors.py is the code's tree, and the policy routes by its branches."""

from __future__ import annotations

import inspect
import random
import re

import botocore.exceptions
import pytest

from consumer.aws.cognito import translate
from consumer.core import errors
from consumer.core.outcomes import Attempts, DeadLetter, Retry
from consumer.core.policy import Backoff, RetryPolicy

BRANCHES = (errors.Permanent, errors.Throttled, errors.Transient, errors.NotTheMessagesFault)


def drawn_tree() -> dict[str, str]:
    """Each class named in the module docstring's drawing, with the class it is drawn under.

    `A · B` are siblings, a line starting with `·` continues the line above, `A (B)` draws B
    under A, and two spaces start a comment.
    """
    doc = (errors.__doc__ or "").split("\nUnlinkError", 1)[1].split("\n\n", 1)[0]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = [(-1, "UnlinkError")]
    parent = "UnlinkError"
    for line in doc.splitlines()[1:]:
        drawing = line.lstrip("│├└─ ")
        if "──" in line:
            depth = line.index("──")
            while stack[-1][0] >= depth:
                stack.pop()
            parent = stack[-1][1]
        names = re.findall(r"(\w+)(?:\s*\((\w+)\))?", drawing.split("  ")[0])
        for name, child in names:
            parents[name] = parent
            if child:
                parents[child] = name
        if "──" in line:
            stack.append((depth, names[-1][0]))
    return parents


def code_tree() -> dict[str, str]:
    return {
        cls.__name__: cls.__mro__[1].__name__
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.UnlinkError) and cls is not errors.UnlinkError
    }


def test_the_drawn_tree_is_the_code_tree() -> None:
    assert drawn_tree() == code_tree()


def test_every_error_a_message_can_meet_sits_under_exactly_one_branch() -> None:
    leaves = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.UnlinkError)
        and cls not in (errors.UnlinkError, errors.ConfigurationError, *BRANCHES)
    ]
    for leaf in leaves:
        assert sum(issubclass(leaf, branch) for branch in BRANCHES) == 1, leaf


def policy() -> RetryPolicy:
    return RetryPolicy(8, 50, Backoff(rng=random.Random(3)))


class NewPermanent(errors.Permanent):
    code = "new_permanent"


class NewDeferral(errors.NotTheMessagesFault):
    code = "new_deferral"


def test_the_policy_routes_a_new_leaf_by_its_branch() -> None:
    assert isinstance(policy().decide(NewPermanent("x"), Attempts()), DeadLetter)
    deferred = policy().decide(NewDeferral(), Attempts())
    assert isinstance(deferred, Retry)
    assert deferred.attempts == Attempts(deferrals=1)


def client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response: dict[str, object] = {
        "Error": {"Code": code, "Message": "went wrong"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "UnlinkIdentity")  # type: ignore[arg-type]


def test_an_unmapped_exception_is_unexpected_not_cognitos_internal_error() -> None:
    unexpected = translate(KeyError("x"))
    internal = translate(client_error("InternalErrorException", 500))

    assert isinstance(unexpected, errors.UnexpectedError)
    assert (unexpected.code, unexpected.detail) == ("unexpected_error", "KeyError")
    assert type(internal) is errors.InternalError


@pytest.mark.parametrize("error", [errors.UnexpectedError("KeyError"), errors.InternalError()])
def test_unexpected_and_internal_errors_spend_the_failure_budget(error: errors.UnlinkError) -> None:
    outcome = policy().decide(error, Attempts(failures=2, throttles=5))

    assert isinstance(outcome, Retry)
    assert outcome.attempts == Attempts(failures=3, throttles=5)
    assert outcome.error == error.code


def test_a_denial_is_the_commands_until_the_gate_says_otherwise_bad_credentials_never() -> None:
    denied = translate(client_error("AccessDeniedException", 400))
    assert isinstance(denied, errors.AccessDenied)
    assert isinstance(denied, errors.Transient)  # charged while Cognito otherwise answers
    for code in ("UnrecognizedClientException", "ExpiredTokenException"):
        assert isinstance(translate(client_error(code, 400)), errors.WorkerFault)
