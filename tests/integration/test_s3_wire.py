"""S3 requests over raw HTTP: what happens to an upload refused before its body was sent."""

from __future__ import annotations

import socket


def test_a_refused_upload_with_expect_100_continue_closes_the_connection(server):
    # The client waits for "100 Continue" before sending 1 MiB; the bucket does not exist, so the
    # final answer comes at once, the body is never sent, and the connection cannot be reused.
    head = (b"PUT /no-such-bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n"
            b"Expect: 100-continue\r\n"
            b"Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
            b"SignedHeaders=host, Signature=0\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break  # the server closed the connection after answering
            reply += chunk
    status, _, rest = reply.partition(b"\r\n")
    assert status == b"HTTP/1.1 404 Not Found", reply[:200]
    assert b"connection: close" in rest.lower()
    assert b"<Code>NoSuchBucket</Code>" in reply
    # and the server serves the next client normally
    assert server.client("s3").list_buckets()["Buckets"] == []
