"""The command line: exit codes, one-line config errors, secrets kept out, --json.

Most tests call `cli.main(argv)` in-process; a few run `python -m kccsync` to
prove that no traceback reaches the terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kccsync import logs
from kccsync.cli import main
from kccsync.models import Address, ChannelOrder, Fulfillment
from kccsync.store import Store, feedback, orders
from kccsync.timeutil import iso, parse_iso

T = TypeVar("T")
EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
CONFIG_ERROR = "kccsync: config error: "
ORDER_ID = "202-0000000-0000001"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

CLIENT_ID = "amzn1.application-oa2-client.cli0123456789"
CLIENT_SECRET = "amzn1.oa2-cs.v1.CLIS3CR3TVALUE987"
REFRESH_TOKEN = "Atzr|CLIREFRESHTOKENVALUE654"

SIM_CHANNEL = """
[[channels]]
name = "demo"
marketplace_ids = ["A1F83G8C2ARO7P"]
{body}
[channels.simulator]
"""
REAL_CHANNEL = """
[[channels]]
name = "amazon-uk"
marketplace_ids = ["A1F83G8C2ARO7P"]
client_id = "{client_id}"
client_secret = "{client_secret}"
refresh_token = "file:refresh-token.txt"
"""
SYSTEM = '[system]\ndatabase = "kcc.db"\n'


def sim(body: str = "") -> str:
    return SIM_CHANNEL.format(body=body)


def real(
    client_id: str = "env:KCC_CLI_CLIENT_ID",
    client_secret: str = "env:KCC_CLI_CLIENT_SECRET",
) -> str:
    return REAL_CHANNEL.format(client_id=client_id, client_secret=client_secret)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Secrets in the environment, no stray config, logging reset afterwards."""
    monkeypatch.setenv("KCC_CLI_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("KCC_CLI_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.delenv("KCC_CLI_UNSET", raising=False)
    monkeypatch.delenv("KCCSYNC_CONFIG", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    (tmp_path / "refresh-token.txt").write_text(REFRESH_TOKEN + "\n", "utf-8")
    (tmp_path / "a-folder").mkdir()
    monkeypatch.chdir(tmp_path)
    yield
    logs.reset()


def write(tmp_path: Path, text: str, name: str = "kccsync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Call `fn` on a worker thread.

    `main()` calls `asyncio.run`, which clears the main thread's event loop; under
    pytest-asyncio that leaks its loop (pytest-asyncio#724: "unclosed event loop",
    an error with filterwarnings=error). A worker thread has its own loop slot.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`kccsync argv...` in-process: exit code, stdout, stderr."""
    code = in_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, ""), err
    return json.loads(out)


def kccsync(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`python -m kccsync argv...` as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "KCCSYNC_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "kccsync", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )


# -- malformed config files -------------------------------------------------------

Setup = Callable[[Path], Path]


def config_text(text: str) -> Setup:
    return lambda tmp_path: write(tmp_path, text)


def _missing_file(tmp_path: Path) -> Path:
    return tmp_path / "nowhere" / "kccsync.toml"


def _not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "kccsync.toml"
    path.write_bytes(SYSTEM.encode() + b'so_prefix = "\xff\xfe"\n' + sim().encode())
    return path


def _directory(tmp_path: Path) -> Path:
    return tmp_path / "a-folder"


MALFORMED: list[Any] = [
    pytest.param(
        config_text(SYSTEM + sim("bogus = 1")),
        "channels[0].bogus: unknown key",
        id="unknown-key",
    ),
    pytest.param(
        config_text(SYSTEM + 'so_digits = "six"\n' + sim()),
        "system.so_digits: expected an integer, got a string",
        id="wrong-type",
    ),
    pytest.param(
        config_text(SYSTEM + sim("upload_order_status = 1")),
        "channels[0].upload_order_status: expected true or false, got an integer",
        id="wrong-type-bool",
    ),
    pytest.param(
        config_text(
            SYSTEM + sim("quotas.order_items = { burst = -1, restore_seconds = 2 }")
        ),
        "channels[0].quotas.order_items.burst: must be >= 1",
        id="negative-burst",
    ),
    pytest.param(
        config_text(SYSTEM + sim('orders_interval = "2 weeks"')),
        "channels[0].orders_interval: bad duration '2 weeks'",
        id="bad-duration",
    ),
    pytest.param(
        config_text(SYSTEM + sim() + sim()),
        "channels: duplicate channel name 'demo' (channels[0] and channels[1])",
        id="duplicate-channel",
    ),
    pytest.param(
        config_text(SYSTEM + sim() + real(client_id="env:KCC_CLI_UNSET")),
        "channels[1].client_id: environment variable KCC_CLI_UNSET is not set",
        id="missing-env-var",
    ),
    pytest.param(
        config_text(SYSTEM + real(client_secret="file:a-folder")),
        "channels[0].client_secret: cannot read secret file",
        id="unreadable-secret-file",
    ),
    pytest.param(
        config_text(SYSTEM + "[[channels]\n"),
        "invalid TOML",
        id="bad-toml",
    ),
    pytest.param(_missing_file, "config file not found", id="missing-file"),
    pytest.param(
        config_text("channels = []\n" + SYSTEM),
        "channels: must not be empty",
        id="empty-channels",
    ),
    pytest.param(
        config_text(SYSTEM), "channels: required key is missing", id="no-channels"
    ),
    pytest.param(_not_utf8, "not UTF-8", id="not-utf8"),
    pytest.param(_directory, "cannot read config file", id="config-is-a-folder"),
]


class TestConfigErrors:
    @pytest.mark.parametrize(("setup", "expected"), MALFORMED)
    def test_malformed_config_is_one_line_and_exit_2(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        setup: Setup,
        expected: str,
    ) -> None:
        path = setup(tmp_path)

        code, out, err = run(capsys, "--config", str(path), "check-config")

        assert code == 2
        assert out == ""
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"{CONFIG_ERROR}{path}: ")
        assert expected in lines[0]
        assert "Traceback" not in err

    def test_config_error_never_shows_the_secret_value(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A secret in the wrong field type is named by path, never echoed."""
        path = write(
            tmp_path,
            SYSTEM + real() + f'region = "{CLIENT_SECRET}"\n',
        )

        code, out, err = run(capsys, "--config", str(path), "check-config")

        assert code == 2
        assert "channels[0].region" in err
        assert CLIENT_SECRET not in out + err

    @pytest.mark.parametrize(
        "case",
        ["bad-toml", "unreadable-secret-file", "missing-file"],
    )
    def test_no_traceback_from_the_real_entry_point(
        self, tmp_path: Path, case: str
    ) -> None:
        setup, expected = next(
            p.values for p in MALFORMED if p.id == case
        )  # reuse the table

        path = setup(tmp_path)
        proc = kccsync(tmp_path, "--config", str(path), "check-config")

        assert proc.returncode == 2
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert str(path) in lines[0]
        assert expected in lines[0]


# -- check-config, help, usage errors ---------------------------------------------


class TestCheckConfig:
    def test_example_config_checks_out(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = run(capsys, "--config", str(EXAMPLE), "check-config")

        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0] == f"config {EXAMPLE}: OK"
        assert any(
            line.startswith("channel demo-uk:") and "built-in simulator" in line
            for line in lines
        )
        assert f"database: {EXAMPLE.parent / 'kccsync.db'}" in lines

    def test_summary_shows_no_secret(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(
            tmp_path, SYSTEM + 'so_prefix = "KC"\nso_digits = 4\n' + real() + sim()
        )

        code, out, err = run(capsys, "--config", str(path), "check-config")

        assert (code, err) == (0, "")
        assert "channel amazon-uk:" in out
        assert "channel demo:" in out
        assert "KC0001" in out
        assert f"database: {tmp_path / 'kcc.db'}" in out
        for secret in (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN):
            assert secret not in out
        assert not (tmp_path / "kcc.db").exists()  # check-config opens no database

    def test_config_from_environment_variable(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        path = write(tmp_path, SYSTEM + sim(), name="from-env.toml")
        monkeypatch.setenv("KCCSYNC_CONFIG", str(path))

        code, out, _ = run(capsys, "check-config")

        assert code == 0
        assert out.startswith(f"config {path}: OK")


class TestUsage:
    def test_help_exits_0_and_lists_commands(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with pytest.raises(SystemExit) as info:
            main(["--help"])
        out = capsys.readouterr().out

        assert info.value.code == 0
        for command in ("run", "check-config", "orders", "stock", "tasks"):
            assert command in out

    def test_help_from_the_real_entry_point(self, tmp_path: Path) -> None:
        proc = kccsync(tmp_path, "--help")

        assert proc.returncode == 0
        assert proc.stdout.startswith("usage: kccsync")
        assert proc.stderr == ""

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            pytest.param([], "required", id="no-command"),
            pytest.param(["bogus"], "invalid choice", id="unknown-command"),
            pytest.param(["orders"], "required", id="no-action"),
            pytest.param(
                ["orders", "list", "--state", "lost"], "invalid choice", id="bad-state"
            ),
            pytest.param(
                ["orders", "list", "--channel", "x", "--all"],
                "not allowed with",
                id="exclusive",
            ),
            pytest.param(
                ["orders", "issue", ORDER_ID, "--tracking", "T1"],
                "--carrier",
                id="missing-option",
            ),
            pytest.param(["orders", "ignore"], "required", id="missing-ids"),
            pytest.param(["tasks", "--jsn"], "unrecognized", id="unknown-option"),
        ],
    )
    def test_bad_arguments_exit_2(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
    ) -> None:
        with pytest.raises(SystemExit) as info:
            main(argv)
        out, err = capsys.readouterr()

        assert info.value.code == 2
        assert out == ""
        assert err.startswith("usage: kccsync")
        assert expected in err.splitlines()[-1]

    def test_bad_arguments_from_the_real_entry_point(self, tmp_path: Path) -> None:
        proc = kccsync(tmp_path, "orders", "list", "--state", "lost")

        assert proc.returncode == 2
        assert "invalid choice" in proc.stderr
        assert "Traceback" not in proc.stderr


# -- admin commands on a database -------------------------------------------------


async def _seed(db: Path) -> None:
    """One downloaded MFN order, a failed task and an open notification."""
    store = await Store.open(db)
    try:
        now = iso(T0)
        channel_id = await store.tx(orders.ensure_channel, "demo", "amazon", now)
        order = ChannelOrder(
            order_id=ORDER_ID,
            purchase_date=T0,
            last_update=T0,
            status="Unshipped",
            fulfillment=Fulfillment.MFN,
            marketplace_id="A1F83G8C2ARO7P",
            buyer_email="buyer@marketplace.example",
            ship_to=Address(name="A", line1="1 St", city="X", country_code="IE"),
            raw={"AmazonOrderId": ORDER_ID},
        )
        await store.tx(orders.upsert_orders, channel_id, [order], now)
        await store.tx(
            feedback.task_failed,
            channel_id,
            "orders",
            "orders_throttled",
            "warning",
            "Error downloading orders: Request is throttled",
            "429 QuotaExceeded",
            now,
        )
    finally:
        await store.close()


def seed(db: Path) -> None:
    in_thread(asyncio.run, _seed(db))


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write(tmp_path, SYSTEM + sim())


class TestAdminCommands:
    def test_commands_before_the_database_exists_fail_clearly(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, err = run(
            capsys, "--config", str(config_path), "orders", "list", "--json"
        )

        assert code == 1
        assert out == ""
        assert "does not exist yet" in err
        assert len(err.splitlines()) == 1

    def test_fresh_database_gives_valid_empty_json(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        cfg = ("--config", str(config_path))
        code, out, _ = run(capsys, *cfg, "stock", "add", "GADGET")
        assert code == 0
        assert "GADGET" in out

        views = {
            name: run_json(capsys, *cfg, *argv)
            for name, argv in {
                "orders": ("orders", "list", "--json"),
                "tasks": ("tasks", "--json"),
                "notifications": ("notifications", "--json"),
            }.items()
        }

        assert views == {"orders": [], "tasks": [], "notifications": []}
        assert (config_path.parent / "kcc.db").is_file()

    def test_stock_add_and_list(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        cfg = ("--config", str(config_path))
        run(capsys, *cfg, "stock", "add", "GADGET")
        code, out, _ = run(
            capsys,
            *cfg,
            "stock",
            "add",
            "WIDGET",
            "--sku",
            "AMZ-W2",
            "--sku",
            "AMZ-W1",
            "--description",
            "A widget",
        )

        listed = run_json(capsys, *cfg, "stock", "list", "--json")

        assert code == 0
        assert "AMZ-W2" in out
        assert listed == [
            {"code": "GADGET", "description": None, "skus": ["GADGET"]},
            {"code": "WIDGET", "description": "A widget", "skus": ["AMZ-W1", "AMZ-W2"]},
        ]

    def test_views_as_json(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        seed(config_path.parent / "kcc.db")
        cfg = ("--config", str(config_path))

        listed = run_json(capsys, *cfg, "orders", "list", "--json")
        imported = run_json(
            capsys, *cfg, "orders", "list", "--state", "imported", "--json"
        )
        other = run_json(capsys, *cfg, "orders", "list", "--channel", "x", "--json")
        tasks = run_json(capsys, *cfg, "tasks", "--json")
        notes = run_json(capsys, *cfg, "notifications", "--json")

        assert (imported, other) == ([], [])
        assert len(listed) == 1
        order = listed[0]
        assert {
            "channel",
            "order_id",
            "state",
            "channel_status",
            "fulfillment",
            "purchase_date",
            "last_update",
            "so_code",
            "customer",
            "error",
            "shipping_notification",
        } <= set(order)
        assert (order["channel"], order["order_id"], order["state"]) == (
            "demo",
            ORDER_ID,
            "pending",
        )
        assert (order["fulfillment"], order["shipping_notification"]) == ("MFN", None)
        assert parse_iso(order["purchase_date"]) == T0
        assert order["purchase_date"].endswith("Z")
        assert tasks == [
            {
                "channel": "demo",
                "task": "orders",
                "last_run": iso(T0),
                "last_success": None,
                "last_error": "429 QuotaExceeded",
            }
        ]
        assert len(notes) == 1
        assert set(notes[0]) == {
            "channel",
            "severity",
            "message",
            "details",
            "first_seen",
            "last_seen",
            "count",
            "resolved",
        }
        assert (notes[0]["count"], notes[0]["resolved"]) == (1, False)
        assert "throttled" in notes[0]["message"]

    def test_orders_list_table(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        seed(config_path.parent / "kcc.db")

        code, out, _ = run(capsys, "--config", str(config_path), "orders", "list")

        assert code == 0
        header, *rows = out.splitlines()
        assert header.split()[:3] == ["CHANNEL", "ORDER_ID", "STATE"]
        assert [row.split()[:3] for row in rows] == [["demo", ORDER_ID, "pending"]]

    def test_orders_show_and_unknown_id(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        seed(config_path.parent / "kcc.db")
        cfg = ("--config", str(config_path))

        detail = run_json(capsys, *cfg, "orders", "show", ORDER_ID, "--json")
        code, out, err = run(capsys, *cfg, "orders", "show", "NOPE")

        assert (detail["order_id"], detail["state"]) == (ORDER_ID, "pending")
        assert (detail["sales_order"], detail["open_actions"]) == (None, [])
        assert code == 1
        assert out == ""
        assert err.splitlines() == [
            "kccsync: NOPE: no such order (give a channel order id or SO code)"
        ]

    def test_actions_are_queued_only_when_every_id_is_known(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        seed(config_path.parent / "kcc.db")
        cfg = ("--config", str(config_path))

        bad_code, _, bad_err = run(capsys, *cfg, "orders", "ignore", ORDER_ID, "NOPE")
        after_bad = run_json(capsys, *cfg, "orders", "show", ORDER_ID, "--json")
        code, out, _ = run(capsys, *cfg, "orders", "retry-import", ORDER_ID)
        after = run_json(capsys, *cfg, "orders", "show", ORDER_ID, "--json")

        assert bad_code == 1
        assert "NOPE" in bad_err
        assert after_bad["open_actions"] == []
        assert code == 0
        assert f"{ORDER_ID}: retry-import queued" in out
        assert after["open_actions"] == ["retry_import"]

    def test_issue_refuses_an_order_not_imported(
        self, config_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        seed(config_path.parent / "kcc.db")

        code, out, err = run(
            capsys,
            "--config",
            str(config_path),
            "orders",
            "issue",
            ORDER_ID,
            "--carrier",
            "Royal Mail",
            "--tracking",
            "RM123",
        )

        assert code == 1
        assert out == ""
        assert "not imported" in err

    def test_issue_on_a_channel_gone_from_the_config_fails_clearly(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = write(tmp_path, SYSTEM + sim().replace('"demo"', '"renamed"'))
        seed(tmp_path / "kcc.db")

        code, out, err = run(
            capsys,
            *("--config", str(config), "orders", "issue", ORDER_ID),
            *("--carrier", "Royal Mail", "--tracking", "RM123"),
        )

        assert (code, out) == (1, "")
        assert "channel demo is not in the config file" in err
