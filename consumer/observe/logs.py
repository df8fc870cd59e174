"""structlog set-up: JSON lines for machines, a pretty console when a person is watching."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog


def configure(
    fmt: Literal["json", "console", "auto"] = "auto",
    level: str = "info",
) -> None:
    """Configures structlog once for the process; ``auto`` means console on a terminal."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: a cached logger ignores later configuration (and the tests' log capture).
        cache_logger_on_first_use=False,
    )
