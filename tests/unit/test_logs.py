"""Logging: JSON and console output, redaction, journald priorities, tracebacks."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
import structlog

from kccsync import logs

Fmt = Literal["json", "console"]
LOCAL_SECRET = "hunter2-kept-in-a-local"


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _clean_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test configures logging afresh; nothing leaks into the next one."""
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    logs.reset()


def configured(fmt: Fmt = "json", level: str = "debug") -> io.StringIO:
    out = io.StringIO()
    logs.configure(fmt=fmt, level=level, stream=out)
    return out


def records(out: io.StringIO) -> list[dict[str, Any]]:
    """The JSON lines written to `out` (every line must parse)."""
    return [json.loads(line) for line in out.getvalue().splitlines()]


def fail_with_secret_local() -> None:
    refresh_token = LOCAL_SECRET
    raise RuntimeError(f"LWA refused Atzr|IwEBleaked (length {len(refresh_token)})")


class TestJsonOutput:
    def test_json_line_has_timestamp_level_event_and_fields(self) -> None:
        out = configured()

        logs.get_logger("kccsync.sync").info(
            "orders_page_fetched", channel="uk", count=3
        )

        [rec] = records(out)
        assert rec["event"] == "orders_page_fetched"
        assert rec["level"] == "info"
        assert rec["logger"] == "kccsync.sync"
        assert rec["channel"] == "uk"
        assert rec["count"] == 3
        assert rec["timestamp"].endswith("Z")
        stamp = datetime.fromisoformat(rec["timestamp"])
        assert stamp.utcoffset() == UTC.utcoffset(None)

    def test_level_below_threshold_is_dropped(self) -> None:
        out = configured(level="info")
        log = structlog.get_logger()

        log.debug("noise")
        log.warning("throttled", channel="uk")

        assert [r["event"] for r in records(out)] == ["throttled"]
        assert records(out)[0]["level"] == "warning"

    def test_bound_context_is_included(self) -> None:
        out = configured()
        structlog.contextvars.bind_contextvars(channel="amazon-de")

        structlog.get_logger().info("task_started", task="orders")

        assert records(out)[0]["channel"] == "amazon-de"

    def test_auto_format_is_json_when_not_a_tty(self) -> None:
        out = io.StringIO()
        logs.configure(fmt="auto", level="info", stream=out)

        structlog.get_logger().info("daemon_ready")

        assert records(out)[0]["event"] == "daemon_ready"

    def test_unknown_level_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="unknown log level 'loud'"):
            logs.configure(fmt="json", level="loud", stream=io.StringIO())

    def test_level_is_case_insensitive(self) -> None:
        out = configured(level="WARNING")

        structlog.get_logger().info("quiet")
        structlog.get_logger().error("loud")

        assert [r["event"] for r in records(out)] == ["loud"]


class TestConsoleOutput:
    def test_auto_format_is_console_on_a_tty(self) -> None:
        out = TTY()
        logs.configure(fmt="auto", level="info", stream=out)

        structlog.get_logger().info("daemon_ready", channel="uk")

        line = out.getvalue()
        assert "daemon_ready" in line
        assert "channel=uk" in line
        assert not line.startswith("{")

    def test_console_has_no_colours_off_a_tty(self) -> None:
        out = configured("console")

        structlog.get_logger().info("daemon_ready")

        assert "\x1b[" not in out.getvalue()


