"""tsunagi in test suites: a real server for tests, and moto's ``mock_aws`` on top of it.

- :func:`server`: ``with server() as aws:`` starts ``tsunagi serve`` on a free port with a temporary data
  dir and stops it on exit (unittest, scripts); ``aws`` is the :class:`Endpoint`: its URL, with
  ``client(service)``, ``reset()``, ``wait_for_messages()``, ``function_logs()``, ``mailbox()``.
- :func:`mock_aws`: the decorator / context manager moto users know; inside it plain ``boto3.client(...)``
  reaches this process's tsunagi, and state is wiped on exit. A moto-based suite switches with one import:
  ``from tsunagi.testing import mock_aws``.
- :func:`shared`: this process's server (one per process, started on first use, reused by every
  ``mock_aws`` block and the pytest fixtures).
- The pytest plugin (:mod:`tsunagi.testing.pytest_plugin`, loaded by pytest through its entry point):
  fixtures ``tsunagi_endpoint``, ``tsunagi`` and ``tsunagi_client``.

With ``TSUNAGI_ENDPOINT`` set (and ``TSUNAGI_ADMIN_TOKEN`` to its admin token) the server there is used and
nothing is started. See docs/TESTING.md.
"""

from tsunagi.testing._mock import MockAWS, mock_aws
from tsunagi.testing._server import (
           Endpoint,
           Server,
           StartError,
           from_environment,
           server,
           shared,
           stop_shared,
)

__all__ = ["Endpoint", "MockAWS", "Server", "StartError", "from_environment", "mock_aws", "server", "shared",
           "stop_shared"]
