"""`python -m consumer` is the `unlink-consumer` command."""

import sys

from consumer.cli import main

sys.exit(main())
