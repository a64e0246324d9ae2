"""``--auth strict``: requests signed by botocore's own signer are verified; every way a signature can
fail gives the service's error; IAM's keys are looked up through the IAM port (a fake one here)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from tsunagi.clock import ManualClock
from tsunagi.config import Config
from tsunagi.context import Principal
from tsunagi.gateway.identity import ANONYMOUS, CredentialStore, StrictAuthenticator, read_credential
from tsunagi.ports import Ports
from tsunagi.ports.iam import IAM, Credentials
from tsunagi.protocol import sigv4
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import BodyStream, HttpRequest

NOW = 1_800_000_000.0
ACCOUNT = "111122223333"


class FakeIam:
    def __init__(self, *keys: Credentials) -> None:
        self.keys = {k.access_key_id: k for k in keys}
        self.lookups = 0

    async def credentials(self, access_key_id: str) -> Credentials | None:
        self.lookups += 1
        return self.keys.get(access_key_id)

    async def identity_policies(self, principal_arn: str) -> list[tuple[str, str]]:
        return []

    async def permissions_boundary(self, principal_arn: str) -> str | None:
        return None

    async def role(self, arn: str) -> Any:
        return None


USER = Credentials("AKIAUSERKEY000000001", "user-secret", None, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice",
                   "AIDAALICE", None)
OFF = USER._replace(access_key_id="AKIAUSERKEY000000002", active=False)
SESSION = Credentials("ASIASESSION000000001", "session-secret", "the-token", ACCOUNT,
                      f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s", "AROAR:s", int((NOW + 3600) * 1000))


def authenticator(*keys: Credentials) -> tuple[StrictAuthenticator, FakeIam, ManualClock]:
    clock = ManualClock(NOW)
    ports = Ports()
    iam = FakeIam(*keys)
    ports.provide(IAM, iam)
    store = CredentialStore.with_root(ACCOUNT, "ROOTKEY", "root-secret", ports, clock)
    return StrictAuthenticator(ACCOUNT, store, clock), iam, clock


def signed(service: str, *, key: str = "ROOTKEY", secret: str = "root-secret", token: str | None = None,
           method: str = "POST", url: str = "http://localhost:4566/", body: bytes = b"Action=ListQueues",
           headers: dict[str, str] | None = None, at: float = NOW, presign: bool = False,
           payload: str | None = None) -> HttpRequest:
    """A request as botocore signs it, turned into what the gateway receives."""
    creds = BotoCredentials(key, secret, token)
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if presign:
        signer: Any = (S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth)(creds, service, "us-east-1", 900)
    else:
        signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(creds, service, "us-east-1")
    if payload is not None:     # what SDKs that stream signed chunks put in x-amz-content-sha256
        signer.payload = lambda request: payload
    # botocore reads the time from the clock: pin it
    import botocore.auth as auth_module
    real = auth_module.get_current_datetime
    auth_module.get_current_datetime = lambda: datetime.fromtimestamp(at, UTC).replace(tzinfo=None)
    try:
        signer.add_auth(req)
    finally:
        auth_module.get_current_datetime = real
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    hdrs = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    hdrs.setdefault("host", parts.netloc)
    data = prepared.body or b""
    return HttpRequest(method, parts.path or "/", parts.query, hdrs,
                       data if isinstance(data, bytes) else data.encode())


def run(result: Any) -> Any:
    if inspect.isawaitable(result):
        return asyncio.run(result)  # type: ignore[arg-type]
    return result


def check(auth: StrictAuthenticator, request: HttpRequest, service: str = "sqs", protocol: str = "query") -> Any:
    return run(auth.authenticate(request, read_credential(request), service, protocol))


def refused(auth: StrictAuthenticator, request: HttpRequest, service: str = "sqs", protocol: str = "query") \
        -> ServiceError:
    with pytest.raises(ServiceError) as e:
        check(auth, request, service, protocol)
    return e.value


# -- the fast path and the lookup -------------------------------------------------------------------------

def test_the_root_key_is_verified_without_awaiting() -> None:
    auth, iam, _ = authenticator()
    request = signed("sqs")
    result = auth.authenticate(request, read_credential(request), "sqs", "query")
    assert isinstance(result, Principal)
    assert result.arn == f"arn:aws:iam::{ACCOUNT}:root" and result.access_key_id == "ROOTKEY"
    assert iam.lookups == 0


def test_an_iam_key_is_looked_up_once_then_answered_from_the_cache() -> None:
    auth, iam, _ = authenticator(USER)
    first = check(auth, signed("sqs", key=USER.access_key_id, secret=USER.secret_access_key))
    assert first.arn == USER.principal_arn and first.account == ACCOUNT
    request = signed("sqs", key=USER.access_key_id, secret=USER.secret_access_key)
    again = auth.authenticate(request, read_credential(request), "sqs", "query")
    assert isinstance(again, Principal) and again == first and iam.lookups == 1


def test_an_unknown_or_inactive_key_is_refused_in_each_protocol_s_words() -> None:
    auth, _, _ = authenticator(OFF)
    e = refused(auth, signed("sqs", key="AKIANOSUCHKEY0000000"))
    assert (e.code, e.status, e.message) == ("InvalidClientTokenId", 403,
                                             "The security token included in the request is invalid.")
    e = refused(auth, signed("sqs", key=OFF.access_key_id, secret=OFF.secret_access_key))
    assert e.code == "InvalidClientTokenId"
    e = refused(auth, signed("kms", key="AKIANOSUCHKEY0000000", body=b"{}"), "kms", "json")
    assert (e.code, e.status) == ("UnrecognizedClientException", 400)
    e = refused(auth, signed("lambda", key="AKIANOSUCHKEY0000000", method="GET", body=b"",
                             url="http://localhost:4566/2015-03-31/functions/"), "lambda", "rest-json")
    assert (e.code, e.status) == ("UnrecognizedClientException", 403)
    e = refused(auth, signed("s3", key="AKIANOSUCHKEY0000000", method="GET", body=b""), "s3", "rest-xml")
    assert (e.code, e.status, e.fields["AWSAccessKeyId"]) == ("InvalidAccessKeyId", 403, "AKIANOSUCHKEY0000000")


def test_a_wrong_secret_is_signature_does_not_match() -> None:
    auth, _, _ = authenticator()
    e = refused(auth, signed("sns", secret="wrong"), "sns", "query")
    assert e.code == "SignatureDoesNotMatch" and e.status == 403
    assert e.message.startswith("The request signature we calculated does not match the signature you provided.")
    e = refused(auth, signed("kms", secret="wrong", body=b"{}"), "kms", "json")
    assert (e.code, e.status) == ("InvalidSignatureException", 400)
    e = refused(auth, signed("sqs", secret="wrong", body=b"{}"), "sqs", "json")
    assert (e.code, e.query_code, e.status) == ("InvalidSignatureException", "SignatureDoesNotMatch", 403)
    e = refused(auth, signed("s3", secret="wrong", method="GET", body=b""), "s3", "rest-xml")
    assert e.code == "SignatureDoesNotMatch" and "CanonicalRequest" in e.fields and "StringToSign" in e.fields


def test_a_body_changed_after_signing_does_not_match() -> None:
    auth, _, _ = authenticator()
    request = signed("sqs")
    request.body = b"Action=DeleteQueue"
    assert refused(auth, request).code == "SignatureDoesNotMatch"


def test_a_request_signed_more_than_15_minutes_away_is_refused() -> None:
    auth, _, _ = authenticator()
    e = refused(auth, signed("sqs", at=NOW - 901))
    assert e.code == "SignatureDoesNotMatch"
    assert e.message == ("Signature expired: 20270115T074459Z is now earlier than 20270115T074500Z "
                         "(20270115T080000Z - 15 min.)")
    e = refused(auth, signed("kms", at=NOW + 1000, body=b"{}"), "kms", "json")
    assert e.code == "InvalidSignatureException" and e.message.startswith("Signature not yet current: ")
    e = refused(auth, signed("s3", at=NOW - 3600, method="GET", body=b""), "s3", "rest-xml")
    assert e.code == "RequestTimeTooSkewed" and e.fields["MaxAllowedSkewMilliseconds"] == "900000"
    assert check(auth, signed("sqs", at=NOW - 899)).account == ACCOUNT


def test_session_credentials_need_their_token_and_expire() -> None:
    auth, _, clock = authenticator(SESSION)
    ok = signed("sqs", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="the-token")
    assert check(auth, ok).arn == SESSION.principal_arn
    no_token = signed("sqs", key=SESSION.access_key_id, secret=SESSION.secret_access_key)
    assert refused(auth, no_token).code == "InvalidClientTokenId"
    wrong = signed("sqs", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="another")
    assert refused(auth, wrong).code == "InvalidClientTokenId"
    s3_wrong = signed("s3", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="another",
                      method="GET", body=b"")
    assert refused(auth, s3_wrong, "s3", "rest-xml").code == "InvalidToken"
    clock.advance(3601)
    later = signed("sqs", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="the-token",
                   at=NOW + 3601)
    e = refused(auth, later)
    assert (e.code, e.message) == ("ExpiredToken", "The security token included in the request is expired")
    e = refused(auth, signed("kms", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="the-token",
                             at=NOW + 3601, body=b"{}"), "kms", "json")
    assert e.code == "ExpiredTokenException"


def test_a_long_term_key_with_a_session_token_is_refused() -> None:
    auth, _, _ = authenticator()
    assert refused(auth, signed("sqs", token="made-up")).code == "InvalidClientTokenId"


def test_an_unsigned_request_is_refused() -> None:
    auth, _, _ = authenticator()
    e = refused(auth, HttpRequest("POST", "/", "", {"host": "localhost:4566"}, b"Action=ListTopics"), "sns")
    assert (e.code, e.status) == ("MissingAuthenticationToken", 403)


def test_an_unsigned_s3_or_sqs_request_is_anonymous_for_the_authorize_step_to_decide() -> None:
    # a bucket or queue policy can open them to everyone (tsunagi.gateway.anonymous refuses the rest)
    auth, _, _ = authenticator()
    assert check(auth, HttpRequest("POST", "/", "", {"host": "localhost:4566"}, b"Action=ListQueues")) is ANONYMOUS
    assert check(auth, HttpRequest("GET", "/bucket/key", "", {"host": "localhost:4566"}), "s3", "rest-xml") \
        is ANONYMOUS


# -- presigned ---------------------------------------------------------------------------------------------

def test_presigned_requests_are_verified_for_s3_and_other_services() -> None:
    auth, _, clock = authenticator()
    url = "http://localhost:4566/bucket/a%20key.txt"
    s3 = signed("s3", presign=True, method="GET", body=b"", url=url)
    assert check(auth, s3, "s3", "rest-xml").account == ACCOUNT
    sqs = signed("sqs", presign=True, method="GET", body=b"", url="http://localhost:4566/?Action=ListQueues")
    assert check(auth, sqs).account == ACCOUNT
    tampered = signed("s3", presign=True, method="GET", body=b"", url=url)
    tampered.path = "/bucket/another"
    assert refused(auth, tampered, "s3", "rest-xml").code == "SignatureDoesNotMatch"
    clock.advance(901)
    e = refused(auth, signed("s3", presign=True, method="GET", body=b"", url=url), "s3", "rest-xml")
    assert (e.code, e.message) == ("AccessDenied", "Request has expired")
    e = refused(auth, signed("sqs", presign=True, method="GET", body=b"", url="http://localhost:4566/?Action=ListQueues"))
    assert e.message.startswith("Signature expired: ")


# -- S3 bodies ---------------------------------------------------------------------------------------------

def chunked(key: bytes, amz_date: str, scope: str, seed: str, pieces: list[bytes]) -> bytes:
    out, previous = [], seed
    for piece in [*pieces, b""]:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, sigv4.EMPTY_SHA256,
                             hashlib.sha256(piece).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out.append(f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n")
    return b"".join(out)


def streamed(request: HttpRequest, body: bytes, piece: int = 7) -> None:
    parts = [body[i:i + piece] for i in range(0, len(body), piece)]

    async def next_chunk() -> bytes:
        return parts.pop(0) if parts else b""

    request.stream = BodyStream(next_chunk)


async def drain(stream: BodyStream) -> bytes:
    return await stream.read()


def test_every_chunk_signature_of_an_aws_chunked_upload_is_checked() -> None:
    auth, _, _ = authenticator()
    headers = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "11"}
    streaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    request = signed("s3", method="PUT", body=b"", url="http://localhost:4566/bucket/key", headers=headers,
                     payload=streaming)
    sig = sigv4.read_signature(request)
    assert sig is not None
    key = sigv4.derive_key("root-secret", sig.date, sig.region, sig.service)
    body = chunked(key, sig.amz_date, sig.scope, sig.signature, [b"hello ", b"world"])
    streamed(request, body)
    check(auth, request, "s3", "rest-xml")
    assert request.stream is not None
    assert asyncio.run(drain(request.stream)) == body
    # one byte changed in the second chunk: its signature no longer holds
    request = signed("s3", method="PUT", body=b"", url="http://localhost:4566/bucket/key", headers=headers,
                     payload=streaming)
    streamed(request, body.replace(b"world", b"w0rld"))
    check(auth, request, "s3", "rest-xml")
    assert request.stream is not None
    with pytest.raises(ServiceError) as e:
        asyncio.run(drain(request.stream))
    assert e.value.code == "SignatureDoesNotMatch"


def test_an_s3_body_must_match_its_declared_sha256() -> None:
    auth, _, _ = authenticator()
    request = signed("s3", method="PUT", body=b"the body", url="http://localhost:4566/bucket/key")
    streamed(request, b"the bodY")
    request.body = b""
    check(auth, request, "s3", "rest-xml")
    assert request.stream is not None
    with pytest.raises(ServiceError) as e:
        asyncio.run(drain(request.stream))
    assert e.value.code == "XAmzContentSHA256Mismatch"


def test_signing_keys_are_derived_once_per_scope() -> None:
    keys = sigv4.SigningKeys()
    a = keys.get("secret", "20270115", "us-east-1", "sqs")
    assert keys.get("secret", "20270115", "us-east-1", "sqs") is a
    assert keys.get("secret", "20270115", "us-east-1", "sns") != a


# -- settings ----------------------------------------------------------------------------------------------

def test_an_unknown_auth_mode_stops_the_server() -> None:
    with pytest.raises(ValueError, match="TSUNAGI_AUTH"):
        Config(auth="stritc").validate()
    Config(auth="open").validate()
    Config(auth="off").validate()
    assert Config(auth="strict").strict_auth


def test_the_root_key_pair_is_given_whole() -> None:
    with pytest.raises(ValueError, match="TSUNAGI_SECRET_ACCESS_KEY"):
        Config(root_access_key_id="AKIAROOT").validate()
    assert Config().root_key_pair() == ("test", "test")
    assert Config(root_access_key_id="AKIAROOT", root_secret_access_key="s").root_key_pair() == ("AKIAROOT", "s")


def test_presigned_requests_with_session_credentials_carry_their_token() -> None:
    auth, _, _ = authenticator(SESSION)
    url = "http://localhost:4566/?Action=ListQueues"
    ok = signed("sqs", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="the-token", presign=True,
                method="GET", body=b"", url=url)
    assert "X-Amz-Security-Token=the-token" in ok.query
    assert check(auth, ok).arn == SESSION.principal_arn
    wrong = signed("s3", key=SESSION.access_key_id, secret=SESSION.secret_access_key, token="other", presign=True,
                   method="GET", body=b"", url="http://localhost:4566/bucket/key")
    assert refused(auth, wrong, "s3", "rest-xml").code == "InvalidToken"


def test_authorization_headers_in_other_spellings_are_verified_the_long_way() -> None:
    auth, _, _ = authenticator()
    request = signed("sqs")
    request.headers["authorization"] = request.headers["authorization"].replace(", ", ",")
    assert check(auth, request).account == ACCOUNT
    request = signed("sqs", secret="wrong")
    request.headers["authorization"] = request.headers["authorization"].replace(", ", ",")
    assert refused(auth, request).code == "SignatureDoesNotMatch"


def test_an_authorization_header_read_once_still_has_each_request_s_signature_checked() -> None:
    """What an SDK's Authorization header says before its signature is remembered; each request's own
    signature, body and headers are still checked against it."""
    auth, _, clock = authenticator()
    first = signed("sqs")
    assert check(auth, first).account == ACCOUNT
    prefix, signature = first.headers["authorization"][:-64], first.headers["authorization"][-64:]
    forged = signed("sqs")
    forged.headers["authorization"] = prefix + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert refused(auth, forged).code == "SignatureDoesNotMatch"
    changed = signed("sqs")
    changed.body = b"Action=DeleteQueue"
    assert refused(auth, changed).code == "SignatureDoesNotMatch"
    moved = signed("sqs")
    moved.headers["host"] = "elsewhere:4566"
    assert refused(auth, moved).code == "SignatureDoesNotMatch"
    short = signed("sqs")
    short.headers["authorization"] = short.headers["authorization"][:-1]
    assert refused(auth, short).code in ("SignatureDoesNotMatch", "IncompleteSignature")
    upper = signed("sqs")
    upper.headers["authorization"] = prefix + upper.headers["authorization"][-64:].upper()
    assert check(auth, upper).account == ACCOUNT        # hex digits in capitals: the long way accepts them
    clock.advance(86_400)                                # the next day: another scope, another signing key
    assert check(auth, signed("sqs", at=NOW + 86_400)).account == ACCOUNT
    assert refused(auth, signed("sqs", at=NOW + 86_400, secret="wrong")).code == "SignatureDoesNotMatch"


def test_a_header_value_s_inner_spaces_are_folded_before_signing() -> None:
    auth, _, _ = authenticator()
    request = signed("sqs", headers={"X-Custom": "a   b\tc "})
    assert "x-custom" in request.headers["authorization"]
    assert check(auth, request).account == ACCOUNT


def test_an_unsigned_request_is_refused_in_each_protocol_s_words() -> None:
    auth, _, _ = authenticator()
    bare = HttpRequest("POST", "/", "", {"host": "localhost:4566", "x-amz-target": "TrentService.ListKeys"}, b"{}")
    e = refused(auth, bare, "kms", "json")
    assert (e.code, e.message, e.status) == ("MissingAuthenticationTokenException", "Missing Authentication Token", 400)
    e = refused(auth, HttpRequest("GET", "/2015-03-31/functions/", "", {"host": "localhost:4566"}), "lambda",
                "rest-json")
    assert (e.code, e.status) == ("MissingAuthenticationTokenException", 403)


def test_a_deleted_or_deactivated_key_stops_working_once_its_cache_entry_ends() -> None:
    auth, iam, _ = authenticator(USER)
    auth.credentials.ttl = 0.0          # every request asks IAM again
    request = lambda: signed("sqs", key=USER.access_key_id, secret=USER.secret_access_key)  # noqa: E731
    assert check(auth, request()).arn == USER.principal_arn
    iam.keys[USER.access_key_id] = USER._replace(active=False)
    assert refused(auth, request()).code == "InvalidClientTokenId"
    del iam.keys[USER.access_key_id]
    assert refused(auth, request()).code == "InvalidClientTokenId"
    assert iam.lookups == 3


def test_without_iam_only_the_root_key_is_known() -> None:
    clock = ManualClock(NOW)
    store = CredentialStore.with_root(ACCOUNT, "ROOTKEY", "root-secret", Ports(), clock)
    auth = StrictAuthenticator(ACCOUNT, store, clock)
    assert check(auth, signed("sqs")).account == ACCOUNT
    assert refused(auth, signed("sqs", key=USER.access_key_id, secret=USER.secret_access_key)).code == \
        "InvalidClientTokenId"
