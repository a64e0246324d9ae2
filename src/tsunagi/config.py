"""Server configuration: command-line flags over ``TSUNAGI_*`` environment variables over defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass
class Config:
    host: str = field(default_factory=lambda: _env("TSUNAGI_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("TSUNAGI_PORT", "4566")))
    data_dir: str = field(default_factory=lambda: _env("TSUNAGI_DATA_DIR", "./.tsunagi"))
    store: str = field(default_factory=lambda: _env("TSUNAGI_STORE", "sqlite"))
    sqlite_synchronous: str = field(default_factory=lambda: _env("TSUNAGI_SQLITE_SYNCHRONOUS", "normal"))
    default_account: str = field(default_factory=lambda: _env("TSUNAGI_DEFAULT_ACCOUNT", "000000000000"))
    default_region: str = field(default_factory=lambda: _env("TSUNAGI_DEFAULT_REGION", "us-east-1"))
    auth: str = field(default_factory=lambda: _env("TSUNAGI_AUTH", "off"))          # off | strict
    max_body_bytes: int = field(default_factory=lambda: int(_env("TSUNAGI_MAX_BODY_BYTES", str(16 * 1024 * 1024))))
    # seconds a request body may stall (no bytes arriving) before the request fails with RequestTimeout
    body_timeout: float = field(default_factory=lambda: float(_env("TSUNAGI_BODY_TIMEOUT", "20")))
    log_level: str = field(default_factory=lambda: _env("TSUNAGI_LOG_LEVEL", "info"))

    def validate(self) -> None:
        if not (len(self.default_account) == 12 and self.default_account.isdigit()):
            raise ValueError(f"default account must be 12 digits, got {self.default_account!r}")
        if self.auth not in ("off", "strict"):
            raise ValueError(f"auth must be 'off' or 'strict', got {self.auth!r}")
