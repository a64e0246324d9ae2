"""The ceiling: a bare ASGI handler that reads the request and returns a canned 200.

Run on the same HTTP server stack as tsunagi:
``.venv/bin/python -m uvicorn bench.bare_app:app --loop uvloop --http httptools --no-access-log``.
Whatever tsunagi spends per request above this figure is tsunagi's own work.
"""

BODY = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    b"<GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:root</Arn><UserId>000000000000</UserId>"
    b"<Account>000000000000</Account></GetCallerIdentityResult><ResponseMetadata>"
    b"<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>"
    b"</GetCallerIdentityResponse>"
)
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/xml"), (b"content-length", str(len(BODY)).encode())],
}
BODY_MSG = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    await send(START)
    await send(BODY_MSG)
