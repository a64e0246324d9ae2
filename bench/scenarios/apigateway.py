"""API Gateway in front of SQS (seed 002): curl-style POSTs through a REST API whose AWS integration sends
each body to a queue (``Action=SendMessage&MessageBody=$util.urlEncode($input.body)``), beside SendMessage
straight to the same kind of queue, on the same server.

The API is built with boto3 (not measured) and called at its path-form invoke URL
(``/restapis/{id}/dev/_user_request_/``), which tsunagi, MiniStack and LocalStack serve; servers that cannot
build or answer it get a row saying so. The queue must hold exactly what was acknowledged. Direct and ingress
calls alternate in rounds, at the run's connections (the rate) and at one connection (a lone curl's latency).
The issue's target: the ingress keeps at least half of the direct rate and adds at most 1 ms at p50.
"""
from __future__ import annotations

import json

import boto3
from botocore.config import Config

from ..client import LoadResult, run_fixed
from ..core import Context, add_ratios, load_row, measure, std_cols
from ..report import Col, Table
from ..servers import Server
from . import scenario
from .sqs import BODY, Sqs, _each, send_raw

TEMPLATE = "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"
PAYLOAD = json.dumps({"message": BODY}).encode()


def _client(s: Server, service: str):
    return boto3.client(service, endpoint_url=f"http://{s.host}:{s.port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


def _api(s: Server, queue_name: str) -> str:
    c = _client(s, "apigateway")
    api = c.create_rest_api(name="bench-ingress")
    root = api["rootResourceId"]
    c.put_method(restApiId=api["id"], resourceId=root, httpMethod="POST", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=root, httpMethod="POST", type="AWS",
                      integrationHttpMethod="POST",
                      uri=f"arn:aws:apigateway:us-east-1:sqs:path/{s.account}/{queue_name}",
                      passthroughBehavior="NEVER",
                      requestParameters={"integration.request.header.Content-Type":
                                         "'application/x-www-form-urlencoded'"},
                      requestTemplates={"application/json": TEMPLATE})
    c.put_method_response(restApiId=api["id"], resourceId=root, httpMethod="POST", statusCode="200")
    c.put_integration_response(restApiId=api["id"], resourceId=root, httpMethod="POST", statusCode="200",
                               selectionPattern="")
    c.create_deployment(restApiId=api["id"], stageName="dev")
    return str(api["id"])


def _post_raw(s: Server, api_id: str) -> bytes:
    head = (f"POST /restapis/{api_id}/dev/_user_request_/ HTTP/1.1\r\nHost: {s.host}:{s.port}\r\n"
            f"User-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(PAYLOAD)}\r\n\r\n")
    return head.encode() + PAYLOAD


def _check(status: int, body: bytes) -> str | None:
    if status != 200 or b"MD5OfMessageBody" not in body and b"<MD5OfMessageBody>" not in body:
        return f"HTTP {status}: {body[:160]!r}"
    return None


def _check_direct(status: int, body: bytes) -> str | None:
    return None if status == 200 else f"HTTP {status}: {body[:160]!r}"


ROUNDS = 3           # direct and ingress alternate, round by round: a machine whose load changes meanwhile
                     # weighs on both paths alike


def _paired(s: Server, paths: list[tuple[str, bytes, object]], n: int, conns: int
            ) -> dict[str, tuple[LoadResult, float]]:
    """Each path's calls in ``ROUNDS`` alternating rounds (after one warm-up each), merged: path -> (result, CPU s)."""
    for _label, raw, check in paths:
        run_fixed(s.host, s.port, [raw], max(20, min(100, n // 5)), conns, check=check)      # warm-up
    out: dict[str, tuple[LoadResult, float]] = {}
    per = max(20, n // ROUNDS)
    for _ in range(ROUNDS):
        for label, raw, check in paths:
            res, cpu = measure(s, lambda raw=raw, check=check: run_fixed(s.host, s.port, [raw], per, conns,
                                                                          check=check))
            if label in out:
                total, spent = out[label]
                total.merge(res, wall=True)
                out[label] = (total, spent + cpu)
            else:
                out[label] = (res, cpu)
    return out


@scenario("apigateway", order=80)
def ingress(ctx: Context) -> list[Table]:
    """REST API → SQS (AWS integration, Velocity template) beside a direct SendMessage: calls/s, p50/p99, CPU;
    at the run's connections (the rate) and at one connection (the latency a lone curl sees)."""
    t = Table(f"API Gateway → SQS ingress vs direct SendMessage ({len(PAYLOAD)}-byte body; "
              f"{ctx.conns} conns, then 1 conn; direct and ingress in {ROUNDS} alternating rounds)",
              [Col("path", "path", "text"), Col("conns", "conns", "int")] + std_cols("calls/s", "CPU µs/call"))

    def one(s: Server) -> None:
        sqs = Sqs(s)
        n = ctx.count(6000, 1500, s)
        try:
            direct_url = sqs.create("direct")
            ingress_url = sqs.create("ingress")
            api_id = _api(s, ingress_url.rstrip("/").rsplit("/", 1)[1])
            paths = [("direct SendMessage", send_raw(s, direct_url), _check_direct),
                     ("REST API ingress", _post_raw(s, api_id), _check)]
            acked = 0
            for conns, calls in ((ctx.conns, n), (1, max(60, n // 4))):
                for label, (res, cpu) in _paired(s, paths, calls, conns).items():
                    t.add(path=label, conns=conns, **load_row(s, res, cpu, res.calls))
                    if label == "REST API ingress":
                        acked += res.calls - res.errors + max(20, min(100, calls // 5))
            got = sqs.counts(ingress_url)[0]
            if got != acked:
                t.rows[-1]["_note"] = f"the queue holds {got} messages, {acked} POSTs acknowledged"
            for url in (direct_url, ingress_url):
                sqs.delete(url)
        finally:
            sqs.close()

    _each(ctx, t, one)
    add_ratios(t, match=("path", "conns"))
    rows = {(r["server"], r.get("path"), r.get("conns")): r for r in t.rows if r.get("rate")}
    for server in sorted({k[0] for k in rows}):
        parts = []
        met = True
        for conns in (ctx.conns, 1):
            direct = rows.get((server, "direct SendMessage", conns))
            ingress_row = rows.get((server, "REST API ingress", conns))
            if not (direct and ingress_row):
                continue
            share = ingress_row["rate"] / direct["rate"]
            added = ingress_row["p50"] - direct["p50"]
            parts.append(f"{conns} conn{'s' if conns > 1 else ''}: {share:.0%} of the direct rate, "
                         f"{added:+.2f} ms at p50")
            if conns == ctx.conns:
                met = met and share >= 0.5
            met = met and added <= 1.0
        if not parts:
            continue
        if server == "tsunagi":
            t.notes.append("target: the ingress keeps ≥ 50% of the direct rate and adds ≤ 1 ms at p50 — "
                           + "; ".join(parts) + f" → {'met' if met else 'NOT met'}")
        else:
            t.notes.append(f"{server}: " + "; ".join(parts))
    return [t]


PROXY_FN = ("def handler(event, context):\n"
            "    return {'statusCode': 200, 'headers': {'Content-Type': 'text/plain'}, 'body': 'ok'}\n")


def _proxy_api(s: Server, function_name: str) -> str:
    c = _client(s, "apigateway")
    fn_arn = f"arn:aws:lambda:us-east-1:{s.account}:function:{function_name}"
    api = c.create_rest_api(name="bench-proxy")
    c.put_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET", type="AWS_PROXY",
                      integrationHttpMethod="POST",
                      uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations")
    c.create_deployment(restApiId=api["id"], stageName="dev")
    return str(api["id"])


def _get_raw(s: Server, api_id: str) -> bytes:
    return (f"GET /restapis/{api_id}/dev/_user_request_/ HTTP/1.1\r\nHost: {s.host}:{s.port}\r\n"
            f"User-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n").encode()


def _check_proxy(status: int, body: bytes) -> str | None:
    return None if status == 200 and body == b"ok" else f"HTTP {status}: {body[:160]!r}"


def _check_invoke(status: int, body: bytes) -> str | None:
    return None if status == 200 and b'"statusCode"' in body else f"HTTP {status}: {body[:160]!r}"


@scenario("apigateway.lambda", order=81)
def lambda_proxy(ctx: Context) -> list[Table]:
    """REST API → Lambda proxy (payload 1.0) beside a direct Invoke of the same function: calls/s, p50/p99, CPU."""
    from ._aws import FUNCTION_PEERS, Api, invoke_raw, not_docker, zip_of

    t = Table(f"API Gateway → Lambda proxy vs direct Invoke (warm function, {ctx.conns} conns, "
              f"{ROUNDS} alternating rounds)",
              [Col("path", "path", "text")] + std_cols("calls/s", "CPU µs/call"))

    def one(s: Server) -> None:
        if s.like not in FUNCTION_PEERS:
            t.add(server=s.name, _note=not_docker(s.name))
            return
        api = Api(s)
        name = f"bench-proxy-{ctx.conns}-{s.port}"
        try:
            api.create_function(name, zip_of(PROXY_FN))
            api_id = _proxy_api(s, name)
        finally:
            api.close()
        n = ctx.count(2000, 400, s)
        paths = [("direct Invoke", invoke_raw(s.signer, name), _check_invoke),
                 ("REST API Lambda proxy", _get_raw(s, api_id), _check_proxy)]
        for label, (res, cpu) in _paired(s, paths, n, ctx.conns).items():
            t.add(path=label, **load_row(s, res, cpu, res.calls))

    _each(ctx, t, one)
    add_ratios(t, match=("path",))
    rows = {(r["server"], r.get("path")): r for r in t.rows if r.get("rate")}
    for server in sorted({k[0] for k in rows}):
        direct, proxy = rows.get((server, "direct Invoke")), rows.get((server, "REST API Lambda proxy"))
        if direct and proxy:
            t.notes.append(f"{server}: the Lambda proxy keeps {proxy['rate'] / direct['rate']:.0%} of the direct "
                           f"Invoke rate, {proxy['p50'] - direct['p50']:+.2f} ms at p50")
    return [t]
