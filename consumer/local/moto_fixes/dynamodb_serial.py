"""moto's DynamoDB, one operation at a time: a conditional write has one winner.

moto's `update_item` (and `put_item`, `delete_item`, a transaction) reads the item, checks the
condition and writes in separate steps, and the stack serves every request on its own thread:
two claims of one command key sent at once could both pass `attribute_not_exists(id)` and both
run the command. DynamoDB's conditional writes are atomic, and the idempotency store relies on
it. Every public operation of `DynamoDBBackend` runs under one lock per process.
"""

from __future__ import annotations

import threading
from typing import Final

from moto.dynamodb import models

from consumer.local.moto_fixes.serial import serialise

_INSTALLED: Final = "_consumer_local_dynamodb_serial"
LOCK: Final = threading.RLock()
_install_lock = threading.Lock()


def install() -> None:
    """Wraps moto's DynamoDB backend once per process; idempotent."""
    backend = models.DynamoDBBackend
    with _install_lock:
        if getattr(backend, _INSTALLED, False):
            return
        serialise(backend, LOCK)
        setattr(backend, _INSTALLED, True)
