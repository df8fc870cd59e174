"""The embedded local AWS stack: moto in server mode plus a stateful Cognito Identity.

from consumer.local import LocalStack

with LocalStack() as stack:
    ...
"""

from consumer.local.faults import Faults
from consumer.local.ledger import AppliedUnlink, EffectKey, Ledger
from consumer.local.stack import LocalStack

__all__ = ["AppliedUnlink", "EffectKey", "Faults", "Ledger", "LocalStack"]
