from __future__ import annotations

from collections.abc import Iterator

import pytest

from .stack import moto_server


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server over HTTP on 127.0.0.1, one per test module."""
    with moto_server() as endpoint_url:
        yield endpoint_url
