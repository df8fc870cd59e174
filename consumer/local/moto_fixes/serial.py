"""One lock around each public operation of a moto backend: each request becomes atomic.

moto's models are not thread-safe, and the stack serves every request on its own thread.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any


def operations(backend: type) -> list[str]:
    """The public operations of a moto backend class (each becomes one critical section)."""
    return sorted(
        name
        for name, value in vars(backend).items()
        if inspect.isfunction(value) and not name.startswith("_")
    )


def serialise(backend: type, lock: threading.RLock) -> None:
    """Wraps every operation of ``backend`` in ``lock``."""
    for name in operations(backend):
        setattr(backend, name, _serialised(getattr(backend, name), lock))


def _serialised(operation: Callable[..., Any], lock: threading.RLock) -> Callable[..., Any]:
    @functools.wraps(operation)
    def run(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return operation(*args, **kwargs)

    return run
