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
from urllib.parse import urlsplit


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
    """The server's settings: each field's default reads its ``TSUNAGI_*`` variable (flags and the settings
    file are applied over them by the CLI)."""

    host: str = field(default_factory=lambda: _env("TSUNAGI_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("TSUNAGI_PORT", 4566))
    data_dir: str = field(default_factory=lambda: _env("TSUNAGI_DATA_DIR", "./.tsunagi"))
    store: str = field(default_factory=lambda: _env("TSUNAGI_STORE", "sqlite"))
    # PostgreSQL through a pooler in transaction mode (PgBouncer): a URL that reaches the database itself.
    # LISTEN, the leader's advisory lock and schema migrations need a session of their own and use it;
    # statements on the pooled TSUNAGI_STORE are then never prepared (empty: TSUNAGI_STORE is direct)
    store_direct: str = field(default_factory=lambda: _env("TSUNAGI_STORE_DIRECT", "").strip())
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
    # text: one readable line per record; json: one JSON object per line (for log collectors)
    log_format: str = field(default_factory=lambda: _env("TSUNAGI_LOG_FORMAT", "text").strip().lower())
    # host names this server answers besides loopback addresses and *.localhost (comma-separated;
    # "*.example.test" matches subdomains)
    hostnames: list[str] = field(default_factory=lambda: [h.strip() for h in _env("TSUNAGI_HOSTNAMES", "").split(",")
                                                          if h.strip()])
    # the URL subscribers and mail readers reach this server at: SNS's SubscribeURL, UnsubscribeURL and
    # SigningCertURL are built from it, never from a request's Host or X-Forwarded-Proto (empty: the bound
    # address, http://localhost:<port> when bound to every address)
    public_url: str = field(default_factory=lambda: _env("TSUNAGI_PUBLIC_URL", "").strip().rstrip("/"))
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
    # the user functions run as when tsunagi runs as root (default nobody; root: the server's own)
    function_user: str = field(default_factory=lambda: _env("TSUNAGI_FUNCTION_USER", ""))
    async_retry_base_seconds: float = field(
        default_factory=lambda: _env_float("TSUNAGI_ASYNC_RETRY_BASE_SECONDS", 60.0))
    # event source mappings: concurrent batches per mapping on this server (default 4 x CPUs)
    esm_max_concurrency: int = field(
        default_factory=lambda: _env_int("TSUNAGI_ESM_MAX_CONCURRENCY", 4 * (os.cpu_count() or 2)))
    esm_pollers: bool = field(default_factory=lambda: _env_flag("TSUNAGI_ESM_POLLERS", True))
    # SNS
    smtp_url: str | None = field(default_factory=lambda: os.environ.get("TSUNAGI_SMTP_URL") or None)
    sns_https_insecure: bool = field(default_factory=lambda: _env_flag("TSUNAGI_SNS_HTTPS_INSECURE", False))
    sns_sms_sandbox: bool = field(default_factory=lambda: _env_flag("TSUNAGI_SNS_SMS_SANDBOX", False))
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
    # seconds a server's ECS tasks may go without its heartbeat before another server sharing the database
    # stops them and takes its services over
    ecs_node_timeout: float = field(default_factory=lambda: _env_float("TSUNAGI_ECS_NODE_TIMEOUT", 60.0))
    # CloudWatch: seconds between two evaluations of every alarm (AWS: once a minute; lower it for tests). On
    # servers sharing a PostgreSQL database one evaluates at a time.
    cloudwatch_evaluation_seconds: float = field(
        default_factory=lambda: _env_float("TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS", 60.0))
    # CloudWatch: seconds between two samples of the gauges tsunagi publishes (AWS/SQS queue depths) and two
    # flushes of its counters (AWS/SQS, AWS/SNS, AWS/Lambda, AWS/S3; AWS: one minute)
    cloudwatch_publish_seconds: float = field(
        default_factory=lambda: _env_float("TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS", 60.0))

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
        if self.function_user.strip() and self.function_user.strip() not in ("root", "0"):
            import pwd

            name = self.function_user.strip()
            try:
                pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
            except (KeyError, ValueError):
                raise ValueError(f"TSUNAGI_FUNCTION_USER names no user of this machine: {name!r}") from None
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"TSUNAGI_PUBLIC_URL (--public-url) must be an http(s) URL such as "
                                 f"https://tsunagi.example.test:4566, got {self.public_url!r}")
        if self.master_key is not None:
            self.master_key_bytes()
        if self.policies not in POLICY_MODES:
            raise ValueError(f"TSUNAGI_POLICIES (--policies) must be 'off', 'warn' or 'enforce', got {self.policies!r}: "
                             "a mistyped setting must not leave policy checks off")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"TSUNAGI_LOG_FORMAT (--log-format) must be 'text' or 'json', got {self.log_format!r}")
        for name in ("cloudwatch_evaluation_seconds", "cloudwatch_publish_seconds"):
            if getattr(self, name) < 0.1:
                raise ValueError(f"{name} must be at least 0.1 second, got {getattr(self, name)}")
        if self.ecs_node_timeout < 1:
            raise ValueError(f"ecs_node_timeout must be at least 1 second, got {self.ecs_node_timeout}")
        for image, folder in self.ecs_images.items():
            if not os.path.isdir(folder):
                raise ValueError(f"ECS image {image}: {folder} is not a directory")

    def public_base(self) -> str:
        """``TSUNAGI_PUBLIC_URL``, or the address the server is bound to (``localhost`` when that is every
        address), without a trailing slash."""
        if self.public_url:
            return self.public_url
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def public_host(self) -> str:
        """The host name of :meth:`public_base`."""
        return urlsplit(self.public_base()).hostname or ""

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


