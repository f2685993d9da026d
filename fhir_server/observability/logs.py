"""Server logs for people and for machines, carrying the request id of the request being served.

- `text` (a terminal): one short line per request — time, method, path, status, duration, request id — and
  `time LEVEL logger: message` for everything else.
- `json` (a file, a pipe, a log collector): one JSON object per line with every field.
- `auto` (the default, `FHIR_LOG_FORMAT`): `text` when stderr is a terminal, else `json`.

The access-log record is written by the request observer (fhir_server.observability.metrics) with its fields
in `extra={"fields": {...}}`; both formatters read them from there. Libraries that log every HTTP request they
make (httpx, the DICOMweb client) are held at WARNING unless the level is `debug`: their lines would bury the
server's own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

LogFormat = Literal["auto", "json", "text"]
ACCESS_LOGGER = "fhir_server.access"
# Loggers that describe each outbound request or driver step at INFO.
CHATTY_LIBRARIES = ("httpx", "httpcore", "dicomweb_client", "urllib3", "pymongo", "asyncio", "multipart")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """For people at a terminal: `12:03:04.512 GET /fhir/Patient 200 3.1 ms req=3f2a…` per request."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).astimezone().strftime("%H:%M:%S.%f")[:-3]
        fields = _fields(record)
        rid = request_id.get()
        if record.name == ACCESS_LOGGER and "method" in fields:
            line = (
                f"{when} {fields.get('method')} {fields.get('path')} {fields.get('status')} "
                f"{fields.get('duration_ms')} ms"
            )
        else:
            line = f"{when} {record.levelname} {record.name}: {record.getMessage()}"
            extra = " ".join(f"{k}={v}" for k, v in fields.items())
            if extra:
                line += f" {extra}"
        if rid:
            line += f" req={rid}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def json_wanted(log_format: LogFormat, stream: object = None) -> bool:
    if log_format != "auto":
        return log_format == "json"
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    return not (callable(isatty) and isatty())


def configure(level: str, json_logs: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
