"""Path-traversal object keys: an S3 key is a name, never a path on the server's disk.

Keys full of ``..``, slashes, backslashes, percent-escapes and NULs are stored and returned
byte for byte, listed as themselves, and nothing is written outside the data directory (object
bodies live in files named by random ids, never by a client's key).
"""

from __future__ import annotations

import os
import urllib.parse

import pytest

from tests.security.rawhttp import any_signature, request, send_raw
from tests.support.server import TsunagiServer

KEYS = [
    "../escape.txt",
    "../../../../../../tmp/tsunagi-escape.txt",
    "a/../../b.txt",
    "./x",
    "/leading-slash",
    "//double//slashes//",
    "..",
    ".",
    "dir/..",
    "..\\..\\windows.txt",
    "C:\\evil.txt",
    "%2e%2e/%2e%2e/percent.txt",
    "..%2f..%2fencoded.txt",
    "\u2025/\uff0e\uff0e/lookalikes.txt",
    "trailing/",
    "space ../ x",
]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("s3-keys") / "data"
    srv = TsunagiServer("sqlite", data_dir=str(data)).start()
    health = send_raw(srv.port, request("GET", "/_tsunagi/health"), timeout=5)
    if b'"s3"' not in health.body:
        srv.stop()
        pytest.skip("this build does not serve S3")
    yield srv
    srv.stop()


def _files(root: str) -> set[str]:
    out = set()
    for folder, _, files in os.walk(root):
        out.update(os.path.join(folder, f) for f in files)
    return out


def test_traversal_keys_round_trip_and_stay_inside_the_data_dir(s3_server, tmp_path):
    outside_before = _files(os.path.dirname(s3_server.data_dir)) - _files(s3_server.data_dir)
    s3 = s3_server.client("s3")
    s3.create_bucket(Bucket="keys")
    for i, key in enumerate(KEYS):
        s3.put_object(Bucket="keys", Key=key, Body=f"body {i}".encode())
    for i, key in enumerate(KEYS):
        assert s3.get_object(Bucket="keys", Key=key)["Body"].read() == f"body {i}".encode(), key
    listed = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="keys"):
        listed += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(listed) == sorted(KEYS)
    outside_after = _files(os.path.dirname(s3_server.data_dir)) - _files(s3_server.data_dir)
    assert outside_after == outside_before, f"files appeared outside the data dir: {outside_after - outside_before}"
    assert not os.path.exists("/tmp/tsunagi-escape.txt")
    for path in _files(s3_server.data_dir):
        name = os.path.basename(path)
        assert "escape" not in name and "evil" not in name and "percent" not in name, path


def test_keys_with_nul_and_control_characters(s3_server):
    s3 = s3_server.client("s3")
    s3.create_bucket(Bucket="ctl")
    for key in ("nul\x00byte", "bell\x07", "newline\nkey", "tab\tkey"):
        # AWS accepts these in keys (XML 1.0 cannot list some of them; that is the client's problem)
        port = s3_server.port
        path = "/ctl/" + urllib.parse.quote(key, safe="")
        ex = send_raw(port, request("PUT", path, any_signature("s3"), b"x"), timeout=5)
        assert ex.status is not None and ex.status < 500, str(ex)
        got = send_raw(port, request("GET", path, any_signature("s3")), timeout=5)
        assert got.status is not None and got.status < 500, str(got)
        if ex.status == 200:
            assert got.status == 200 and got.body == b"x", str(got)


def test_raw_dot_segments_in_the_request_path(s3_server):
    s3 = s3_server.client("s3")
    s3.create_bucket(Bucket="dots")
    s3.put_object(Bucket="dots", Key="secret.txt", Body=b"secret")
    for path in ("/dots/../dots/secret.txt", "/other/../dots/secret.txt", "/dots/%2e%2e/dots/secret.txt",
                 "/dots/a/../../../../etc/passwd", "/../../etc/passwd", "/dots/..%2f..%2fetc%2fpasswd"):
        ex = send_raw(s3_server.port, request("GET", path, any_signature("s3")), timeout=5)
        # whatever the answer, it is a lookup of a literal key (or a 4xx), never a file from disk
        assert ex.status is not None and ex.status < 500, f"{path}: {ex}"
        assert b"root:" not in ex.raw, path
