"""Takes two constant factors out of moto's DynamoDB UpdateItem without changing an answer.

Every claim and every completion of the idempotency store is a conditional UpdateItem, and in
moto one costs 8-9 ms of the stack's single Python process: two per command, the largest share
of what the local stack spends on a command. moto parses the update expression twice per
request (once to check the names and values it uses, once to apply it), and each of the ten
AST passes of its validator rebuilds its table of node handlers for every node it visits. Two
replacements, each answering exactly what moto's own would:

- `UpdateExpressionParser.make` remembers the trees of the last expressions it parsed. Nothing
  changes a parsed tree: the validator works on a deep copy of it, the rest only reads it; an
  expression that does not parse raises as before (failures are not remembered);
- `DepthFirstTraverser` builds its table of handlers once per pass instead of once per node.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from importlib import import_module
from typing import Any, Final

_INSTALLED: Final = "_consumer_local_dynamodb_speed"
EXPRESSIONS_KEPT: Final = 512
_lock = threading.Lock()
# moto's parsing modules carry no types for mypy to read
PARSER: Final[Any] = import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
TRAVERSER: Final[Any] = import_module("moto.dynamodb.parsing.ast_nodes").DepthFirstTraverser
# moto's own versions, for whoever wants to compare answers.
ORIGINALS: Final[dict[str, Callable[..., Any]]] = {
    "make": PARSER.make,
    "nodes_to_be_processed": TRAVERSER.nodes_to_be_processed,
    "process": TRAVERSER.process,
}


@functools.lru_cache(maxsize=EXPRESSIONS_KEPT)
def _parsed(expression: str) -> Any:
    return ORIGINALS["make"](expression)


def make(cls: Any, expression: str) -> Any:
    return _parsed(expression)


def _handlers(self: Any) -> dict[type, Callable[[Any], Any]]:
    handlers: dict[type, Callable[[Any], Any]] | None = self.__dict__.get("_handlers")
    if handlers is None:
        handlers = self.__dict__["_handlers"] = dict(self._processing_map())
    return handlers


def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
    kinds: tuple[type, ...] | None = self.__dict__.get("_kinds")
    if kinds is None:
        kinds = self.__dict__["_kinds"] = tuple(_handlers(self))
    return kinds


def process(self: Any, node: Any) -> Any:
    for kind, handler in _handlers(self).items():
        if isinstance(node, kind):
            return handler(node)
    return None


def install() -> None:
    """Patches moto's update-expression parser and AST traversal once per process; idempotent."""
    with _lock:
        if getattr(PARSER, _INSTALLED, False):
            return
        for owner, name in (
            (PARSER, "make"),
            (TRAVERSER, "nodes_to_be_processed"),
            (TRAVERSER, "process"),
        ):
            if not callable(getattr(owner, name, None)):
                raise RuntimeError(f"moto's {owner.__name__} no longer has {name}; drop this patch")
        PARSER.make = classmethod(make)
        TRAVERSER.nodes_to_be_processed = nodes_to_be_processed
        TRAVERSER.process = process
        setattr(PARSER, _INSTALLED, True)
