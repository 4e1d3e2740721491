"""Log lines that cannot be forged: control characters are escaped in every record of every logger.

A request path such as `/a%0A2026-01-01 INFO forged` decodes to text holding a line feed; written raw, it would
start a second, forged line in the log. Escaping is done by the record class of the whole process
(`logging.setLogRecordFactory`), so it covers our loggers, uvicorn's, SAQ's and any library's, whatever handler or
formatter prints them: string arguments are escaped when the record is made (formatters such as uvicorn's access
formatter read them directly) and the formatted message is escaped again (a non-string argument's `str()` may hold
control characters). Tracebacks stay multi-line: they are the formatter's, not the message's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from lexica.platform.log_redaction import redact, redact_access_logs

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (some log viewers break lines there).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_control(text: str) -> str:
    """`text` with each control character written as an escape (`\\n`, `\\x1b`, `\\u2028`): one line, inert."""
    return _CONTROL.sub(_escape_one, text)


def _clean(value: Any) -> Any:
    return escape_control(redact(value)) if isinstance(value, str) else value


class SafeLogRecord(logging.LogRecord):
    """A log record whose message can never hold a control character (nor a credential in a query string)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.args, Mapping):
            self.args = {key: _clean(value) for key, value in self.args.items()}
        elif isinstance(self.args, tuple):
            self.args = tuple(_clean(value) for value in self.args)

    def getMessage(self) -> str:
        return escape_control(redact(super().getMessage()))


def _pre_formatting(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """For a process where another library set its own record factory: escape on top of it, formatting eagerly."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.msg, record.args = escape_control(redact(record.getMessage())), None
        return record

    make.lexica_escapes = True  # type: ignore[attr-defined]
    return make


def install_log_safety() -> None:
    """Make every log record of this process escape control characters (idempotent); keep uvicorn's redaction."""
    factory = logging.getLogRecordFactory()
    if factory is logging.LogRecord:
        logging.setLogRecordFactory(SafeLogRecord)
    elif factory is not SafeLogRecord and not getattr(factory, "lexica_escapes", False):
        logging.setLogRecordFactory(_pre_formatting(factory))
    redact_access_logs()
