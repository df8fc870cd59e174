"""cfn-lint passes the template, and fails a copy of it with known mistakes (so the check can fail).

cfn-lint takes ~5 s to start (it loads its resource schemas), so both files go through one run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .stack import TEMPLATE_PATH

# Each mistake: (text in the template, what replaces it, the rule cfn-lint must report).
MISTAKES = [
    # A visibility timeout above the SQS maximum of 12 hours.
    (
        "VisibilityTimeout: !Ref VisibilityTimeoutSeconds",
        "VisibilityTimeout: 50000",
        "E3034",
    ),
    # A misspelt IAM action, which would deny the worker its receives at run time.
    ("- sqs:ReceiveMessage", "- sqs:ReceiveMessages", "W3037"),
    # A reference to a parameter that does not exist.
    ("maxReceiveCount: !Ref MaxReceiveCount", "maxReceiveCount: !Ref MaxReceives", "E1020"),
]


def _cfn_lint() -> list[str]:
    beside_python = Path(sys.executable).parent / "cfn-lint"
    if beside_python.exists():
        return [str(beside_python)]
    on_path = shutil.which("cfn-lint")
    if on_path is None:
        pytest.fail("cfn-lint is a pinned dev dependency but is not installed")
    return [on_path]


@pytest.fixture(scope="module")
def matches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """cfn-lint's findings by file name: "good" (the template) and "broken" (the copy)."""
    broken = TEMPLATE_PATH.read_text(encoding="utf-8")
    for before, after, _ in MISTAKES:
        assert broken.count(before) == 1, f"the template no longer contains {before!r}"
        broken = broken.replace(before, after)
    broken_path = tmp_path_factory.mktemp("cfn") / "broken.yaml"
    broken_path.write_text(broken, encoding="utf-8")

    result = subprocess.run(
        # Informational findings (--include-checks I) too: the template has none.
        [
            *_cfn_lint(),
            "--format",
            "json",
            "--include-checks",
            "I",
            "--",
            str(TEMPLATE_PATH),
            str(broken_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Exit status is a bit mask of the levels found; 1 means cfn-lint itself failed.
    assert result.returncode != 1, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    by_file: dict[str, list[dict[str, Any]]] = {"good": [], "broken": []}
    for match in found:
        key = "broken" if Path(match["Filename"]) == broken_path else "good"
        by_file[key].append(match)
    return by_file


def _describe(found: list[dict[str, Any]]) -> list[str]:
    return [
        f"{m['Rule']['Id']} line {m['Location']['Start']['LineNumber']}: {m['Message']}"
        for m in found
    ]


def test_template_is_cfn_lint_clean(matches: dict[str, list[dict[str, Any]]]) -> None:
    assert _describe(matches["good"]) == []


def test_broken_copy_is_reported(matches: dict[str, list[dict[str, Any]]]) -> None:
    reported = {m["Rule"]["Id"] for m in matches["broken"]}
    assert {rule for _, _, rule in MISTAKES} <= reported, _describe(matches["broken"])
