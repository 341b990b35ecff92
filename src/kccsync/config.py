"""The TOML config file: frozen pydantic models, defaults, durations, secret references.

`load(text, base_dir=...)` is the core; `load_path(path)` reads the file. Either raises
`ConfigError` with one line per problem, each naming the field path
(`channels[1].quotas.order_items.burst: must be >= 1`).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
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

from kccsync.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/kccsync/config.toml")

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> float:
    """`"90s"`, `"2m"`, `"3h"`, `"7d"` → seconds (whole number and unit, at least 1 s)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("expected a duration string such as '90s', '2m', '3h' or '7d'")
    match = _DURATION.match(value)
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
        raise ValueError("expected a string: 'env:NAME', 'file:/path' or 'credential:NAME'")
    kind, sep, ref = value.partition(":")
    if not sep or kind not in {"env", "file", "credential"}:
        return value
    if not ref:
        raise ValueError(f"empty reference after '{kind}:'")
    if kind == "env":
        found = os.environ.get(ref)
        if found is None:
            raise ValueError(f"environment variable {ref} is not set")
        return found
    if kind == "credential":
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        if not cred_dir:
            raise ValueError(
                f"credential {ref!r} requested but $CREDENTIALS_DIRECTORY is not set "
                "(use LoadCredential= in the systemd unit)"
            )
        path = Path(cred_dir) / ref
    else:
        path = Path(ref)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None


def _secret(value: object, info: ValidationInfo) -> object:
    if value is None or isinstance(value, SecretStr):
        return value
    base = info.context.get("base_dir") if info.context else None
    return SecretStr(resolve_secret(value, base_dir=base))


Secret = Annotated[SecretStr, BeforeValidator(_secret)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quota(_Model):
    """One operation's token bucket: `burst` requests, one more every `restore_seconds`."""

    burst: int = Field(ge=1)
    restore_seconds: float = Field(gt=0)


class Quotas(_Model):
    """Per-operation quotas. Defaults: the seed's for order pages, Amazon's elsewhere."""

    orders: Quota = Quota(burst=6, restore_seconds=60)
    order_items: Quota = Quota(burst=30, restore_seconds=2)
    order: Quota = Quota(burst=30, restore_seconds=2)
    shipments: Quota = Quota(burst=10, restore_seconds=0.5)
    search_orders: Quota = Quota(burst=20, restore_seconds=180)
    restricted_data_token: Quota = Quota(burst=10, restore_seconds=1)


class SimulatorSettings(_Model):
    """A channel served by the built-in marketplace in this process (no account needed)."""

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
    marketplace_ids: list[str] = Field(min_length=1, max_length=50)
    restricted_data: bool = False
    region: Literal["na", "eu", "fe"] = "eu"
    endpoint: str | None = None
    token_url: str | None = None
    client_id: Secret | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    orders_interval: Duration = 120.0
    status_upload_interval: Duration = 480.0
    upload_order_status: bool = True
    initial_lookback: Duration = 7 * 86400.0
    quotas: Quotas = Quotas()
    simulator: SimulatorSettings | None = None

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
                    f"missing {', '.join(missing)} (or add a [channels.simulator] table "
                    "to use the built-in marketplace)"
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

    database: Path = Path("kccsync.db")
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
        seen: set[str] = set()
        for ch in channels:
            if ch.name in seen:
                raise ValueError(f"duplicate channel name {ch.name!r}")
            seen.add(ch.name)
        return channels

    def channel(self, name: str) -> Channel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise KeyError(name)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after[_credentials()]"} or part.startswith(
            ("function-", "constrained-")
        ):
            continue
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _format_error(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    messages = {
        "extra_forbidden": "unknown key",
        "missing": "required key is missing",
        "greater_than_equal": f"must be >= {ctx.get('ge')}",
        "greater_than": f"must be > {ctx.get('gt')}",
        "less_than_equal": f"must be <= {ctx.get('le')}",
        "less_than": f"must be < {ctx.get('lt')}",
        "too_short": "must not be empty",
    }
    if kind in messages:
        return messages[kind]
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


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
    database = config.system.database
    if not database.is_absolute():
        database = base_dir / database
    system = config.system.model_copy(update={"database": database})
    return config.model_copy(update={"system": system})


def load_path(path: Path) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: config file is not UTF-8 text"]) from None
    return load(text, base_dir=path.resolve().parent, source=str(path))


def resolve_path(cli_value: str | None) -> Path:
    """`--config`, else `$KCCSYNC_CONFIG`, else /etc/kccsync/config.toml."""
    if cli_value:
        return Path(cli_value)
    env = os.environ.get("KCCSYNC_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_PATH
