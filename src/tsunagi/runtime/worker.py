"""The Python worker: one warm execution environment of one function.

This file runs as a script on the function's interpreter (python3.9 and later), so it imports
nothing from tsunagi and only the standard library. The server starts it with two extra pipe
file descriptors (``TSUNAGI_FD_IN`` / ``TSUNAGI_FD_OUT``) that carry frames:

    frame = kind (1 byte) | header length (4 bytes, big endian) | body length (4 bytes) | header | body

``header`` is JSON, ``body`` raw bytes. From the server: ``I`` (invoke: header has id, deadline_ms,
arn, client_context, identity, trace; body is the event). From the worker: ``R`` ready (init done),
``E`` init error (body is the error JSON), ``O`` result (body is the response JSON), ``F``
function error (body is the error JSON), ``L`` log text (body; one event per frame).

Life cycle, as in Lambda's runtime: the init phase imports the handler once (its failure is
reported with ``E`` and the process exits); then invokes run one at a time until the server
kills the process. ``print`` and ``logging`` output is sent as ``L`` frames in order with the
result, so a server can put START, the function's lines, END and REPORT in one stream.
"""

# ruff: noqa: UP031  (this script also runs on python3.9: plain %-formatting)
from __future__ import annotations

import decimal
import importlib
import json
import logging
import os
import struct
import sys
import time
import traceback

_HEAD = struct.Struct(">cII")


class _Channel:
    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.fin = os.fdopen(fd_in, "rb", buffering=65536)
        self.fd_out = fd_out

    def send(self, kind: bytes, header: dict | None = None, body: bytes = b"") -> None:
        h = json.dumps(header).encode() if header else b""
        data = _HEAD.pack(kind, len(h), len(body)) + h + body
        view = memoryview(data)
        while view:
            n = os.write(self.fd_out, view)
            view = view[n:]

    def recv(self):
        head = self.fin.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return None
        kind, hl, bl = _HEAD.unpack(head)
        header = json.loads(self.fin.read(hl)) if hl else {}
        body = self.fin.read(bl) if bl else b""
        return kind, header, body


class _LogStream:
    """sys.stdout / sys.stderr: complete lines become ``L`` frames (one log event per line)."""

    def __init__(self, channel: _Channel, name: str) -> None:
        self._channel = channel
        self._buf = ""
        self.name = name
        self.encoding = "utf-8"
        self.errors = "strict"

    def write(self, s) -> int:
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        self._buf += s
        if "\n" in self._buf:
            *lines, self._buf = self._buf.split("\n")
            for line in lines:
                self._channel.send(b"L", None, line.encode("utf-8", "replace"))
        return len(s)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._buf:
            line, self._buf = self._buf, ""
            self._channel.send(b"L", None, line.encode("utf-8", "replace"))

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1 if self.name == "<stdout>" else 2

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return False


class _LambdaLogHandler(logging.Handler):
    """The root logger's handler, formatted as Lambda's Python runtime does; one event per record."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__()
        self._channel = channel
        fmt = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                                "%Y-%m-%dT%H:%M:%S")
        fmt.converter = time.gmtime
        self.setFormatter(fmt)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = self.format(record)
            self._channel.send(b"L", None, msg.encode("utf-8", "replace"))
        except Exception:
            self.handleError(record)


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestIdFilter.request_id
        return True


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data) -> None:
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")

    def __init__(self, data) -> None:
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, data) -> None:
        client = data.get("client")
        self.client = Client(client) if client else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    """The ``context`` argument, with the attributes and method of Lambda's Python runtime."""

    def __init__(self, request_id, deadline_ms, invoked_function_arn, client_context, identity) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity(identity)
        self.client_context = ClientContext(client_context) if client_context else None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, msg) -> None:
        sys.stdout.write(str(msg))
        sys.stdout.flush()

    def __repr__(self) -> str:
        return ("LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
                "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,"
                "identity=%s])" % (self.aws_request_id, self.log_group_name, self.log_stream_name,
                                   self.function_name, self.memory_limit_in_mb, self.function_version,
                                   self.invoked_function_arn, self.client_context, self.identity))


class FaultError(Exception):
    """An error the runtime reports with its own type (``Runtime.*``)."""

    def __init__(self, error_type: str, message: str, trace=None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def _stack(tb, skip: int = 0) -> list:
    frames = traceback.extract_tb(tb)[skip:]
    return traceback.format_list(frames)


def error_dict(exc: BaseException, request_id=None, skip: int = 1) -> dict:
    """Lambda's error shape: errorMessage, errorType, requestId, stackTrace (runtime frames dropped)."""
    out: dict[str, object]
    if isinstance(exc, FaultError):
        out = {"errorMessage": exc.message, "errorType": exc.error_type}
        trace = exc.trace
    else:
        out = {"errorMessage": str(exc), "errorType": type(exc).__name__}
        trace = _stack(exc.__traceback__, skip)
    out["requestId"] = request_id or ""
    out["stackTrace"] = trace
    return out


def _log_error(channel: _Channel, err: dict) -> None:
    lines = ["[ERROR] %s: %s" % (err["errorType"], err["errorMessage"])]
    if err.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in err["stackTrace"])
    channel.send(b"L", None, "\n".join(lines).encode("utf-8", "replace"))


