"""`python -m consumer.local`: the same as `unlink-consumer local`."""

import sys

from consumer.local.cli import serve

sys.exit(serve())
