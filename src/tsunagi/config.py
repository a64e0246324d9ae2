"""Server configuration: command-line flags over ``TSUNAGI_*`` environment variables over defaults.

Every ``TSUNAGI_*`` setting is read here and nowhere else; the rest of tsunagi reads ``Config``
(``platform.config``). A value that does not parse fails :meth:`Config.validate` with a message
naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A setting that cannot work, found when the server starts (not when the value is parsed): the
    CLI prints it and exits instead of showing a traceback."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return int(float(raw))
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "off", "false", "no")


def _default_signers() -> int:
    """One SNS signing process per CPU beyond the first, 1 to 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


AUTH_MODES = ("open", "off", "strict")
POLICY_MODES = ("off", "warn", "enforce")


def parse_images(raw: str | list[str]) -> dict[str, str]:
    """``NAME[:TAG]=DIR`` entries (a comma-separated string or a list) as image -> absolute directory."""
    entries = [e.strip() for e in raw.split(",")] if isinstance(raw, str) else [e.strip() for e in raw]
    out: dict[str, str] = {}
    for entry in entries:
        if not entry:
            continue
        image, sep, folder = entry.partition("=")
        if not sep or not image.strip() or not folder.strip():
            raise ValueError(f"an ECS image mapping is NAME[:TAG]=DIR, got {entry!r}")
        out[image.strip()] = os.path.abspath(os.path.expanduser(folder.strip()))
    return out


