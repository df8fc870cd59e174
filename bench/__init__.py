"""The benchmark: the worker as separate processes against the local stack in its own process.

`python -m bench` (`make bench`) runs the scenarios of `config.DEFAULTS` plus an idle
check and prints a table and one JSON line per scenario; see `__main__` for the flags.
"""
