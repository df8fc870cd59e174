"""Takes constant factors out of moto's DynamoDB UpdateItem without changing an answer.

Every claim and every completion of the idempotency store is a conditional UpdateItem, and in
moto one costs 8-9 ms of the stack's single Python process: two per command, the largest share
of what the local stack spends on a command. moto parses the update expression twice per
request (once to check the names and values it uses, once to apply it), and each of the ten
AST passes of its validator rebuilds its table of node handlers for every node it visits and
looks its handler up by `isinstance` against abstract classes (moto's nodes are ABCs: a slow
check). Replacements, each answering exactly what moto's own would:

- `UpdateExpressionParser.make` remembers the trees of the last expressions it parsed. Nothing
  changes a parsed tree: the validator works on a deep copy of it, the rest only reads it; an
  expression that does not parse raises as before (failures are not remembered);
- `DepthFirstTraverser.traverse_node_recursively` (the only caller of `nodes_to_be_processed`
  and `process`) builds its table of handlers once per pass instead of once per node, and finds
  a node's handler once per pass and node class (the first in the table's order that the class
  derives from, as moto's `process` picks it);
- `BaseResponse` lists a handler class's methods once per class instead of once per request
  (every service: the classes are complete before the stack serves).
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
AST: Final[Any] = import_module("moto.dynamodb.parsing.ast_nodes")
TRAVERSER: Final[Any] = AST.DepthFirstTraverser
RESPONSES: Final[Any] = import_module("moto.core.responses")
# (owner, name): moto's own version, for whoever wants to compare answers.
ORIGINALS: Final[dict[tuple[Any, str], Callable[..., Any]]] = {
    (PARSER, "make"): PARSER.make,
    (TRAVERSER, "traverse_node_recursively"): TRAVERSER.traverse_node_recursively,
    (RESPONSES, "method_names_from_class"): RESPONSES.method_names_from_class,
}


@functools.lru_cache(maxsize=EXPRESSIONS_KEPT)
def _parsed(expression: str) -> Any:
    return ORIGINALS[PARSER, "make"](expression)


def make(cls: Any, expression: str) -> Any:
    return _parsed(expression)


def _handlers(self: Any) -> dict[type, Callable[[Any], Any]]:
    handlers: dict[type, Callable[[Any], Any]] | None = self.__dict__.get("_handlers")
    if handlers is None:
        handlers = self.__dict__["_handlers"] = dict(self._processing_map())
    return handlers


def _handler_for(self: Any, kind: type) -> Callable[[Any], Any] | None:
    by_kind: dict[type, Callable[[Any], Any] | None] = self.__dict__.setdefault("_by_kind", {})
    if kind not in by_kind:
        handlers = _handlers(self).items()
        by_kind[kind] = next((h for k, h in handlers if issubclass(kind, k)), None)
    return by_kind[kind]


@functools.cache
def _is_node(kind: type) -> bool:
    return issubclass(kind, AST.Node)


def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
    """moto's depth-first pass, bottom up, with the handler looked up by the node's class."""
    kind = node.__class__
    if _is_node(kind):
        parent = node.parent
        if node.children is not None:
            for i, child in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child, i)
        handler = _handler_for(self, kind)
        if handler is not None:
            node = handler(node)
            node.parent = parent
            if parent:
                parent.children[child_id] = node
    return node


@functools.cache
def _method_names(kind: type) -> list[str]:
    names: list[str] = ORIGINALS[RESPONSES, "method_names_from_class"](kind)
    return names


def method_names_from_class(kind: type) -> list[str]:
    return list(_method_names(kind))


REPLACEMENTS: Final[dict[tuple[Any, str], Any]] = {
    (PARSER, "make"): classmethod(make),
    (TRAVERSER, "traverse_node_recursively"): traverse_node_recursively,
    (RESPONSES, "method_names_from_class"): method_names_from_class,
}


def install() -> None:
    """Patches moto's update-expression parser, AST traversal and method listing once per
    process; idempotent."""
    with _lock:
        if getattr(PARSER, _INSTALLED, False):
            return
        for owner, name in REPLACEMENTS:
            if not callable(getattr(owner, name, None)):
                raise RuntimeError(f"moto's {owner.__name__} no longer has {name}; drop this patch")
        for (owner, name), replacement in REPLACEMENTS.items():
            setattr(owner, name, replacement)
        setattr(PARSER, _INSTALLED, True)