def load_handler(handler: str):
    """Import ``module.function`` (the init phase); raise FaultError with Lambda's error types."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e)) from None
    if not modname or not fname:
        raise FaultError("Runtime.MalformedHandlerName", "Bad handler '%s'" % handler)
    if modname.startswith("/"):
        raise FaultError("Runtime.BadHandlerName", "Bad handler '%s'" % handler)
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise FaultError("Runtime.ImportModuleError",
                         "Unable to import module '%s': %s" % (modname, e)) from None
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s\n' % (e.filename, e.lineno, (e.text or "").strip())]
        raise FaultError("Runtime.UserCodeSyntaxError",
                         "Syntax error in module '%s': %s" % (modname, e), trace) from None
    try:
        func = getattr(module, fname)
    except AttributeError:
        raise FaultError("Runtime.HandlerNotFound",
                         "Handler '%s' missing on module '%s'" % (fname, modname)) from None
    if not callable(func):
        raise FaultError("Runtime.HandlerNotFound", "Handler '%s' on module '%s' is not callable"
                         % (fname, modname))
    return func


def _default(o):
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def invoke(handler, header: dict, body: bytes):
    """Run one invocation; return (kind, response bytes)."""
    request_id = header.get("id", "")
    try:
        try:
            event = json.loads(body) if body else {}
        except Exception as e:
            raise FaultError("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e) from None
        cc = header.get("client_context")
        if cc:
            try:
                cc = json.loads(cc) if isinstance(cc, str) else cc
            except Exception as e:
                raise FaultError("Runtime.LambdaContextUnmarshalError",
                                 "Unable to parse Client Context JSON: %s" % e) from None
        ctx = LambdaContext(request_id, header.get("deadline_ms", time.time() * 1000 + 3000), header.get("arn"),
                            cc, header.get("identity"))
        result = handler(event, ctx)
        try:
            out = json.dumps(result, default=_default, ensure_ascii=False).encode("utf-8")
        except Exception as e:
            raise FaultError("Runtime.MarshalError", "Unable to marshal response: %s" % e) from None
        return b"O", out
    except Exception as e:
        err = error_dict(e, request_id, skip=1)
        return b"F", err


def _maxrss_mb() -> int:
    """Peak resident memory of this worker since it started its own program.

    ``VmHWM`` belongs to the address space created at exec, whereas ``ru_maxrss`` also remembers
    the forked copy of the parent before exec: a worker started from a large server would look as
    large as the server and be "out of memory" at once.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    except Exception:  # pragma: no cover - platforms without resource
        return 0


def _setup_paths() -> None:
    # The script's folder (tsunagi/runtime) must not shadow the function's modules.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]
    front = [os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())]
    opt = os.environ.get("TSUNAGI_OPT_DIR")
    if opt:
        ver = "python%d.%d" % sys.version_info[:2]
        front += [os.path.join(opt, "python", "lib", ver, "site-packages"), os.path.join(opt, "python")]
    sys.path[:0] = front
    extra = os.environ.pop("TSUNAGI_EXTRA_PATH", "")
    for p in extra.split(os.pathsep):
        if p and p not in sys.path:
            sys.path.append(p)


def _limit_memory() -> None:
    """The limits the server asks for, set by the worker on itself before any function code runs (a
    process may always lower its own limits; the server may not set them on a process of another user
    without CAP_SYS_RESOURCE): address space, and processes when the worker has a user of its own."""
    import resource

    for name, which in (("TSUNAGI_RLIMIT_AS", resource.RLIMIT_AS), ("TSUNAGI_RLIMIT_NPROC", resource.RLIMIT_NPROC)):
        limit = os.environ.pop(name, "")
        if not limit:
            continue
        try:
            n = int(limit)
            resource.setrlimit(which, (n, n))
        except Exception:
            pass
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except Exception:
        pass


def _set_trace(trace) -> None:
    """``_X_AMZN_TRACE_ID`` is per invocation (the process is reused): set it, or remove a previous one."""
    if trace:
        os.environ["_X_AMZN_TRACE_ID"] = trace
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)


def main() -> int:
    channel = _Channel(int(os.environ.pop("TSUNAGI_FD_IN")), int(os.environ.pop("TSUNAGI_FD_OUT")))
    _limit_memory()
    _setup_paths()
    sys.stdout = _LogStream(channel, "<stdout>")
    sys.stderr = _LogStream(channel, "<stderr>")
    root = logging.getLogger()
    handler_obj = _LambdaLogHandler(channel)
    handler_obj.addFilter(_RequestIdFilter())
    root.addHandler(handler_obj)
    # Lambda's root logger passes WARNING and above unless the function lowers it.
    root.setLevel(logging.WARNING)

    started = time.perf_counter()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:
        err = error_dict(e, None, skip=0)
        sys.stdout.flush()
        sys.stderr.flush()
        _log_error(channel, err)
        channel.send(b"E", None, json.dumps(err).encode())
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    channel.send(b"R", {"init_ms": (time.perf_counter() - started) * 1000.0})

    while True:
        frame = channel.recv()
        if frame is None:
            return 0
        kind, header, body = frame
        if kind != b"I":
            continue
        _RequestIdFilter.request_id = header.get("id", "")
        _set_trace(header.get("trace"))
        result_kind, result = invoke(handler, header, body)
        sys.stdout.flush()
        sys.stderr.flush()
        if result_kind == b"F":
            _log_error(channel, result)
            result = json.dumps(result).encode()
        channel.send(result_kind, {"maxrss": _maxrss_mb()}, result)


if __name__ == "__main__":
    sys.exit(main())