class TestRedaction:
    @pytest.mark.parametrize("fmt", ["json", "console"])
    def test_secret_fields_are_redacted(self, fmt: Fmt) -> None:
        out = configured(fmt)

        structlog.get_logger().info(
            "token_refreshed",
            channel="amazon-uk",
            access_token="opaque-access-value",
            client_secret="opaque-client-value",
            headers={"x-amz-access-token": "opaque-header", "User-Agent": "kccsync"},
            password="pw-value",
        )

        text = out.getvalue()
        for secret in ("opaque-access-value", "opaque-client-value", "opaque-header"):
            assert secret not in text
        assert "pw-value" not in text
        assert "[redacted]" in text
        assert "amazon-uk" in text
        assert "kccsync" in text

    @pytest.mark.parametrize("fmt", ["json", "console"])
    def test_token_text_is_masked_in_messages(self, fmt: Fmt) -> None:
        out = configured(fmt)

        structlog.get_logger().warning(
            "auth failed for Atza|IwEBevent",
            detail="sent Authorization: Bearer Atza|IwEBbearer to the API",
            body="grant_type=refresh_token&refresh_token=Atzr|IwEBform&client_id=x",
            nested=[{"note": "rdt Atz.sprdt|IwEBrdt"}, "amzn1.oa2-cs.v1.abcdef0123"],
        )

        text = out.getvalue()
        for leak in ("IwEB", "abcdef0123"):
            assert leak not in text
        assert "client_id=x" in text

    def test_personal_data_keys_are_redacted_recursively(self) -> None:
        out = configured()
        order = {
            "AmazonOrderId": "203-1234567-1234567",
            "ShippingAddress": {"Name": "Jo Bloggs", "PostalCode": "AB1 2CD"},
            "BuyerInfo": {"BuyerEmail": "jo@example.com"},
            "items": [{"SellerSKU": "SKU-1", "phone": "01234 567890"}],
        }

        structlog.get_logger().info(
            "order_parsed", order=order, address_line1="1 High St", email="a@b.c"
        )

        [rec] = records(out)
        assert rec["order"] == {
            "AmazonOrderId": "203-1234567-1234567",
            "ShippingAddress": "[redacted]",
            "BuyerInfo": "[redacted]",
            "items": [{"SellerSKU": "SKU-1", "phone": "[redacted]"}],
        }
        assert rec["address_line1"] == "[redacted]"
        assert rec["email"] == "[redacted]"

    def test_ordinary_fields_survive(self) -> None:
        out = configured()

        structlog.get_logger().info(
            "bucket_waited",
            channel="amazon-uk",
            name="amazon-uk",
            tokens=2.5,
            next_token=True,
            refresh_token=None,
            token_url="https://api.amazon.com/auth/o2/token",
        )

        [rec] = records(out)
        assert rec["channel"] == rec["name"] == "amazon-uk"
        assert rec["tokens"] == 2.5
        assert rec["next_token"] is True
        assert rec["refresh_token"] is None
        assert rec["token_url"] == "https://api.amazon.com/auth/o2/token"

    def test_objects_are_rendered_then_masked(self) -> None:
        out = configured()

        structlog.get_logger().error(
            "call_failed",
            error=ValueError("bad Atza|IwEBobj"),
            path=Path("/var/lib/kccsync"),
            at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        )

        [rec] = records(out)
        assert rec["error"] == "ValueError: bad [redacted]"
        assert rec["path"] == "/var/lib/kccsync"
        assert rec["at"] == "2026-03-01T12:00:00+00:00"

    @pytest.mark.parametrize(
        "key",
        ["access_token", "refreshToken", "x-amz-access-token", "Authorization",
         "client_secret", "password", "rdt", "RestrictedDataToken", "credentials",
         "api_key", "ShippingAddress", "AddressLine2", "street", "phone", "BuyerEmail",
         "buyer_name", "ship_to", "PostalCode", "postcode", "zip", "customer_name"],
    )  # fmt: skip
    def test_sensitive_keys(self, key: str) -> None:
        assert logs.is_sensitive_key(key)

    @pytest.mark.parametrize(
        "key",
        ["event", "channel", "name", "level", "logger", "timestamp", "tokens",
         "token_url", "order_id", "AmazonOrderId", "SellerSKU", "count", "state",
         "so_code", "marketplace_ids", "exception"],
    )  # fmt: skip
    def test_ordinary_keys(self, key: str) -> None:
        assert not logs.is_sensitive_key(key)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Atza|IwEBIA-_x+/=", "[redacted]"),
            ("token Atzr|abc, then", "token [redacted], then"),
            ('{"access_token":"Atza|q"}', '{"access_token":"[redacted]"}'),
            ("Authorization: bearer abc.def", "Authorization: bearer [redacted]"),
            ("client_secret=hush&x=1", "client_secret=[redacted]&x=1"),
            ('"password": "hush"', '"password": "[redacted]"'),
            ("buyer jo.b+x@marketplace.amazon.co.uk: bad", "buyer [redacted]: bad"),
            ("nothing to see", "nothing to see"),
        ],
    )
    def test_mask_text(self, text: str, expected: str) -> None:
        assert logs.mask_text(text) == expected