# == where each setting comes from ============================================================
# Each setting's environment variable (the field's default reads it; a unit test keeps the two in step).
ENV_NAMES: dict[str, str] = {
    "host": "TSUNAGI_HOST", "port": "TSUNAGI_PORT", "data_dir": "TSUNAGI_DATA_DIR", "store": "TSUNAGI_STORE",
    "store_direct": "TSUNAGI_STORE_DIRECT",
    "sqlite_synchronous": "TSUNAGI_SQLITE_SYNCHRONOUS", "sqlite_cache_mb": "TSUNAGI_SQLITE_CACHE_MB",
    "default_account": "TSUNAGI_DEFAULT_ACCOUNT", "default_region": "TSUNAGI_DEFAULT_REGION",
    "auth": "TSUNAGI_AUTH", "root_access_key_id": "TSUNAGI_ACCESS_KEY_ID",
    "root_secret_access_key": "TSUNAGI_SECRET_ACCESS_KEY", "max_body_bytes": "TSUNAGI_MAX_BODY_BYTES",
    "body_timeout": "TSUNAGI_BODY_TIMEOUT", "log_level": "TSUNAGI_LOG_LEVEL", "log_format": "TSUNAGI_LOG_FORMAT",
    "hostnames": "TSUNAGI_HOSTNAMES", "public_url": "TSUNAGI_PUBLIC_URL", "admin_token": "TSUNAGI_ADMIN_TOKEN",
    "internal_api": "TSUNAGI_INTERNAL_API", "max_connections": "TSUNAGI_MAX_CONNECTIONS",
    "lambda_max_workers": "TSUNAGI_LAMBDA_MAX_WORKERS", "lambda_idle_timeout": "TSUNAGI_LAMBDA_IDLE_TIMEOUT",
    "function_user": "TSUNAGI_FUNCTION_USER", "async_retry_base_seconds": "TSUNAGI_ASYNC_RETRY_BASE_SECONDS",
    "esm_max_concurrency": "TSUNAGI_ESM_MAX_CONCURRENCY", "esm_pollers": "TSUNAGI_ESM_POLLERS",
    "smtp_url": "TSUNAGI_SMTP_URL", "sns_https_insecure": "TSUNAGI_SNS_HTTPS_INSECURE",
    "sns_sms_sandbox": "TSUNAGI_SNS_SMS_SANDBOX",
    "sns_signing_processes": "TSUNAGI_SNS_SIGNING_PROCESSES", "delivery_record_hours": "TSUNAGI_DELIVERY_RECORD_HOURS",
    "master_key": "TSUNAGI_MASTER_KEY", "policies": "TSUNAGI_POLICIES", "ecs_images": "TSUNAGI_ECS_IMAGES",
    "ecs_node_timeout": "TSUNAGI_ECS_NODE_TIMEOUT",
    "cloudwatch_evaluation_seconds": "TSUNAGI_CLOUDWATCH_EVALUATION_SECONDS",
    "cloudwatch_publish_seconds": "TSUNAGI_CLOUDWATCH_PUBLISH_SECONDS",
}
# Never printed: `tsunagi config` says only whether they are set.
SECRETS = frozenset({"root_secret_access_key", "admin_token", "master_key", "smtp_url"})
CONFIG_FILE = "tsunagi.toml"
CONFIG_FILE_ENV = "TSUNAGI_CONFIG"


