"""``python -m bench.apigw_cpu``: the server's CPU per call of seed 002's ingress beside a direct SendMessage,
measured in process (``Gateway.handle`` called in a loop, no sockets, no client), so that a loaded machine
weighs on the figure far less than on a socket benchmark. Runs the tsunagi its interpreter imports: run it
with another checkout's venv to measure that checkout (``/work/base/.venv/bin/python -m bench.apigw_cpu``
from this directory).

Prints, per round, CPU µs per call of each path and, at the end, the best round's figures and the
ingress's extra CPU per call over the direct send.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time

from .client import Signer
from .scenarios.apigateway import PAYLOAD, TEMPLATE


def _parse(raw: bytes) -> tuple[str, str, str, dict[str, str], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ")
    path, _, query = target.partition("?")
    headers = {}
    for line in lines[1:]:
        name, value = line.split(": ", 1)
        headers[name.lower()] = value
    return method, path, query, headers, body


async def _main(calls: int, rounds: int) -> None:
    from tsunagi.config import Config
    from tsunagi.ids import uuid4
    from tsunagi.protocol.http import HttpRequest
    from tsunagi.server import build

    gateway = build(Config(data_dir=tempfile.mkdtemp(prefix="apigw-cpu-")))
    await gateway.startup()
    signer = Signer("localhost", 4566)

    async def call(parsed):
        method, path, query, headers, body = parsed
        return await gateway.handle(HttpRequest(method, path, query, dict(headers), body), uuid4())

    async def ok(raw: bytes) -> dict:
        answer = await call(_parse(raw))
        assert answer.status < 300, (answer.status, answer.body)
        return json.loads(answer.body or b"{}")

    async def apigw(method: str, path: str, doc: dict) -> dict:
        return await ok(signer.raw("apigateway", json.dumps(doc).encode(), {"Content-Type": "application/json"},
                                   path=path, method=method))

    try:
        direct_url = (await ok(signer.sqs("CreateQueue", {"QueueName": "direct"})))["QueueUrl"]
        await ok(signer.sqs("CreateQueue", {"QueueName": "ingress"}))
        api = await apigw("POST", "/restapis", {"name": "apigw-cpu"})
        base = f"/restapis/{api['id']}/resources/{api['rootResourceId']}/methods/POST"
        await apigw("PUT", base, {"authorizationType": "NONE"})
        await apigw("PUT", base + "/integration", {
            "type": "AWS", "httpMethod": "POST", "uri": "arn:aws:apigateway:us-east-1:sqs:path/000000000000/ingress",
            "passthroughBehavior": "NEVER", "requestTemplates": {"application/json": TEMPLATE},
            "requestParameters": {"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"}})
        await apigw("PUT", base + "/responses/200", {})
        await apigw("PUT", base + "/integration/responses/200", {"selectionPattern": ""})
        await apigw("POST", f"/restapis/{api['id']}/deployments", {"stageName": "dev"})
        paths = {
            "direct SendMessage": _parse(signer.sqs("SendMessage", {"QueueUrl": direct_url,
                                                                    "MessageBody": PAYLOAD.decode()})),
            "REST API ingress": _parse(
                (f"POST /restapis/{api['id']}/dev/_user_request_/ HTTP/1.1\r\nHost: localhost:4566\r\n"
                 f"User-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(PAYLOAD)}\r\n\r\n").encode() + PAYLOAD)}
        best: dict[str, float] = {}
        for r in range(rounds):
            figures = []
            for label, parsed in paths.items():
                for _ in range(min(300, calls)):
                    await call(parsed)
                c0 = time.process_time()
                for _ in range(calls):
                    answer = await call(parsed)
                spent = (time.process_time() - c0) * 1e6 / calls
                assert answer.status == 200, answer.body
                best[label] = min(best.get(label, spent), spent)
                figures.append(f"{label} {spent:.0f} µs")
            print(f"round {r + 1}: " + ", ".join(figures))
        direct, ingress = best["direct SendMessage"], best["REST API ingress"]
        print(f"best: direct SendMessage {direct:.0f} µs/call, REST API ingress {ingress:.0f} µs/call; the ingress "
              f"adds {ingress - direct:.0f} µs of CPU per call ({ingress / direct:.2f}x the direct send)")
    finally:
        await gateway.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.apigw_cpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000, help="calls per path per round (3000)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds, paths alternating (5); the best round counts")
    args = ap.parse_args()
    asyncio.run(_main(args.calls, args.rounds))


if __name__ == "__main__":
    main()
