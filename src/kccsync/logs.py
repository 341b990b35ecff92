"""Logging setup: structlog and stdlib `logging` to one stream, secrets masked.

`configure()` is called once by the CLI; other modules call `structlog.get_logger()`
and log snake_case events with fields. Output is JSON lines (journald, files, pipes)
or a readable console view on a TTY, each line carrying an ISO UTC `timestamp`,
`level` and `event`. Under systemd each line starts with a `<N>` syslog priority,
so `journalctl -p err` works. Before anything is rendered, `redact` masks secret
and personal fields and token-looking text, including in tracebacks, which never
show frame locals (structlog's default does: secrets included).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

REDACTED = "[redacted]"

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
#: syslog priorities (sd-daemon(3)); journald strips the prefix and files the line.
_PRIORITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}

# A key is split into lower-case words (`x-amz-access-token`, `BuyerEmail`,
# `AddressLine1`) and is sensitive if one word, or the whole key, is listed.
# Whole words only: `tokens` (a bucket level), `name` and `channel` stay visible.
_SENSITIVE_WORDS = frozenset(
    {"token", "secret", "password", "passwd", "passphrase", "authorization",
     "credential", "credentials", "cookie", "rdt",
     "address", "street", "phone", "email", "postal", "postcode", "zip",
     "buyer", "recipient"}
)  # fmt: skip
_SENSITIVE_KEYS = frozenset({"api_key", "ship_to", "customer_name", "full_name"})
_SAFE_KEYS = frozenset({"token_url"})  # a configured endpoint, not a token
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")

# Secrets inside text: LWA access/refresh tokens and RDTs (`Atza|…`, `Atzr|…`,
# `Atz.sprdt|…`), LWA client secrets, bearer headers, `key=value` form fields,
# and e-mail addresses (a buyer's, quoted in an error message).
_SECRET_TEXT = re.compile(
    r"Atz[A-Za-z0-9.]*\|[^\s\"'&,;)\]}]+"
    r"|amzn1\.oa2-cs\.v1\.[0-9A-Za-z]+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?i:(?P<scheme>bearer)\s+)[^\s\"',;]+"
    r"|(?i:(?P<field>(?:client_secret|refresh_token|access_token|password)"
    r"[\"']?\s*[=:]\s*[\"']?))[^&\s\"',;}]+"
)
_MAX_DEPTH = 12


def _mask_match(m: re.Match[str]) -> str:
    if m["scheme"]:
        return f"{m['scheme']} {REDACTED}"
    return f"{m['field'] or ''}{REDACTED}"


def mask_text(text: str) -> str:
    """`text` with token-looking substrings replaced by `[redacted]`."""
    return _SECRET_TEXT.sub(_mask_match, text)


@functools.lru_cache(maxsize=2048)
def is_sensitive_key(key: str) -> bool:
    """Whether a field named `key` holds a secret or personal data."""
    words = [w for w in _NON_ALNUM.split(_CAMEL.sub("_", key).lower()) if w]
    joined = "_".join(words)
    if joined in _SAFE_KEYS:
        return False
    return joined in _SENSITIVE_KEYS or not _SENSITIVE_WORDS.isdisjoint(words)


def _clean(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return mask_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {str(k): _clean_field(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, BaseException):
        return mask_text(f"{type(value).__name__}: {value}")
    # Render other objects here, so that their text is masked too.
    return mask_text(str(value))


def _clean_field(key: str, value: object, depth: int) -> object:
    # None, booleans and numbers cannot carry a credential: `next_token=True` stays.
    if is_sensitive_key(key) and not (
        value is None or isinstance(value, bool | int | float)
    ):
        return REDACTED
    return _clean(value, depth)


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: mask sensitive fields (recursively) and token-looking text."""
    return {key: _clean_field(key, value, 0) for key, value in event_dict.items()}


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _is_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal (`$JOURNAL_STREAM` is `device:inode`).

    Child processes inherit the variable; comparing with the stream's own file
    keeps `<N>` prefixes out of a pipe (e.g. a test reading the daemon's stdout).
    A stream without a file descriptor trusts the variable.
    """
    spec = os.environ.get("JOURNAL_STREAM")
    if not spec:
        return False
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return True
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    return spec == f"{st.st_dev}:{st.st_ino}"


def _with_priority(renderer: Processor) -> Processor:
    def render(logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        priority = _PRIORITY.get(str(event_dict.get("level", name)), 6)
        text = str(renderer(logger, name, event_dict))
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())

    return render


class _Handler(logging.StreamHandler[TextIO]):
    """Our root handler, told apart so that `configure()` can replace it."""


class _Writer(structlog.WriteLogger):
    """A `WriteLogger` that remembers `get_logger(name)`, as stdlib loggers do."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


def _add_logger_name(logger: WrappedLogger, _: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


def configure(
    *,
    fmt: Literal["auto", "json", "console"],
    level: str,
    stream: TextIO | None = None,
) -> None:
    """Send structlog and stdlib logging at `level` and above to `stream` (stdout)."""
    out = sys.stdout if stream is None else stream
    level_no = _LEVELS.get(level.lower())
    if level_no is None:
        raise ValueError(
            f"unknown log level {level!r}: use one of {', '.join(_LEVELS)}"
        )
    console = fmt == "console" or (fmt == "auto" and _isatty(out))
    renderer: Processor
    if console:
        colors = _isatty(out) and "NO_COLOR" not in os.environ
        exceptions: Processor = structlog.processors.format_exc_info  # never locals
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    else:
        exceptions = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        renderer = structlog.processors.JSONRenderer()
    if _is_journal(out):
        renderer = _with_priority(renderer)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    tail: list[Processor] = [exceptions, redact, renderer]

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_logger_name,
            timestamper,
            structlog.processors.StackInfoRenderer(),
            *tail,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=lambda *args: _Writer(out, str(args[0]) if args else None),
        # Off so that a later configure() (tests, reload) reaches every logger.
        cache_logger_on_first_use=False,
    )

    # Third-party libraries log through stdlib logging: same stream, same format.
    handler = _Handler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
            ],
        )
    )
    root = logging.getLogger()
    _remove_handlers(root)
    root.addHandler(handler)
    root.setLevel(level_no)
    # httpx logs every request at INFO: too chatty, and URLs may carry ids.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))


def _remove_handlers(root: logging.Logger) -> None:
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()


def reset() -> None:
    """Undo `configure()`: structlog's defaults, stdlib logging as it was (tests)."""
    structlog.reset_defaults()
    root = logging.getLogger()
    _remove_handlers(root)
    root.setLevel(logging.WARNING)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def get_logger(name: str | None = None) -> FilteringBoundLogger:
    """A structlog logger; `name` (if given) becomes the `logger` field."""
    log: FilteringBoundLogger = structlog.get_logger(*([name] if name else []))
    return log
