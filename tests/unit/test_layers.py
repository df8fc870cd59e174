"""Imports run one way: the rate package needs a clock and nothing of AWS; settings and the
observers name no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "consumer"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def _modules(*parts: str) -> list[Path]:
    target = ROOT.joinpath(*parts)
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize(
    ("where", "forbidden"),
    [
        (("rate",), ("consumer.aws", "botocore", "aiobotocore", "consumer.observe")),
        (("observe",), ("consumer.aws",)),
        (("settings.py",), ("consumer.aws",)),
        (("core",), ("consumer.aws", "consumer.rate", "botocore", "aiobotocore")),
    ],
)
def test_a_layer_imports_nothing_it_should_not(
    where: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    for path in _modules(*where):
        bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in forbidden)}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"
