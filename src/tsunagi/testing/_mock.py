"""``mock_aws()``: moto's decorator and context manager, with a real tsunagi behind it.

Inside the block, plain ``boto3.client("sqs")`` and ``boto3.resource("s3")`` reach this process's tsunagi
(:func:`tsunagi.testing.shared`): ``AWS_ENDPOINT_URL``, dummy credentials and (when none is set) a region
are put in the environment, which botocore reads when a client is made, and boto3's default session is
told to forget the credentials it resolved before the block. On exit the environment and those
credentials are restored and the server's state is wiped, so each block starts empty, as with
moto. Nested blocks share the outermost one's state.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
import unittest
from collections.abc import Callable
from typing import Any, TypeVar

from tsunagi.testing._server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, Endpoint, shared

F = TypeVar("F", bound=Callable[..., Any])

# Settings that would send a client elsewhere or make it use other credentials: removed in the block.
_CLEARED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")

_lock = threading.RLock()
_depth = 0
_saved_env: dict[str, str | None] = {}
_saved_session: Any = None
_active: Endpoint | None = None


def _default() -> Any:
    """boto3's default session, if boto3 is in use and has made it."""
    boto3: Any = sys.modules.get("boto3")
    return getattr(boto3, "DEFAULT_SESSION", None) if boto3 is not None else None


def _start() -> Endpoint:
    global _depth, _saved_session, _active
    with _lock:
        if _depth:
            _depth += 1
            assert _active is not None
            return _active
        endpoint = shared()
        changes: dict[str, str | None] = {name: None for name in _CLEARED}
        # a service-specific endpoint (AWS_ENDPOINT_URL_SQS) wins over the global one: cleared too
        changes.update({name: None for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")})
        changes.update({"AWS_ENDPOINT_URL": endpoint.url, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                        "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
        if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
            changes["AWS_DEFAULT_REGION"] = endpoint.region or DEFAULT_REGION
        _saved_env.clear()
        for name, value in changes.items():
            _saved_env[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # boto3's default session reads the environment above when a client is made, except for the
        # credentials, which it keeps once resolved: those are forgotten for the block (the session and
        # its cache of service models stay, so clients are made as fast as before)
        default = _default()
        session = getattr(default, "_session", None)
        _saved_session = (default, getattr(session, "_credentials", None))
        if session is not None:
            session._credentials = None
        _active = endpoint
        _depth = 1
        return endpoint


def _stop() -> None:
    global _depth, _saved_session, _active
    with _lock:
        if _depth == 0:
            return
        _depth -= 1
        if _depth:
            return
        endpoint, _active = _active, None
        for name, value in _saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _saved_env.clear()
        saved_default, saved_credentials = _saved_session or (None, None)
        session = getattr(_default(), "_session", None)
        if session is not None:
            # the credentials the default session had before the block; one made in the block stays (it
            # keeps the service models it read, which makes the next block's clients quicker) but
            # resolves its credentials again
            same = saved_default is not None and session is getattr(saved_default, "_session", None)
            session._credentials = saved_credentials if same else None
        _saved_session = None
        if endpoint is not None:
            endpoint.reset()


class MockAWS:
    """What ``mock_aws()`` returns: a context manager, and a decorator of functions (sync or async) and of
    classes (a ``unittest.TestCase``: from before ``setUp`` to after ``tearDown`` of each test; another
    class: each ``test*`` method, and ``setup_method``/``teardown_method`` with it)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings      # moto's config= and friends: accepted, nothing to configure here
        self.endpoint: Endpoint | None = None

    def __enter__(self) -> Endpoint:
        self.endpoint = _start()
        return self.endpoint

    def __exit__(self, *exc: object) -> None:
        _stop()

    # moto's names for the same
    def start(self, reset: bool = True) -> Endpoint:
        return self.__enter__()

    def stop(self, remove_data: bool = True) -> None:
        _stop()

    def __call__(self, target: F) -> F:
        if inspect.isclass(target):
            return self._decorate_class(target)  # type: ignore[return-value]
        return self._decorate_function(target)

    def _decorate_function(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with MockAWS(**self.settings):
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with MockAWS(**self.settings):
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    def _decorate_class(self, cls: type) -> type:
        if issubclass(cls, unittest.TestCase):
            original = cls.setUp

            def setUp(test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
                mock = MockAWS(**self.settings)
                mock.start()
                test.addCleanup(mock.stop)       # cleanups run after tearDown, and after a failed setUp
                original(test)

            cls.setUp = setUp  # type: ignore[method-assign,assignment]
            return cls
        setup = cls.__dict__.get("setup_method")
        teardown = cls.__dict__.get("teardown_method")
        if setup is not None or teardown is not None:
            # pytest calls setup_method, the test, then teardown_method (also when the test failed)
            def setup_method(obj: Any, method: Any = None) -> None:
                MockAWS(**self.settings).start()
                if setup is not None:
                    try:
                        setup(obj, method) if _takes_method(setup) else setup(obj)
                    except BaseException:
                        _stop()
                        raise

            def teardown_method(obj: Any, method: Any = None) -> None:
                try:
                    if teardown is not None:
                        teardown(obj, method) if _takes_method(teardown) else teardown(obj)
                finally:
                    _stop()

            cls.setup_method = setup_method  # type: ignore[attr-defined]
            cls.teardown_method = teardown_method  # type: ignore[attr-defined]
            return cls
        for name, value in list(vars(cls).items()):
            if name.startswith("test") and callable(value):
                setattr(cls, name, self._decorate_function(value))
        return cls


def _takes_method(func: Callable[..., Any]) -> bool:
    try:
        return len(inspect.signature(func).parameters) >= 2
    except (TypeError, ValueError):
        return True


def mock_aws(func: Any = None, **settings: Any) -> Any:
    """moto's ``mock_aws``, backed by a real tsunagi: ``@mock_aws``, ``@mock_aws()``, ``with mock_aws():``,
    on functions, coroutine functions and classes. See the module's docstring and docs/TESTING.md."""
    if func is not None and callable(func):
        return MockAWS(**settings)(func)
    return MockAWS(**settings)
