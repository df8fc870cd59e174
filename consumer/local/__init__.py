"""The embedded local AWS stack: moto in server mode plus a stateful Cognito Identity.

from consumer.local import LocalStack

with LocalStack() as stack:
    ...

Layout: `stack` (the server) and `gateway`/`dispatch` route requests; the Cognito Identity
emulation is `operations`, `identities`, `validation`, `errors`, `cognito_call` and `patch`;
`moto_fixes/` holds the fixes to moto's own SQS; `faults`, `ledger` and `request_counts` are the
knobs and the record the tests read, served by `admin_server` and read over HTTP by
`admin_client`; `seed` writes identities, `seeded` holds what it made.

`LocalStack` is imported on first use, so `admin_client` (and `seeded`) load without moto: a
process that only talks to a running stack needs no `[local]` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from consumer.local.faults import Faults
from consumer.local.ledger import AppliedUnlink, EffectKey, Ledger

if TYPE_CHECKING:
    from consumer.local.stack import LocalStack

__all__ = ["AppliedUnlink", "EffectKey", "Faults", "Ledger", "LocalStack"]


def __getattr__(name: str) -> object:
    if name == "LocalStack":
        # Deferred: the stack needs moto, an optional extra the admin client does without.
        from consumer.local.stack import LocalStack  # noqa: PLC0415

        return LocalStack
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
