"""tsunagi's pytest plugin (entry point ``pytest11``): fixtures, nothing else. A suite that uses none of
them starts no server and pays only this module's import.

- ``tsunagi_endpoint`` (session): the :class:`~tsunagi.testing.Endpoint` of this process's tsunagi, a
  ``tsunagi serve`` started on a free port with a temporary data dir on first use (or the server at
  ``TSUNAGI_ENDPOINT``, with its admin token in ``TSUNAGI_ADMIN_TOKEN``). It is a ``str``, the URL.
- ``tsunagi`` (function): the same endpoint, with all state wiped before the test.
- ``tsunagi_client`` (function): ``tsunagi_client("sqs", region=None, **kwargs)`` makes boto3 clients
  pointed at it (dummy credentials, ``us-east-1`` unless told); state is wiped before the test.

``tsunagi_serve_args`` in the ini file (``--policies enforce``, say) are passed to the server started.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tsunagi.testing._server import Endpoint, shared


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("tsunagi_serve_args", "more `tsunagi serve` flags for the server the tsunagi fixtures start",
                  default="")


@pytest.fixture(scope="session")
def tsunagi_endpoint(pytestconfig: pytest.Config) -> Iterator[Endpoint]:
    args = shlex.split(str(pytestconfig.getini("tsunagi_serve_args") or ""))
    yield shared(args=args)


@pytest.fixture
def tsunagi(tsunagi_endpoint: Endpoint) -> Endpoint:
    tsunagi_endpoint.reset()
    return tsunagi_endpoint


@pytest.fixture
def tsunagi_client(tsunagi: Endpoint) -> Callable[..., Any]:
    def make(service: str, region: str | None = None, **kwargs: Any) -> Any:
        return tsunagi.client(service, region=region, **kwargs)

    return make
