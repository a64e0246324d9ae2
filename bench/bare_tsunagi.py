"""The ceiling on tsunagi's own HTTP server: the same server code, a handler that returns a canned reply.

``.venv/bin/python -m bench.bare_tsunagi --port N``. Whatever tsunagi spends per request above this
figure is the gateway's and the services' own work (the issue's "bare handler on the same HTTP server").
"""
from __future__ import annotations

import argparse

from tsunagi.gateway import httpserver
from tsunagi.protocol.http import HttpResponse

from .bare_app import BODY


class BareGateway:
    """Reads the body and answers 200 with a canned GetCallerIdentity reply."""

    body_timeout = 20.0

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def handle(self, request, request_id, source_ip="127.0.0.1", body=None) -> HttpResponse:
        if body is not None:
            while await body.next_chunk():
                pass
        return HttpResponse(200, [("content-type", "text/xml")], BODY)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    httpserver.serve(BareGateway(), args.host, args.port)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
