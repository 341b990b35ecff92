"""The TOML config file: frozen pydantic models, defaults, durations, secret references.

`load(text, base_dir=...)` is the core; `load_path(path)` reads the file. Either raises
`ConfigError` with one line per problem, each naming the file and the field path
(`config.toml: channels[1].quotas.order_items.burst: must be >= 1`). Values are
checked strictly (a TOML string is not silently taken as a number or a boolean),
and no error line shows a secret's value: it names the variable or file instead.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from kccsync.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/kccsync/config.toml")

_DURATION = re.compile(r"\s*([0-9]+)\s*([smhd])\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """`"90s"`, `"2m"`, `"3h"`, `"7d"` → seconds (a whole number and unit, >= 1 s)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(
            "expected a duration string such as '90s', '2m', '3h' or '7d', "
            f"got {_toml_type(value)}"
        )
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(
            f"bad duration {value!r}: use a whole number and s, m, h or d ('90s', '7d')"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 1:
        raise ValueError(f"bad duration {value!r}: must be at least 1s")
    return float(seconds)


Duration = Annotated[float, BeforeValidator(parse_duration)]


def resolve_secret(value: object, *, base_dir: Path | None = None) -> str:
    """Resolve `env:NAME`, `file:/path` and `credential:NAME`; other text is literal."""
    if not isinstance(value, str):
        raise ValueError(
            "expected a string ('env:NAME', 'file:/path' or 'credential:NAME'), "
            f"got {_toml_type(value)}"
        )
    kind, sep, ref = value.partition(":")
    if not sep or kind not in {"env", "file", "credential"}:
        return value
    if not ref:
        raise ValueError(f"empty reference after '{kind}:'")
    if kind == "env":
        found = os.environ.get(ref)
        if found is None:
            raise ValueError(f"environment variable {ref} is not set")
        if not found.strip():
            raise ValueError(f"environment variable {ref} is empty")
        return found
    if kind == "credential":
        if "/" in ref or ref in {".", ".."}:
            raise ValueError(f"bad credential name {ref!r}: a name, not a path")
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        if not cred_dir:
            raise ValueError(
                f"credential {ref!r} requested but $CREDENTIALS_DIRECTORY is not set "
                "(use LoadCredential= in the systemd unit)"
            )
        path = Path(cred_dir) / ref
    else:
        path = _relative_to(Path(ref), base_dir)
    return _read_secret_file(path)


def _read_secret_file(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"cannot read secret file {path}: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text") from None
    if not secret:
        raise ValueError(f"secret file {path} is empty")
    return secret


def _relative_to(path: Path, base_dir: Path | None) -> Path:
    """`~` expanded; a relative path taken from `base_dir` (the config's folder)."""
    path = path.expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def _secret(value: object, info: ValidationInfo) -> object:
    if value is None or isinstance(value, SecretStr):
        return value
    base = info.context.get("base_dir") if info.context else None
    return SecretStr(resolve_secret(value, base_dir=base))


Secret = Annotated[SecretStr, BeforeValidator(_secret)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


_HttpUrl = Annotated[str, AfterValidator(_http_url)]
_NonEmptyStr = Annotated[str, Field(min_length=1)]


class Quota(_Model):
    """A token bucket: `burst` requests, then one more per `restore_seconds`."""

    burst: int = Field(ge=1)
    restore_seconds: float = Field(gt=0)


class Quotas(_Model):
    """Per-operation quotas. Defaults: the seed's for order pages, else Amazon's."""

    orders: Quota = Quota(burst=6, restore_seconds=60)
    order_items: Quota = Quota(burst=30, restore_seconds=2)
    order: Quota = Quota(burst=30, restore_seconds=2)
    shipments: Quota = Quota(burst=10, restore_seconds=0.5)
    search_orders: Quota = Quota(burst=20, restore_seconds=180)
    restricted_data_token: Quota = Quota(burst=10, restore_seconds=1)


class SimulatorSettings(_Model):
    """A channel served by the built-in marketplace in this process (no account)."""

    seed: int = 1
    backlog_orders: int = Field(default=300, ge=0)
    orders_per_hour: float = Field(default=60.0, ge=0)
    fba_share: float = Field(default=0.2, ge=0, le=1)
    unknown_sku_share: float = Field(default=0.05, ge=0, le=1)
    bad_address_share: float = Field(default=0.02, ge=0, le=1)
    multi_page_items_share: float = Field(default=0.02, ge=0, le=1)
    server_error_rate: float = Field(default=0.0, ge=0, le=1)
    competing_share: float = Field(default=0.0, ge=0, lt=1)
    stock_catalogue: bool = True


class Channel(_Model):
    """One `[[channels]]` entry."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    type: Literal["amazon"] = "amazon"
    enabled: bool = True
    api: Literal["orders-v0", "orders-2026-01-01"] = "orders-v0"
    marketplace_ids: list[_NonEmptyStr] = Field(min_length=1, max_length=50)
    restricted_data: bool = False
    region: Literal["na", "eu", "fe"] = "eu"
    endpoint: _HttpUrl | None = None
    token_url: _HttpUrl | None = None
    client_id: Secret | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    orders_interval: Duration = 120.0
    status_upload_interval: Duration = 480.0
    upload_order_status: bool = True
    initial_lookback: Duration = 7 * 86400.0
    quotas: Quotas = Quotas()
    simulator: SimulatorSettings | None = None

    @field_validator("api")
    @classmethod
    def _supported_api(cls, api: str) -> str:
        # The contract names both generations; only v0 has a client so far. Saying
        # so beats silently running v0 for a config that asked for 2026-01-01.
        if api != "orders-v0":
            raise ValueError(
                f"{api} is not supported by this kccsync version yet; use "
                '"orders-v0" (Amazon retires its read operations on 27 March 2027)'
            )
        return api

    @model_validator(mode="after")
    def _credentials(self) -> Channel:
        if self.simulator is None:
            missing = [
                key
                for key in ("client_id", "client_secret", "refresh_token")
                if getattr(self, key) is None
            ]
            if missing:
                raise ValueError(
                    f"missing {', '.join(missing)} (or add a [channels.simulator] "
                    "table to use the built-in marketplace)"
                )
        return self

    @property
    def sp_api_endpoint(self) -> str:
        return self.endpoint or f"https://sellingpartnerapi-{self.region}.amazon.com"

    @property
    def lwa_token_url(self) -> str:
        return self.token_url or "https://api.amazon.com/auth/o2/token"


class System(_Model):
    """The `[system]` table."""

    # Strict mode would demand a Path object; TOML gives a string.
    database: Annotated[Path, Field(strict=False)] = Path("kccsync.db")
    so_prefix: str = Field(default="SO", pattern=r"^[A-Za-z0-9-]{0,10}$")
    so_digits: int = Field(default=6, ge=3, le=12)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class Config(_Model):
    """The whole file."""

    system: System = System()
    channels: list[Channel] = Field(min_length=1)

    @field_validator("channels")
    @classmethod
    def _unique_names(cls, channels: list[Channel]) -> list[Channel]:
        seen: dict[str, int] = {}
        for i, ch in enumerate(channels):
            if ch.name in seen:
                raise ValueError(
                    f"duplicate channel name {ch.name!r} "
                    f"(channels[{seen[ch.name]}] and channels[{i}])"
                )
            seen[ch.name] = i
        return channels

    def channel(self, name: str) -> Channel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    """`('channels', 1, 'quotas', 'orders')` → `channels[1].quotas.orders`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "constrained-")):
            continue  # validator wrappers, not keys (pydantic adds them for unions)
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _toml_type(value: object) -> str:
    """The TOML name of a parsed value's type, for 'expected X, got Y'."""
    names: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        ((dt.datetime, dt.date, dt.time), "a date/time"),
    ]
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "path_type": "a path string",
}

