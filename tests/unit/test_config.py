"""Config loading: the example file, one clear line per problem, durations, secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from kccsync.config import (
    DEFAULT_CONFIG_PATH,
    Channel,
    Config,
    Quota,
    SimulatorSettings,
    System,
    load,
    load_path,
    parse_duration,
    resolve_path,
    resolve_secret,
)
from kccsync.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
SOURCE = "kccsync.toml"


def channel(name: str = "demo", body: str = "", *, simulator: bool = True) -> str:
    """One `[[channels]]` table; `body` lines go before any sub-table."""
    text = f'[[channels]]\nname = "{name}"\nmarketplace_ids = ["A1F83G8C2ARO7P"]\n'
    if body.strip():
        text += textwrap.dedent(body).strip() + "\n"
    if simulator:
        text += "[channels.simulator]\n"
    return text


def real_channel(name: str = "amazon-uk", body: str = "") -> str:
    secrets = """
        client_id = "env:KCC_TEST_CLIENT_ID"
        client_secret = "env:KCC_TEST_CLIENT_SECRET"
        refresh_token = "env:KCC_TEST_REFRESH_TOKEN"
    """
    return channel(name, textwrap.dedent(secrets) + body, simulator=False)


def problems(text: str, base_dir: Path) -> list[str]:
    """The problem lines `load` reports for `text` (which must be invalid)."""
    with pytest.raises(ConfigError) as info:
        load(text, base_dir=base_dir, source=SOURCE)
    return info.value.problems


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCC_TEST_CLIENT_ID", "amzn1.application-oa2-client.abc")
    monkeypatch.setenv("KCC_TEST_CLIENT_SECRET", "amzn1.oa2-cs.v1.s3cr3t")
    monkeypatch.setenv("KCC_TEST_REFRESH_TOKEN", "Atzr|refresh-me")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("KCCSYNC_CONFIG", raising=False)


class TestExampleFile:
    def test_example_config_validates(self) -> None:
        config = load_path(EXAMPLE)

        assert [ch.name for ch in config.channels] == ["demo-uk"]
        assert config.channels[0].simulator is not None
        assert config.system.database == EXAMPLE.parent / "kccsync.db"

    def test_example_config_shows_the_defaults(self) -> None:
        """The example shows every key with its default, except where it says not."""
        config = load_path(EXAMPLE)
        demo = config.channels[0]
        defaults = Channel(
            name=demo.name,
            marketplace_ids=demo.marketplace_ids,
            restricted_data=True,  # the demo turns it on; the comment says so
            simulator=SimulatorSettings(),
        )

        assert demo == defaults
        assert config.system.model_copy(update={"database": Path("kccsync.db")}) == (
            System()
        )

    def test_example_real_channel_validates_when_uncommented(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        text = EXAMPLE.read_text(encoding="utf-8")
        head, _, commented = text.partition("# A real Amazon channel")
        lines = commented.splitlines()[1:]
        uncommented = "\n".join(line.removeprefix("# ") for line in lines)
        monkeypatch.setenv("AMAZON_UK_CLIENT_ID", "amzn1.application-oa2-client.x")
        (tmp_path / "amazon-uk-client-secret").write_text("cs\n", encoding="utf-8")
        (tmp_path / "amazon-uk-refresh-token").write_text("Atzr|rt\n", encoding="utf-8")
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))

        config = load(head + uncommented, base_dir=tmp_path)

        uk = config.channel("amazon-uk")
        assert uk.simulator is None
        assert uk.client_secret is not None
        assert uk.client_secret.get_secret_value() == "cs"


class TestProblems:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                channel(body="bogus = 1"),
                "channels[0].bogus: unknown key",
                id="unknown-key",
            ),
            pytest.param(
                "[system]\nlogfmt = 'json'\n" + channel(),
                "system.logfmt: unknown key",
                id="unknown-system-key",
            ),
            pytest.param(
                channel() + "speed = 2\n",
                "channels[0].simulator.speed: unknown key",
                id="unknown-simulator-key",
            ),
            pytest.param(
                "[system]\nso_digits = 'six'\n" + channel(),
                "system.so_digits: expected an integer, got a string",
                id="int-as-string",
            ),
            pytest.param(
                channel(body='enabled = "yes"'),
                "channels[0].enabled: expected true or false, got a string",
                id="bool-as-string",
            ),
            pytest.param(
                '[[channels]]\nname = "demo"\nmarketplace_ids = "A1"\n'
                "[channels.simulator]\n",
                "channels[0].marketplace_ids: expected an array, got a string",
                id="array-as-string",
            ),
            pytest.param(
                channel(body="quotas = { orders = 6 }"),
                "channels[0].quotas.orders: expected a table, got an integer",
                id="table-as-int",
            ),
            pytest.param(
                channel()
                + real_channel(
                    body="quotas.order_items = { burst = -1, restore_seconds = 2 }"
                ),
                "channels[1].quotas.order_items.burst: must be >= 1",
                id="negative-burst",
            ),
            pytest.param(
                channel(
                    body="quotas = { orders = { burst = 1, restore_seconds = 0 } }"
                ),
                "channels[0].quotas.orders.restore_seconds: must be > 0",
                id="zero-restore",
            ),
            pytest.param(
                channel(body='orders_interval = "5"'),
                "channels[0].orders_interval: bad duration '5': use a whole number"
                " and s, m, h or d ('90s', '7d')",
                id="duration-without-unit",
            ),
            pytest.param(
                channel(body="initial_lookback = 7"),
                "channels[0].initial_lookback: expected a duration string such as"
                " '90s', '2m', '3h' or '7d', got an integer",
                id="duration-as-number",
            ),
            pytest.param(
                channel(body='status_upload_interval = "0s"'),
                "channels[0].status_upload_interval: bad duration '0s': must be at"
                " least 1s",
                id="duration-zero",
            ),
            pytest.param(
                channel("uk") + channel("de") + channel("uk"),
                "channels: duplicate channel name 'uk' (channels[0] and channels[2])",
                id="duplicate-name",
            ),
            pytest.param(
                channel("has space"),
                "channels[0].name: invalid value: use letters, digits, '_', '.' and"
                " '-', starting with a letter or digit",
                id="bad-name",
            ),
            pytest.param(
                channel(body='region = "us"'),
                "channels[0].region: Input should be 'na', 'eu' or 'fe'",
                id="bad-literal",
            ),
            pytest.param(
                channel(body='endpoint = "sellingpartnerapi-eu.amazon.com"'),
                "channels[0].endpoint: must be an http:// or https:// URL",
                id="endpoint-without-scheme",
            ),
            pytest.param(
                channel(body='api = "orders-2026-01-01"'),
                "channels[0].api: orders-2026-01-01 is not supported by this"
                ' kccsync version yet; use "orders-v0" (Amazon retires its read'
                " operations on 27 March 2027)",
                id="api-not-yet-supported",
            ),
            pytest.param(
                "channels = []\n",
                "channels: must not be empty",
                id="empty-channels",
            ),
            pytest.param(
                "[system]\nso_prefix = 'SO'\n",
                "channels: required key is missing",
                id="no-channels",
            ),
            pytest.param(
                '[channels]\nname = "demo"\n',
                "channels: expected [[channels]] tables (an array of tables),"
                " got a table",
                id="single-channels-table",
            ),
            pytest.param(
                channel(simulator=False),
                "channels[0]: missing client_id, client_secret, refresh_token (or"
                " add a [channels.simulator] table to use the built-in marketplace)",
                id="no-credentials",
            ),
            pytest.param(
                channel(
                    body="""
                    client_id = "env:KCC_TEST_UNSET_VAR"
                    client_secret = "env:KCC_TEST_CLIENT_SECRET"
                    refresh_token = "env:KCC_TEST_REFRESH_TOKEN"
                    """,
                    simulator=False,
                ),
                "channels[0].client_id: environment variable KCC_TEST_UNSET_VAR is"
                " not set",
                id="missing-env-var",
            ),
            pytest.param(
                channel(
                    body="""
                    client_id = "env:KCC_TEST_CLIENT_ID"
                    client_secret = "credential:amazon-uk-client-secret"
                    refresh_token = "env:KCC_TEST_REFRESH_TOKEN"
                    """,
                    simulator=False,
                ),
                "channels[0].client_secret: credential 'amazon-uk-client-secret'"
                " requested but $CREDENTIALS_DIRECTORY is not set (use"
                " LoadCredential= in the systemd unit)",
                id="credential-without-directory",
            ),
        ],
    )
    def test_problem_is_one_line_naming_the_path(
        self, tmp_path: Path, text: str, expected: str
    ) -> None:
        found = problems(text, tmp_path)

        assert found == [f"{SOURCE}: {expected}"]

    def test_problems_are_all_reported_one_per_line(self, tmp_path: Path) -> None:
        text = "[system]\nso_digits = 99\n" + channel(
            body='bogus = 1\norders_interval = "soon"'
        )

        found = problems(text, tmp_path)

        assert found == [
            f"{SOURCE}: system.so_digits: must be <= 12",
            f"{SOURCE}: channels[0].orders_interval: bad duration 'soon': use a"
            " whole number and s, m, h or d ('90s', '7d')",
            f"{SOURCE}: channels[0].bogus: unknown key",
        ]
        assert all("\n" not in line for line in found)

    def test_error_message_joins_problem_lines(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load(
                "channels = 3\n[system]\nbogus = 1\n", base_dir=tmp_path, source=SOURCE
            )

        assert str(info.value) == "\n".join(info.value.problems)
        assert len(info.value.problems) == 2

    def test_unreadable_secret_file_names_the_file(self, tmp_path: Path) -> None:
        text = channel(
            body="""
            client_id = "env:KCC_TEST_CLIENT_ID"
            client_secret = "file:secrets/missing.txt"
            refresh_token = "env:KCC_TEST_REFRESH_TOKEN"
            """,
            simulator=False,
        )

        found = problems(text, tmp_path)

        missing = tmp_path / "secrets" / "missing.txt"
        assert found == [
            f"{SOURCE}: channels[0].client_secret: cannot read secret file"
            f" {missing}: No such file or directory"
        ]

    def test_empty_secret_is_a_problem(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KCC_TEST_CLIENT_ID", "")
        (tmp_path / "empty").write_text("\n", encoding="utf-8")
        text = channel(
            body="""
            client_id = "env:KCC_TEST_CLIENT_ID"
            client_secret = "file:empty"
            refresh_token = "env:KCC_TEST_REFRESH_TOKEN"
            """,
            simulator=False,
        )

        found = problems(text, tmp_path)

        assert found == [
            f"{SOURCE}: channels[0].client_id: environment variable"
            " KCC_TEST_CLIENT_ID is empty",
            f"{SOURCE}: channels[0].client_secret: secret file"
            f" {tmp_path / 'empty'} is empty",
        ]

    def test_bad_toml_names_the_file_and_line(self, tmp_path: Path) -> None:
        found = problems(channel() + "[[channels]\n", tmp_path)

        assert len(found) == 1
        assert found[0].startswith(f"{SOURCE}: invalid TOML: ")
        assert "line 5" in found[0]

    def test_missing_file_is_not_found(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.toml"

        with pytest.raises(ConfigError) as info:
            load_path(path)

        assert info.value.problems == [f"{path}: config file not found"]

    def test_directory_as_file_cannot_be_read(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load_path(tmp_path)

        assert info.value.problems == [
            f"{tmp_path}: cannot read config file: Is a directory"
        ]

    def test_non_utf8_file_is_a_problem(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.toml"
        path.write_bytes(b'[system]\nso_prefix = "\xe9"\n')

        with pytest.raises(ConfigError) as info:
            load_path(path)

        assert info.value.problems == [f"{path}: config file is not UTF-8 text"]

    def test_problem_lines_do_not_show_secret_values(self, tmp_path: Path) -> None:
        text = channel(
            body="""
            client_id = 12345
            client_secret = "env:KCC_TEST_CLIENT_SECRET"
            refresh_token = "env:KCC_TEST_REFRESH_TOKEN"
            endpoint = 42
            """,
            simulator=False,
        )

        found = problems(text, tmp_path)

        assert not any("12345" in line or "s3cr3t" in line for line in found)


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "seconds"),
        [("90s", 90), ("2m", 120), ("8m", 480), ("3h", 10800), ("7d", 604800),
         ("1s", 1), (" 5 m ", 300)],
    )  # fmt: skip
    def test_duration_parses_to_seconds(self, text: str, seconds: int) -> None:
        assert parse_duration(text) == seconds

    @pytest.mark.parametrize(
        "value",
        ["0s", "1.5m", "5", "", "m", "-5s", "5 min", "5S", "\u0665s", 5, 5.0, True],
    )
    def test_duration_rejects(self, value: object) -> None:
        with pytest.raises(ValueError, match="duration"):
            parse_duration(value)

    def test_durations_load_as_seconds(self, tmp_path: Path) -> None:
        text = channel(body='orders_interval = "90s"\ninitial_lookback = "3h"')

        ch = load(text, base_dir=tmp_path).channels[0]

        assert ch.orders_interval == 90
        assert ch.initial_lookback == 10800
        assert ch.status_upload_interval == 480


class TestPaths:
    def test_relative_database_resolves_against_config_folder(
        self, tmp_path: Path
    ) -> None:
        folder = tmp_path / "etc"
        folder.mkdir()
        path = folder / "kccsync.toml"
        path.write_text('[system]\ndatabase = "data/k.db"\n' + channel(), "utf-8")

        config = load_path(path)

        assert config.system.database == folder / "data" / "k.db"

    def test_absolute_database_is_kept(self, tmp_path: Path) -> None:
        db = tmp_path / "elsewhere.db"
        text = f'[system]\ndatabase = "{db}"\n' + channel()

        assert load(text, base_dir=Path("/somewhere")).system.database == db

    def test_default_database_sits_next_to_the_config(self, tmp_path: Path) -> None:
        assert load(channel(), base_dir=tmp_path).system.database == (
            tmp_path / "kccsync.db"
        )

    def test_resolve_path_prefers_cli_value(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KCCSYNC_CONFIG", "/from/env.toml")

        assert resolve_path("/from/cli.toml") == Path("/from/cli.toml")

    def test_resolve_path_falls_back_to_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("KCCSYNC_CONFIG", "/from/env.toml")

        assert resolve_path(None) == Path("/from/env.toml")

    def test_resolve_path_defaults_to_etc(self) -> None:
        assert (
            resolve_path(None)
            == DEFAULT_CONFIG_PATH
            == Path("/etc/kccsync/config.toml")
        )


class TestSecrets:
    def test_env_file_and_credential_references_resolve(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        creds = tmp_path / "creds"
        creds.mkdir()
        (creds / "uk-refresh").write_text("Atzr|from-credential\n", "utf-8")
        (tmp_path / "client-secret.txt").write_text("from-file\n", "utf-8")
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
        text = channel(
            body="""
            client_id = "env:KCC_TEST_CLIENT_ID"
            client_secret = "file:client-secret.txt"
            refresh_token = "credential:uk-refresh"
            """,
            simulator=False,
        )

        ch = load(text, base_dir=tmp_path).channels[0]

        assert ch.client_id is not None
        assert ch.client_secret is not None
        assert ch.refresh_token is not None
        assert ch.client_id.get_secret_value() == "amzn1.application-oa2-client.abc"
        assert ch.client_secret.get_secret_value() == "from-file"
        assert ch.refresh_token.get_secret_value() == "Atzr|from-credential"

    def test_absolute_file_reference(self, tmp_path: Path) -> None:
        secret = tmp_path / "s"
        secret.write_text("abc", "utf-8")

        assert resolve_secret(f"file:{secret}", base_dir=Path("/elsewhere")) == "abc"

    def test_text_without_a_known_prefix_is_literal(self) -> None:
        assert resolve_secret("plain:text") == "plain:text"

    def test_credential_name_must_not_be_a_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))

        with pytest.raises(ValueError, match="a name, not a path"):
            resolve_secret("credential:../etc/passwd")

    def test_empty_reference_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="empty reference after 'env:'"):
            resolve_secret("env:")

    def test_secrets_are_secretstr_and_hidden_from_repr(self, tmp_path: Path) -> None:
        config = load(real_channel(), base_dir=tmp_path)
        ch = config.channels[0]

        assert isinstance(ch.refresh_token, SecretStr)
        for shown in (repr(config), str(config), repr(ch), ch.model_dump_json()):
            assert "Atzr|refresh-me" not in shown
            assert "s3cr3t" not in shown


class TestModels:
    def test_channel_lookup_by_name(self, tmp_path: Path) -> None:
        config = load(channel("uk") + channel("de"), base_dir=tmp_path)

        assert config.channel("de").name == "de"
        with pytest.raises(KeyError):
            config.channel("fr")

    def test_hosts_follow_region_unless_overridden(self, tmp_path: Path) -> None:
        text = channel("na", 'region = "na"') + channel(
            "local",
            """
            endpoint = "http://127.0.0.1:8080"
            token_url = "http://127.0.0.1:8080/auth/o2/token"
            """,
        )

        na, local = load(text, base_dir=tmp_path).channels

        assert na.sp_api_endpoint == "https://sellingpartnerapi-na.amazon.com"
        assert na.lwa_token_url == "https://api.amazon.com/auth/o2/token"
        assert local.sp_api_endpoint == "http://127.0.0.1:8080"
        assert local.lwa_token_url == "http://127.0.0.1:8080/auth/o2/token"

    def test_models_are_frozen(self, tmp_path: Path) -> None:
        config = load(channel(), base_dir=tmp_path)

        with pytest.raises(ValueError, match="frozen"):
            config.channels[0].enabled = False  # type: ignore[misc]

    def test_quota_integer_restore_seconds_is_accepted(self) -> None:
        assert Quota(burst=6, restore_seconds=60).restore_seconds == 60.0

    def test_config_validates_from_python_data(self) -> None:
        """Other code builds configs from dicts; strict mode must still take a path."""
        config = Config.model_validate(
            {
                "system": {"database": "x.db"},
                "channels": [
                    {"name": "a", "marketplace_ids": ["M"], "simulator": {"seed": 3}}
                ],
            }
        )

        assert config.system.database == Path("x.db")
        assert config.channels[0].simulator == SimulatorSettings(seed=3)
