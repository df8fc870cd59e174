"""One log stream for the whole process: JSON lines for machines, a console for a person.

structlog's lines and the standard library's (botocore, aiobotocore, aiohttp, asyncio, warnings)
go through the same processors (structlog's `ProcessorFormatter` on the root handler), so a JSON
deployment never gets a plain-text line, and a botocore line logged while a command runs carries
that command's `message_id` too. Every line has `timestamp`, `level`, `logger` and `service`;
exceptions are structured fields in JSON (frames without their locals); secrets are scrubbed last,
whoever logged them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from consumer.observe import scrub

SERVICE = "cognito-unlink-consumer"
# Chatty at INFO (an endpoint or credential source per client); their requests are DEBUG lines.
SDK_LOGGERS = ("botocore", "aiobotocore")
# Frames and lines, never the frames' local variables: a frame that routes a message holds its
# body, and a local rendered cut short (structlog's default shows them) hides a provider token
# from the scrubber, which matches whole values.
_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)
_PLAIN = structlog.dev.plain_traceback


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The process's one handler; a second `configure` replaces it rather than adding one."""


def _add_service(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event_dict.setdefault("service", SERVICE)
    return event_dict


def configure(
    fmt: Literal["json", "console", "auto"] = "auto",
    level: str = "info",
    stream: TextIO | None = None,
) -> None:
    """Configures structlog and the standard library's root logger once for the process.

    ``auto`` means console on a terminal, JSON otherwise; ``level`` is any case.
    """
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    threshold = logging.getLevelNamesMapping()[level.upper()]
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]
    if not use_console:  # a pipeline merges many services' lines; a person watches one
        shared.append(_add_service)
    rendering: list[structlog.typing.Processor] = (
        # Plain tracebacks: the default turns to rich's, with locals, wherever rich is installed.
        [scrub.processor, structlog.dev.ConsoleRenderer(exception_formatter=_PLAIN)]
        if use_console
        else [
            _TRACEBACKS,
            scrub.processor,
            structlog.processors.JSONRenderer(),
        ]
    )
    handler = _Handler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    for name in SDK_LOGGERS:
        quiet = threshold if threshold <= logging.DEBUG else max(threshold, logging.WARNING)
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Not cached: a cached logger ignores later configuration (and the tests' log capture).
        cache_logger_on_first_use=False,
    )
