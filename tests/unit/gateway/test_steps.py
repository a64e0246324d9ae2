"""Each step of the gateway's chain on its own, with a hand-made Exchange; then the chain as a whole
for the cases that cross steps (a refusal stops it, errors become AWS's answers)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import orjson
import pytest

from tsunagi.clock import Clock
from tsunagi.config import Config
from tsunagi.context import Principal
from tsunagi.gateway import steps
from tsunagi.gateway.app import Gateway
from tsunagi.gateway.codecs import Codecs
from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.identity import (
    Authenticator,
    Credential,
    CredentialStore,
    StrictAuthenticator,
    read_credential,
)
from tsunagi.gateway.routes import Route, RouteRegistry
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest, HttpResponse
from tsunagi.services.base import Platform, Service
from tsunagi.store.base import StoreFull, open_store

TRACE = "1-5759e988-bd862e3fe1be46a994272793"


def sigv4(service: str, akid: str = "test", region: str = "eu-west-1") -> dict[str, str]:
    return {"authorization": f"AWS4-HMAC-SHA256 Credential={akid}/20260101/{region}/{service}/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=abc", "host": "localhost:4566"}


class _Done:
    consumed = True

    def whole(self, limit: int) -> bytes | None:
        return None

    async def next_chunk(self) -> bytes:
        return b""


def exchange(method: str = "POST", path: str = "/", headers: dict[str, str] | None = None, body: bytes = b"",
             query: str = "") -> Exchange:
    request = HttpRequest(method, path, query, {"host": "localhost:4566", **(headers or {})}, body)
    return Exchange(request, "req-1", "127.0.0.1", _Done(), 0.0)


class FakeSqs(Service):
    """Records calls; fails on demand."""

    name = "sqs"

    def __init__(self, platform: Platform) -> None:
        super().__init__(platform)
        self.calls: list[tuple[Any, dict[str, Any]]] = []
        self.fail: Exception | None = None

    async def list_queues(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((ctx, params))
        if self.fail is not None:
            raise self.fail
        return {"QueueUrls": ["http://localhost:4566/000000000000/q"]}


def platform(**config: Any) -> tuple[Platform, FakeSqs]:
    p = Platform(Config(**config), open_store(":memory:", "/tmp"), Clock())
    sqs = FakeSqs(p)
    p.services["sqs"] = sqs
    return p, sqs


def run(step_result: Any) -> Any:
    """Finish a step: await what an asynchronous step returns (a plain step has done its work already)."""
    if step_result is not None and inspect.isawaitable(step_result):
        return asyncio.run(step_result)
    return step_result


LIST_QUEUES = {**sigv4("sqs"), "x-amz-target": "AmazonSQS.ListQueues", "content-type": "application/x-amz-json-1.0"}


# -- route ---------------------------------------------------------------------------------------------

def test_route_finds_the_service_and_its_codec() -> None:
    p, _ = platform()
    ex = exchange(headers=LIST_QUEUES, body=b"{}")
    run(steps.Route(p, RouteRegistry(), Codecs())(ex))
    assert ex.service == "sqs" and ex.codec is not None and ex.response is None
    assert ex.credential is not None and ex.credential.region == "eu-west-1"


def test_route_answers_from_a_registered_raw_route_first() -> None:
    p, _ = platform()
    routes = RouteRegistry()

    async def hello(ex: Exchange) -> HttpResponse:
        return HttpResponse(200, [], b"hi")

    routes.add(Route("hello", hello, prefix="/_tsunagi/hello"))
    ex = exchange("GET", "/_tsunagi/hello")
    run(steps.Route(p, routes, Codecs())(ex))
    assert ex.route == "hello" and ex.response is not None and ex.response.body == b"hi"


def test_route_refuses_what_it_cannot_place() -> None:
    p, _ = platform()
    ex = exchange("GET", "/", query="Action=Frobnicate")
    run(steps.Route(p, RouteRegistry(), Codecs())(ex))
    assert ex.response is not None and ex.response.status == 400
    # an Action is a query-protocol request: its client parses XML
    assert b"<Code>UnrecognizedRequest</Code>" in ex.response.body
    ex = exchange(headers=sigv4("dynamodb"))
    run(steps.Route(p, RouteRegistry(), Codecs())(ex))
    assert ex.response is not None and ex.response.status == 501
    assert orjson.loads(ex.response.body)["__type"] == "NotImplemented"


def test_route_registry_prefers_the_longest_prefix() -> None:
    routes = RouteRegistry()

    async def a(ex: Exchange) -> HttpResponse:
        return HttpResponse(200)

    routes.add(Route("short", a, prefix="/_tsunagi/"))
    routes.add(Route("long", a, prefix="/_tsunagi/sns/"))
    found = routes.find(HttpRequest("GET", "/_tsunagi/sns/x"))
    assert found is not None and found.name == "long"
    with pytest.raises(ValueError):
        routes.add(Route("long", a, prefix="/other"))


# -- authenticate ----------------------------------------------------------------------------------------

def test_authenticate_selects_the_account_of_a_twelve_digit_key() -> None:
    ex = exchange(headers=sigv4("sqs", akid="111122223333"))
    ex.credential = read_credential(ex.request)
    run(steps.Authenticate(Authenticator("000000000000"), Clock())(ex))
    assert ex.principal == Principal.root("111122223333", "111122223333")
    ex = exchange(headers=sigv4("sqs", akid="test"))
    ex.credential = read_credential(ex.request)
    run(steps.Authenticate(Authenticator("000000000000"), Clock())(ex))
    assert ex.principal is not None and ex.principal.account == "000000000000"


def test_strict_authentication_refuses_an_unsigned_request() -> None:
    ex = exchange()
    ex.credential = Credential()
    with pytest.raises(ServiceError) as e:
        store = CredentialStore.with_root("000000000000", "test", "test", None, Clock())
        run(steps.Authenticate(StrictAuthenticator("000000000000", store, Clock()), Clock())(ex))
    assert e.value.code == "MissingAuthenticationToken" and e.value.status == 403


def test_an_expired_presigned_s3_url_is_refused_before_parsing() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20200101%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20200101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
    ex = exchange("GET", "/bucket/key", query=query)
    ex.service = "s3"
    ex.credential = read_credential(ex.request)
    with pytest.raises(ServiceError) as e:
        run(steps.Authenticate(Authenticator("000000000000"), Clock())(ex))
    assert e.value.code == "AccessDenied" and "expired" in e.value.message.lower()


# -- parse -----------------------------------------------------------------------------------------------

def test_parse_gives_the_operation_and_validated_params() -> None:
    p, _ = platform()
    ex = exchange(headers=LIST_QUEUES, body=b'{"QueueNamePrefix": "a"}')
    ex.codec = Codecs().codec("sqs", "json")
    run(steps.Parse()(ex))
    assert ex.operation is not None and ex.operation.name == "ListQueues"
    assert ex.params == {"QueueNamePrefix": "a"}
    bad = exchange(headers=LIST_QUEUES, body=b'{"MaxResults": "many"}')
    bad.codec = ex.codec
    with pytest.raises(ServiceError):
        run(steps.Parse()(bad))


# -- authorize -------------------------------------------------------------------------------------------

class DenyAll:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def authorize(self, ex: Exchange) -> None:      # an authorizer that looks things up
        self.asked.append(ex.operation_name)
        raise ServiceError("not you", code="AccessDenied", status=403)


def test_authorize_consults_its_authorizer() -> None:
    ex = exchange()
    run(steps.Authorize(steps.AllowAll())(ex))      # the default lets everything through
    deny = DenyAll()
    with pytest.raises(ServiceError):
        run(steps.Authorize(deny)(ex))
    assert deny.asked == ["?"]


def test_a_refusal_stops_the_chain_before_the_service_runs() -> None:
    p, sqs = platform()
    gateway = Gateway(p, authorizer=DenyAll())
    request = HttpRequest("POST", "/", "", {"host": "localhost:4566", **LIST_QUEUES}, b"{}")
    response = run(gateway.handle(request, "req-9"))
    assert response.status == 403 and sqs.calls == []
    assert orjson.loads(response.body)["__type"].endswith("AccessDenied")


# -- trace context ---------------------------------------------------------------------------------------

def _parsed(headers: dict[str, str]) -> Exchange:
    ex = exchange(headers={**LIST_QUEUES, **headers}, body=b"{}")
    ex.credential = read_credential(ex.request)
    ex.principal = Principal.root("000000000000")
    ex.codec = Codecs().codec("sqs", "json")
    ex.service = "sqs"
    run(steps.Parse()(ex))
    return ex


def test_trace_context_keeps_the_callers_trace_root() -> None:
    ex = _parsed({"x-amzn-trace-id": f"Root={TRACE};Parent=53995c3f42cd8ad8;Sampled=1"})
    run(steps.TraceContext("us-east-1")(ex))
    assert ex.ctx is not None and ex.ctx.trace_id == TRACE
    assert ex.ctx.trace_header == f"Root={TRACE};Parent=53995c3f42cd8ad8;Sampled=1"
    assert ex.ctx.region == "eu-west-1" and ex.ctx.operation == "ListQueues"


def test_trace_context_starts_a_journey_when_there_is_none() -> None:
    a, b = _parsed({}), _parsed({})
    run(steps.TraceContext("us-east-1")(a))
    run(steps.TraceContext("us-east-1")(b))
    assert a.ctx is not None and b.ctx is not None
    assert a.ctx.trace_id.startswith("1-") and len(a.ctx.trace_id) == 35
    assert a.ctx.trace_id != b.ctx.trace_id and a.ctx.trace_header is None


# -- dispatch and serialize ------------------------------------------------------------------------------

def test_dispatch_calls_the_operation_and_serialize_answers() -> None:
    p, sqs = platform()
    ex = _parsed({})
    run(steps.TraceContext("us-east-1")(ex))
    ex.result = run(steps.Dispatch(p, Codecs())(ex))    # the chain stores what dispatch's awaitable produces
    assert sqs.calls and sqs.calls[0][1] == {} and ex.result == {"QueueUrls": ["http://localhost:4566/000000000000/q"]}
    run(steps.Serialize()(ex))
    assert ex.response is not None and ex.response.status == 200
    assert orjson.loads(ex.response.body) == {"QueueUrls": ["http://localhost:4566/000000000000/q"]}


def test_an_operation_not_built_answers_not_implemented() -> None:
    p, _ = platform()
    request = HttpRequest("POST", "/", "", {"host": "localhost:4566", **LIST_QUEUES,
                                            "x-amz-target": "AmazonSQS.PurgeQueue"},
                          b'{"QueueUrl": "http://localhost:4566/000000000000/q"}')
    response = run(Gateway(p).handle(request, "req-2"))
    assert response.status == 501
    assert "PurgeQueue is not available" in orjson.loads(response.body)["message"]


# -- errors and log --------------------------------------------------------------------------------------

def test_a_full_disk_is_503_in_the_services_format_and_other_failures_500_without_a_traceback() -> None:
    p, sqs = platform()
    request = HttpRequest("POST", "/", "", {"host": "localhost:4566", **LIST_QUEUES}, b"{}")
    sqs.fail = StoreFull("disk full")
    response = run(Gateway(p).handle(request, "req-3"))
    body = orjson.loads(response.body)
    assert response.status == 503 and "out of disk space" in body["message"]
    sqs.fail = KeyError("boom")
    response = run(Gateway(p).handle(request, "req-4"))
    body = orjson.loads(response.body)
    assert response.status == 500 and "req-4" in body["message"] and "Traceback" not in body["message"]


def test_log_writes_one_line_per_request_with_its_journey(caplog: pytest.LogCaptureFixture) -> None:
    p, _ = platform()
    request = HttpRequest("POST", "/", "", {"host": "localhost:4566", **LIST_QUEUES,
                                            "x-amzn-trace-id": f"Root={TRACE}"}, b"{}")
    with caplog.at_level(logging.DEBUG, logger="tsunagi.access"):
        run(Gateway(p).handle(request, "req-5"))
    lines = [r.getMessage() for r in caplog.records if r.name == "tsunagi.access"]
    assert len(lines) == 1 and "sqs.ListQueues -> 200" in lines[0] and TRACE in lines[0] and "req-5" in lines[0]
