"""Structured logging: one JSON object per line on stderr.

Never pass a token, a signature or a secret: log a ``jti`` or a short hash.

Our lines bypass the ``logging`` module: its record and handler machinery
costs about 20 µs a line, more than a cached authorization decision. The
``logging`` module is still configured (``quiet_other_loggers``) because fdk
sets the root logger to DEBUG with a stderr handler, which would let any
library's debug output (request headers included) reach the function's logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

_NOISY = ("urllib3", "requests", "oci", "fdk", "asyncio", "authlib", "werkzeug")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str).encode

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40
_LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR"}


class StructuredLogger:
    def __init__(self, name: str, stream: TextIO | None = None, level: int = INFO) -> None:
        self.name = name
        self.level = level
        self._stream = stream
        self._prefix = {lvl: f'"level":"{label}","logger":{_dumps(name)},' for lvl, label in _LEVEL_NAMES.items()}
        # How a finished line is handed over. The fdk adapter sets this to
        # "write right after the response is sent" (see defer_to_event_loop).
        self.schedule: Callable[[Callable[[str], None], str], None] | None = None

    def log(self, level: int, msg: str, **fields: Any) -> None:
        if level < self.level:
            return
        body = {"msg": msg}
        body.update((k, v) for k, v in fields.items() if v is not None)
        self.write(level, _dumps(body)[1:-1])

    def write(self, level: int, members: str) -> None:
        """Write a line from pre-encoded JSON members (``"a":1,"b":"x"``)."""
        if level < self.level:
            return
        line = f'{{"ts":{time.time():.3f},{self._prefix[level]}{members}}}\n'
        if self.schedule is not None:
            self.schedule(self._emit, line)
        else:
            self._emit(line)

    def _emit(self, line: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(line)
        stream.flush()


_LOGGERS: dict[str, StructuredLogger] = {}


def get_logger(name: str) -> StructuredLogger:
    logger = _LOGGERS.get(name)
    if logger is None:
        logger = _LOGGERS[name] = StructuredLogger(name)
    return logger


def defer_to_event_loop(logger: StructuredLogger) -> None:
    """Write lines from the event loop right after the current call's answer is
    sent, not before: fdk runs a synchronous handler on its event loop, so a
    ``call_soon`` callback runs as soon as the response is handed to the
    socket. The line is written microseconds later, off the caller's latency.
    Without a running loop (tests, tools) lines are written at once."""

    def schedule(emit: Callable[[str], None], line: str) -> None:
        try:
            asyncio.get_running_loop().call_soon(emit, line)
        except RuntimeError:
            emit(line)

    logger.schedule = schedule


def quiet_other_loggers() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


def emit(logger: StructuredLogger, level: int, msg: str, **fields: Any) -> None:
    logger.log(level, msg, **fields)


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
