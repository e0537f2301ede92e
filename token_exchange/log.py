"""One JSON line per event on stderr, never a token, signature or secret.

fdk sets the root logger to DEBUG with a handler on stderr, which would let
any library's debug output (request headers included) reach the function's
logs. ``quiet_other_loggers`` puts the root back to WARNING; our own logger
has its own handler and does not propagate.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_NOISY = ("urllib3", "requests", "oci", "fdk", "asyncio", "authlib")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        return json.dumps(line, separators=(",", ":"), ensure_ascii=True, default=str)


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def quiet_other_loggers() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


def emit(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    logger.log(level, msg, extra={"fields": {k: v for k, v in fields.items() if v is not None}})


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
