"""The README and the docs site point at things that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_relative_link_of_the_readme_resolves() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)

    assert targets
    missing = [t for t in targets if not (REPO_ROOT / t).exists()]
    assert not missing


def test_every_path_of_the_architecture_tree_exists() -> None:
    page = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    tree = page.split("```\nconsumer/\n", 1)[1].split("```", 1)[0]
    path: list[str] = []
    drawn = 0
    for line in ["consumer/", *tree.splitlines()]:
        drawn_line = re.match(r"( *)(\S+)", line)
        assert drawn_line, line
        indent, name = drawn_line.groups()
        path = [*path[: len(indent) // 2], name]
        assert (REPO_ROOT / "".join(path)).exists(), "".join(path)
        drawn += 1

    assert drawn > 50