def config_file_path(given: str | None = None) -> str | None:
    """The settings file: ``given`` (``--config``), else ``$TSUNAGI_CONFIG``, else ``./tsunagi.toml`` when
    it exists; None when there is none."""
    if given:
        return given
    env = os.environ.get(CONFIG_FILE_ENV, "").strip()
    if env:
        return env
    return CONFIG_FILE if os.path.isfile(CONFIG_FILE) else None


def _coerce(name: str, value: object, where: str) -> object:
    """A value from the settings file as the setting's type."""
    current = getattr(Config, "__dataclass_fields__")[name].type     # noqa: B009 - the annotation as written
    kind = str(current)
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() not in ("0", "off", "false", "no")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)  # type: ignore[call-overload]
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)  # type: ignore[arg-type]
        if kind.startswith("list"):
            items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
            return [str(v).strip() for v in items if str(v).strip()]
        if kind.startswith("dict"):
            if isinstance(value, dict):
                return parse_images([f"{k}={v}" for k, v in value.items()])
            return parse_images(value)  # type: ignore[arg-type]
        if value is None:
            raise ValueError
        text = str(value)
        if name in ("auth", "policies"):
            text = text.strip().lower()
        if name == "public_url":
            text = text.strip().rstrip("/")
        return text
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name} = {value!r} is not a valid {kind}") from None


def read_config_file(path: str) -> dict[str, object]:
    """Settings from a TOML file: top-level keys, or a ``[serve]`` table, named as the settings
    (``data_dir``) or as the flags (``data-dir``). An unknown name is an error, not a silent no-op."""
    import tomllib

    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ValueError(f"cannot read the settings file {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"the settings file {path} is not valid TOML: {e}") from None
    serve = doc.get("serve")
    table = {**{k: v for k, v in doc.items() if k != "serve"}, **(serve if isinstance(serve, dict) else {})}
    out: dict[str, object] = {}
    aliases = {"ecs_image": "ecs_images", "hostname": "hostnames", "access_key_id": "root_access_key_id",
               "secret_access_key": "root_secret_access_key"}
    for raw, value in table.items():
        if raw == "serve":
            continue
        name = raw.replace("-", "_")
        name = aliases.get(name, name)
        if name not in ENV_NAMES:
            raise ValueError(f"{path}: unknown setting {raw!r} (`tsunagi config` lists them)")
        out[name] = _coerce(name, value, path)
    return out


def load_config(file: str | None = None) -> tuple[Config, dict[str, str]]:
    """The configuration before flags: defaults, overridden by the settings file, overridden by
    ``TSUNAGI_*`` variables; and where each value came from ("default", the file's path, or the
    variable's name)."""
    config = Config()
    sources = {name: (f"env {env}" if os.environ.get(env, "").strip() else "default") for name, env in ENV_NAMES.items()}
    path = config_file_path(file)
    if path is not None:
        for name, value in read_config_file(path).items():
            if sources[name] == "default":
                setattr(config, name, value)
                sources[name] = f"file {path}"
    return config, sources
