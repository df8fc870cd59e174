"""The wheel carries the product and its local stack, and nothing else: no benchmark, no tests.

It is built offline with the setuptools installed beside the tests (a dev dependency), from a copy
of the source tree, so a stale `build/` folder cannot add files the tree no longer has.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .stack import REPO_ROOT

# What a checkout holds that is not source: never copied, whatever the packaging says.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "bench-results",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, zipfile.ZipFile]:
    """(the copied source tree, its wheel), built without an index or build isolation."""
    root = tmp_path_factory.mktemp("wheel")
    source, out = root / "source", root / "out"
    shutil.copytree(REPO_ROOT, source, ignore=NOT_SOURCE)
    pip = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-index"]
    result = subprocess.run(
        [*pip, "--no-build-isolation", "--disable-pip-version-check", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("cognito_unlink_consumer-*.whl")
    return source, zipfile.ZipFile(wheel)


def test_no_benchmark_and_no_tests(built: tuple[Path, zipfile.ZipFile]) -> None:
    names = built[1].namelist()
    assert not [n for n in names if n.startswith(("bench/", "tests/"))]
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"consumer", "cognito_unlink_consumer-0.1.0.dist-info"}


def test_every_module_of_the_product_and_the_local_stack(
    built: tuple[Path, zipfile.ZipFile],
) -> None:
    source, wheel = built
    names = set(wheel.namelist())
    modules = {p.relative_to(source).as_posix() for p in (source / "consumer").rglob("*.py")}
    assert modules - names == set()
    assert {n for n in names if n.endswith(".py")} == modules
    for layer in ("core", "aws", "local", "observe", "tools"):
        assert f"consumer/{layer}/__init__.py" in names, layer
    assert "consumer/py.typed" in names


def test_the_local_stack_needs_the_local_extra(built: tuple[Path, zipfile.ZipFile]) -> None:
    wheel = built[1]
    metadata = wheel.read("cognito_unlink_consumer-0.1.0.dist-info/METADATA").decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    moto = [line for line in requires if "moto" in line]
    assert moto, requires
    assert all('extra == "local"' in line for line in moto), moto
    assert "Provides-Extra: local" in metadata
    entry_points = wheel.read("cognito_unlink_consumer-0.1.0.dist-info/entry_points.txt")
    assert "unlink-consumer = consumer.cli:main" in entry_points.decode()