class TestExceptions:
    def test_json_traceback_is_structured_without_locals(self) -> None:
        out = configured()

        try:
            fail_with_secret_local()
        except RuntimeError:
            structlog.get_logger().exception("token_refresh_failed", channel="uk")

        text = out.getvalue()
        [rec] = records(out)
        [exc] = rec["exception"]
        assert rec["level"] == "error"
        assert exc["exc_type"] == "RuntimeError"
        assert exc["exc_value"] == "LWA refused [redacted] (length 23)"
        assert exc["frames"][-1]["name"] == "fail_with_secret_local"
        assert all("locals" not in frame for frame in exc["frames"])
        assert LOCAL_SECRET not in text
        assert "IwEB" not in text

    def test_console_traceback_has_no_locals(self) -> None:
        out = configured("console")

        try:
            fail_with_secret_local()
        except RuntimeError:
            structlog.get_logger().exception("token_refresh_failed")

        text = out.getvalue()
        assert "Traceback (most recent call last)" in text
        assert "RuntimeError: LWA refused [redacted]" in text
        assert LOCAL_SECRET not in text
        assert "IwEB" not in text

    def test_stdlib_exception_is_structured_and_masked(self) -> None:
        out = configured()

        try:
            fail_with_secret_local()
        except RuntimeError:
            logging.getLogger("some.library").exception("callback failed")

        [rec] = records(out)
        assert rec["logger"] == "some.library"
        assert rec["exception"][0]["exc_value"].startswith("LWA refused [redacted]")
        assert LOCAL_SECRET not in out.getvalue()


class TestStdlibLogging:
    def test_stdlib_records_are_json_on_the_same_stream(self) -> None:
        out = configured(level="info")

        logging.getLogger("aiosqlite").warning("slow %s with Bearer %s", "query", "xyz")

        [rec] = records(out)
        assert rec["event"] == "slow query with Bearer [redacted]"
        assert rec["level"] == "warning"
        assert rec["logger"] == "aiosqlite"
        assert rec["timestamp"].endswith("Z")

    def test_httpx_info_is_silenced_but_warnings_pass(self) -> None:
        out = configured(level="debug")

        logging.getLogger("httpx").info("HTTP Request: GET https://example/ 200")
        logging.getLogger("httpcore.http11").debug("send_request_headers")
        logging.getLogger("httpx").warning("retrying")

        assert [r["event"] for r in records(out)] == ["retrying"]

    def test_reconfiguring_replaces_the_handler(self) -> None:
        first = configured()
        second = configured()

        logging.getLogger("lib").warning("once")

        assert first.getvalue() == ""
        assert len(records(second)) == 1

    def test_reset_detaches_from_stdlib(self) -> None:
        out = configured()

        logs.reset()
        logging.getLogger("lib").warning("after reset")

        assert out.getvalue() == ""


class TestJournal:
    @pytest.mark.parametrize(
        ("method", "priority"),
        [("debug", 7), ("info", 6), ("warning", 4), ("error", 3), ("critical", 2)],
    )
    def test_priority_prefix_when_journal_stream_is_set(
        self, monkeypatch: pytest.MonkeyPatch, method: str, priority: int
    ) -> None:
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
        out = configured()

        getattr(structlog.get_logger(), method)("something_happened")

        line = out.getvalue()
        assert line.startswith(f"<{priority}>{{")
        assert json.loads(line.removeprefix(f"<{priority}>"))["level"] == method

    def test_stdlib_records_get_the_prefix_too(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
        out = configured()

        logging.getLogger("lib").error("broken")

        assert out.getvalue().startswith("<3>{")

    def test_no_prefix_without_journal_stream(self) -> None:
        out = configured()

        structlog.get_logger().error("broken")

        assert out.getvalue().startswith("{")

    def test_prefix_only_when_the_stream_is_the_journal(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A child process inherits $JOURNAL_STREAM; its pipe gets plain JSON."""
        journal_path, pipe_path = tmp_path / "journal", tmp_path / "pipe"
        with journal_path.open("w", encoding="utf-8") as journal:
            st = os.fstat(journal.fileno())
            monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
            logs.configure(fmt="json", level="info", stream=journal)
            structlog.get_logger().warning("to_journal")
        with pipe_path.open("w", encoding="utf-8") as pipe:
            logs.configure(fmt="json", level="info", stream=pipe)
            structlog.get_logger().warning("to_pipe")

        assert journal_path.read_text(encoding="utf-8").startswith("<4>{")
        assert pipe_path.read_text(encoding="utf-8").startswith("{")