@dataclass
class Config:
    host: str = field(default_factory=lambda: _env("TSUNAGI_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("TSUNAGI_PORT", 4566))
    data_dir: str = field(default_factory=lambda: _env("TSUNAGI_DATA_DIR", "./.tsunagi"))
    store: str = field(default_factory=lambda: _env("TSUNAGI_STORE", "sqlite"))
    sqlite_synchronous: str = field(default_factory=lambda: _env("TSUNAGI_SQLITE_SYNCHRONOUS", "normal"))
    # memory SQLite may use to cache the database
    sqlite_cache_mb: int = field(default_factory=lambda: _env_int("TSUNAGI_SQLITE_CACHE_MB", 64))
    default_account: str = field(default_factory=lambda: _env("TSUNAGI_DEFAULT_ACCOUNT", "000000000000"))
    default_region: str = field(default_factory=lambda: _env("TSUNAGI_DEFAULT_REGION", "us-east-1"))
    # open (also spelled off): any credential is accepted, as local endpoints conventionally do;
    # strict: every request's SigV4 signature is verified (root key pair below, IAM's keys)
    auth: str = field(default_factory=lambda: _env("TSUNAGI_AUTH", "open").strip().lower())
    # the account root's key pair under --auth strict; unset: ``test`` / ``test`` (what local tools send)
    root_access_key_id: str = field(default_factory=lambda: _env("TSUNAGI_ACCESS_KEY_ID", ""))
    root_secret_access_key: str = field(default_factory=lambda: _env("TSUNAGI_SECRET_ACCESS_KEY", ""), repr=False)
    max_body_bytes: int = field(default_factory=lambda: _env_int("TSUNAGI_MAX_BODY_BYTES", 16 * 1024 * 1024))
    # seconds a request body may stall (no bytes arriving) before the request fails with RequestTimeout
    body_timeout: float = field(default_factory=lambda: _env_float("TSUNAGI_BODY_TIMEOUT", 20.0))
    log_level: str = field(default_factory=lambda: _env("TSUNAGI_LOG_LEVEL", "info"))
    # host names this server answers besides loopback addresses and *.localhost (comma-separated;
    # "*.example.test" matches subdomains)
    hostnames: list[str] = field(default_factory=lambda: [h.strip() for h in _env("TSUNAGI_HOSTNAMES", "").split(",")
                                                          if h.strip()])
    # the token tsunagi's internal endpoints (/_tsunagi/reset, the mailbox, delivery records) require in the
    # X-Tsunagi-Token header; empty: a new one at each start, written to <data dir>/admin-token
    admin_token: str = field(default_factory=lambda: _env("TSUNAGI_ADMIN_TOKEN", ""))
    # off: the internal endpoints (except health and SNS signing certificates) are not served at all
    internal_api: bool = field(default_factory=lambda: _env_flag("TSUNAGI_INTERNAL_API", True))
    # client connections held at once (0: half the file descriptors the process may open)
    max_connections: int = field(default_factory=lambda: _env_int("TSUNAGI_MAX_CONNECTIONS", 0))
    # functions
    lambda_max_workers: int = field(default_factory=lambda: _env_int("TSUNAGI_LAMBDA_MAX_WORKERS", 1000))
    lambda_idle_timeout: float = field(default_factory=lambda: _env_float("TSUNAGI_LAMBDA_IDLE_TIMEOUT", 600.0))
    async_retry_base_seconds: float = field(
        default_factory=lambda: _env_float("TSUNAGI_ASYNC_RETRY_BASE_SECONDS", 60.0))
    # event source mappings: concurrent batches per mapping on this server (default 4 x CPUs)
    esm_max_concurrency: int = field(
        default_factory=lambda: _env_int("TSUNAGI_ESM_MAX_CONCURRENCY", 4 * (os.cpu_count() or 2)))
    esm_pollers: bool = field(default_factory=lambda: _env_flag("TSUNAGI_ESM_POLLERS", True))
    # SNS
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("TSUNAGI_SMTP_URL") or None)
    sns_https_insecure: bool = field(default_factory=lambda: _env_flag("TSUNAGI_SNS_HTTPS_INSECURE", False))
    sns_signing_processes: int = field(
        default_factory=lambda: _env_int("TSUNAGI_SNS_SIGNING_PROCESSES", _default_signers()))
    # how long delivery records are kept
    delivery_record_hours: float = field(default_factory=lambda: _env_float("TSUNAGI_DELIVERY_RECORD_HOURS", 24.0))
    # KMS: the key that seals every KMS key's material at rest, base64 of 32 bytes. Unset: a key kept in
    # <data_dir>/kms-master.key (created on first start, mode 0600). Servers sharing a PostgreSQL database
    # must all be given the same value. Never shown in a repr or an error.
    master_key: str | None = field(default_factory=lambda: os.environ.get("TSUNAGI_MASTER_KEY") or None,
                                   repr=False)
    # what policies decide (role trust policies today; resource, key and identity policies as they land):
    # off: nothing is checked; warn: a denial is logged and the call goes on; enforce: denied as AWS would
    policies: str = field(default_factory=lambda: _env("TSUNAGI_POLICIES", "warn").strip().lower())
    # ECS: container images run as host processes in a directory: "NAME[:TAG]=DIR" entries
    # (TSUNAGI_ECS_IMAGES, comma-separated; `tsunagi serve --ecs-image`, repeatable)
    ecs_images: dict[str, str] = field(default_factory=lambda: parse_images(_env("TSUNAGI_ECS_IMAGES", "")))

    def validate(self) -> None:
        if not (len(self.default_account) == 12 and self.default_account.isdigit()):
            raise ValueError(f"default account must be 12 digits, got {self.default_account!r}")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"TSUNAGI_AUTH (--auth) must be 'open' or 'strict' ('off' is 'open'), got {self.auth!r}: "
                             "a mistyped setting must not leave signature checks off")
        if bool(self.root_access_key_id) != bool(self.root_secret_access_key):
            given, missing = (("TSUNAGI_ACCESS_KEY_ID", "TSUNAGI_SECRET_ACCESS_KEY") if self.root_access_key_id
                              else ("TSUNAGI_SECRET_ACCESS_KEY", "TSUNAGI_ACCESS_KEY_ID"))
            raise ValueError(f"{given} is set but {missing} is not: give the root key pair whole")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        for name in ("max_body_bytes", "lambda_max_workers", "esm_max_concurrency", "sqlite_cache_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("body_timeout", "lambda_idle_timeout", "async_retry_base_seconds", "delivery_record_hours",
                     "sns_signing_processes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.master_key is not None:
            self.master_key_bytes()
        if self.policies not in POLICY_MODES:
            raise ValueError(f"TSUNAGI_POLICIES (--policies) must be 'off', 'warn' or 'enforce', got {self.policies!r}: "
                             "a mistyped setting must not leave policy checks off")
        for image, folder in self.ecs_images.items():
            if not os.path.isdir(folder):
                raise ValueError(f"ECS image {image}: {folder} is not a directory")

    @property
    def strict_auth(self) -> bool:
        return self.auth == "strict"

    def root_key_pair(self) -> tuple[str, str]:
        """The account root's access key id and secret (``test`` / ``test`` unless set)."""
        if self.root_access_key_id:
            return self.root_access_key_id, self.root_secret_access_key
        return "test", "test"

    def master_key_bytes(self) -> bytes | None:
        """The 32 bytes of TSUNAGI_MASTER_KEY, None when it is not set; ValueError when it is not base64 of 32 bytes."""
        if self.master_key is None:
            return None
        try:
            raw = base64.b64decode(self.master_key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("TSUNAGI_MASTER_KEY is not base64: give it 32 random bytes in base64, "
                             "e.g. the output of `head -c 32 /dev/urandom | base64`") from None
        if len(raw) != 32:
            raise ValueError(f"TSUNAGI_MASTER_KEY must be the base64 of 32 bytes, it decodes to {len(raw)} "
                             "(make one with `head -c 32 /dev/urandom | base64`)")
        return raw
