"""Logging set-up for the node: concise text for operators, one JSON object per line for machines.

Text:  2019-09-06 12:00:01.234 INFO  node      slot 42 epoch 5 | head 42 0x1a2b.. | ...
JSON:  {"ts": "2019-09-06T12:00:01.234Z", "level": "info", "logger": "node", "msg": "...", ...}

Structured values a line was built from can be attached with `extra={"fields": {...}}` and
appear as top-level keys in JSON (so a harness reads numbers, not text).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")

# Third-party loggers that are chatty below WARNING (PYBEACON_DEBUG_LIBS=1 lets them speak).
_NOISY = ("libp2p", "multiaddr", "trio", "async_service", "asyncio")


def _short_name(name: str) -> str:
    # "beacon.validator.service" -> "validator": enough to know which part speaks.
    parts = name.split(".")
    if parts[0] == "beacon" and len(parts) > 1:
        return parts[1]
    return parts[0]


_SHORT_LEVELS = {"WARNING": "WARN", "CRITICAL": "CRIT"}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        t = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        level = _SHORT_LEVELS.get(record.levelname, record.levelname)
        line = f"{t}.{int(record.msecs):03d} {level:<5} {_short_name(record.name):<9} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        doc: dict[str, Any] = {
            "ts": f"{t}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": _short_name(record.name),
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for k, v in fields.items():
                doc.setdefault(k, v)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process (replacing earlier handlers)."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    numeric = getattr(logging, level.upper())
    root.setLevel(numeric)
    # Our --log-level debug is about pybeacon; libp2p's debug output (protobuf dumps of every
    # gossip message) drowns it, so the libraries stay at WARNING unless asked for explicitly.
    libs = logging.DEBUG if os.environ.get("PYBEACON_DEBUG_LIBS") else logging.WARNING
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(numeric, libs))
