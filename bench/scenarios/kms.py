"""KMS: Encrypt and Decrypt with a symmetric key (AES-256-GCM) and an encryption context.

Each server gets a fresh key (CreateKey, not measured); Encrypt replays one signed request, Decrypt one
ciphertext made by that server. Replies are checked: an Encrypt must return a CiphertextBlob, a Decrypt
the plaintext that was encrypted. The issue's target: tsunagi's server CPU per call at most a fifth of
the cheaper of moto and LocalStack (MiniStack is shown for reference).
"""
from __future__ import annotations

import base64
import json

from ..client import Conn, run_fixed
from ..core import Context, add_ratios, load_row, measure, std_cols
from ..report import Col, Table
from ..servers import Server
from . import scenario
from .sqs import _each

PLAINTEXT = json.dumps({"card": "4111111111111111", "holder": "A. Example", "pad": "x" * 400}).encode()
CONTEXT = {"purpose": "bench", "tenant": "t-0001"}
TARGET = 1 / 5          # tsunagi CPU/call ÷ the cheaper of moto and LocalStack


class KmsError(Exception):
    pass


def kms_raw(s: Server, op: str, payload: dict) -> bytes:
    return s.signer.json("kms", f"TrentService.{op}", payload, content_type="application/x-amz-json-1.1")


def _call(s: Server, conn: Conn, op: str, payload: dict) -> dict:
    status, body = conn.request(kms_raw(s, op, payload))
    if status != 200:
        raise KmsError(f"{op} → HTTP {status}: {body[:200]!r}")
    return json.loads(body)


def _check_encrypt(status: int, body: bytes) -> str | None:
    if status != 200 or b'"CiphertextBlob"' not in body:
        return f"HTTP {status}: {body[:160]!r}"
    return None


_PLAIN_B64 = base64.b64encode(PLAINTEXT)


def _check_decrypt(status: int, body: bytes) -> str | None:
    if status != 200 or _PLAIN_B64 not in body:
        return f"HTTP {status}: {body[:160]!r}"
    return None


@scenario("kms", order=75)
def kms(ctx: Context) -> list[Table]:
    """KMS Encrypt and Decrypt (symmetric key, encryption context): server CPU µs/call, calls/s, p50/p99."""
    t = Table(f"KMS Encrypt / Decrypt ({len(PLAINTEXT)}-byte plaintext, encryption context, {ctx.conns} conns)",
              [Col("op", "op", "text")] + std_cols("calls/s", "CPU µs/call"))

    def one(s: Server) -> None:
        conn = Conn(s.host, s.port)
        try:
            key = _call(s, conn, "CreateKey", {"Description": "bench"})["KeyMetadata"]["KeyId"]
            enc = kms_raw(s, "Encrypt", {"KeyId": key, "Plaintext": _PLAIN_B64.decode(), "EncryptionContext": CONTEXT})
            blob = _call(s, conn, "Encrypt", {"KeyId": key, "Plaintext": _PLAIN_B64.decode(),
                                              "EncryptionContext": CONTEXT})["CiphertextBlob"]
            dec = kms_raw(s, "Decrypt", {"CiphertextBlob": blob, "EncryptionContext": CONTEXT})
        finally:
            conn.close()
        n = ctx.count(5000, 2000, s)
        for op, raw, check in (("Encrypt", enc, _check_encrypt), ("Decrypt", dec, _check_decrypt)):
            run_fixed(s.host, s.port, [raw], min(100, n // 5), ctx.conns, check=check)      # warm-up
            res, cpu = measure(s, lambda raw=raw, check=check: run_fixed(s.host, s.port, [raw], n, ctx.conns,
                                                                          check=check))
            t.add(op=op, **load_row(s, res, cpu, res.calls))

    _each(ctx, t, one)
    add_ratios(t, match=("op",))
    for op in ("Encrypt", "Decrypt"):
        rows = {r["server"]: r for r in t.rows if r.get("op") == op and r.get("cpu_us") and not r.get("errors")}
        peers = [r for name, r in rows.items() if name in ("moto", "localstack")]
        if "tsunagi" not in rows or not peers:
            t.notes.append(f"target {op}: tsunagi CPU/call ≤ 1/5 of the cheaper of moto and LocalStack: not measured")
            continue
        cheaper = min(peers, key=lambda r: r["cpu_us"])
        v = rows["tsunagi"]["cpu_us"] / cheaper["cpu_us"]
        t.notes.append(f"target {op}: tsunagi CPU/call ≤ 1/5 of the cheaper of moto and LocalStack "
                       f"({cheaper['server']}, {cheaper['cpu_us']:,.0f} µs): tsunagi {rows['tsunagi']['cpu_us']:,.0f} "
                       f"µs = 1/{1 / v:,.1f} → {'met' if v <= TARGET else 'NOT met'}")
    return [t]
