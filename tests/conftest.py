"""Shared fixtures: no test sees the developer's AWS settings."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips AWS_* and UNLINK_* variables so a real account can never be reached by accident."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "UNLINK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
