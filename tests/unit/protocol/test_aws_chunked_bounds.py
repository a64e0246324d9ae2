"""aws-chunked framing is bounded: trailers counted, lines capped, no per-chunk state kept."""

from __future__ import annotations

import pytest

from tsunagi.protocol.aws_chunked import MAX_TRAILERS, ChunkedDecoder, ChunkedError


def test_many_small_chunks_keep_no_per_chunk_state():
    dec = ChunkedDecoder()
    one = b"1;chunk-signature=" + b"0" * 64 + b"\r\nx\r\n"
    for _ in range(20_000):
        dec.feed(one)
    dec.feed(b"0;chunk-signature=" + b"0" * 64 + b"\r\n\r\n")
    dec.close()
    assert dec.decoded == 20_000 and dec.chunks == 20_001 and dec.last_signature == "0" * 64


def test_trailers_are_counted():
    dec = ChunkedDecoder()
    dec.feed(b"0\r\n")
    with pytest.raises(ChunkedError, match="trailers"):
        dec.feed(b"".join(b"x-t%d: v\r\n" % i for i in range(MAX_TRAILERS + 1)))


def test_a_line_without_an_end_is_refused():
    dec = ChunkedDecoder()
    with pytest.raises(ChunkedError, match="too long"):
        dec.feed(b"1" * 5000)