_PATTERN_HINTS = {
    "name": "use letters, digits, '_', '.' and '-', starting with a letter or digit",
    "so_prefix": "use up to 10 letters, digits or '-'",
}


def _num(bound: object) -> object:
    """`1.0` → `1`: bounds read as they were written in the model."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _format_error(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = err["loc"]
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if loc == ("channels",) and kind == "list_type":
            expected = "[[channels]] tables (an array of tables)"
        return f"expected {expected}, got {_toml_type(err['input'])}"
    if kind == "string_pattern_mismatch" and loc and loc[-1] in _PATTERN_HINTS:
        return f"invalid value: {_PATTERN_HINTS[str(loc[-1])]}"
    messages = {
        "extra_forbidden": "unknown key",
        "missing": "required key is missing",
        "greater_than_equal": f"must be >= {_num(ctx.get('ge'))}",
        "greater_than": f"must be > {_num(ctx.get('gt'))}",
        "less_than_equal": f"must be <= {_num(ctx.get('le'))}",
        "less_than": f"must be < {_num(ctx.get('lt'))}",
        "too_short": "must not be empty",
        "too_long": f"must have at most {ctx.get('max_length')} entries",
        "string_too_short": "must not be empty",
    }
    if kind in messages:
        return messages[kind]
    return str(err["msg"]).removeprefix("Value error, ")


def _problems(exc: ValidationError) -> list[str]:
    return [f"{_format_loc(e['loc'])}: {_format_error(e)}" for e in exc.errors()]


def load(text: str, *, base_dir: Path, source: str = "config") -> Config:
    """Parse and validate TOML text; relative paths resolve against `base_dir`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: invalid TOML: {exc}"]) from None
    try:
        config = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError([f"{source}: {p}" for p in _problems(exc)]) from None
    database = _relative_to(config.system.database, base_dir)
    system = config.system.model_copy(update={"database": database})
    return config.model_copy(update={"system": system})


def load_path(path: Path) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # tolerate a BOM (Notepad)
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except OSError as exc:
        reason = exc.strerror or exc
        raise ConfigError([f"{path}: cannot read config file: {reason}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: config file is not UTF-8 text"]) from None
    return load(text, base_dir=path.resolve().parent, source=str(path))


def resolve_path(cli_value: str | None) -> Path:
    """`--config`, else `$KCCSYNC_CONFIG`, else /etc/kccsync/config.toml."""
    if cli_value:
        return Path(cli_value)
    env = os.environ.get("KCCSYNC_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_PATH
