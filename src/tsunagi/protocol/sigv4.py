"""AWS Signature Version 4 as AWS checks it (``--auth strict``): pure functions, no I/O.

- :func:`read_signature`: what a request's ``Authorization`` header or presigned query
  (``X-Amz-Algorithm=AWS4-HMAC-SHA256&…``) says: key, scope, signed headers, signature, token.
- :func:`expected_signature`: the canonical request, the string to sign and the signature the
  request should carry, given the secret's signing key.
- :class:`SigningKeys`: signing keys derived once per (secret, date, region, service).
- :class:`ChunkSignatures`: the chunk signatures of a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` body
  (aws-chunked), checked as the body passes, each chained to the one before.
- :class:`AuthFailure`: why a request was refused; :meth:`AuthFailure.error` words it the way the
  service's protocol does (query ``SignatureDoesNotMatch``, json ``InvalidSignatureException``,
  S3's ``<Error>`` with the canonical request, …).

The canonical request follows AWS's rules: the path as sent for S3, normalized and encoded once
more for every other service; query parameters decoded, encoded again (RFC 3986) and sorted;
signed headers lower-cased with their values trimmed and inner spaces folded; the payload's
SHA-256, or ``UNSIGNED-PAYLOAD`` / ``STREAMING-…`` as ``x-amz-content-sha256`` says.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_SECONDS = 900                  # 15 minutes either way
MAX_PRESIGN_SECONDS = 604_800           # a week
_MAX_CHUNK_LINE = 4096                  # an aws-chunked chunk header or trailer line
_MAX_TRAILERS = 32
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGNED_STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")


# -- failures ------------------------------------------------------------------------------------------

MISSING = "missing"                 # no signature at all
MALFORMED = "malformed"             # an Authorization header or presigned query that does not parse
UNSUPPORTED = "unsupported"         # another signing scheme (SigV2 headers) where only SigV4 is accepted
UNKNOWN_KEY = "unknown-key"         # no such access key (or an inactive one)
BAD_TOKEN = "bad-token"             # session token missing, wrong, or given for a long-term key
EXPIRED_TOKEN = "expired-token"     # temporary credentials past their expiry
MISMATCH = "mismatch"               # wrong secret, or the request changed after signing
SKEWED = "skewed"                   # X-Amz-Date more than 15 minutes from the server's clock
PRESIGN_EXPIRED = "presign-expired"  # an S3 presigned URL past X-Amz-Expires
CONTENT_SHA256 = "content-sha256"   # S3: the body's SHA-256 is not what x-amz-content-sha256 said

_QUERY_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                   "Secret Access Key and signing method. Consult the service documentation for details.")
_S3_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your key "
                "and signing method.")
_TOKEN_INVALID = "The security token included in the request is invalid."
_TOKEN_EXPIRED = "The security token included in the request is expired"


class AuthFailure(Exception):
    """A request whose signature does not hold. ``details`` carry what the error shows (times, the
    canonical request, the key id)."""

    def __init__(self, kind: str, message: str = "", **details: Any) -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.message = message
        self.details = details

    def error(self, protocol: str, service: str) -> ServiceError:
        """AWS's error for this failure, as ``service`` (speaking ``protocol``) words it."""
        if service == "s3":
            return self._s3_error()
        kind, d = self.kind, self.details
        json = protocol in ("json", "rest-json")
        # json services answer 400 (KMS, Logs); rest-json ones (Lambda) and SQS, whatever it speaks, 403
        status = 403 if protocol != "json" or service == "sqs" else 400
        if kind in (UNKNOWN_KEY, BAD_TOKEN):
            return _error(_TOKEN_INVALID, json, "UnrecognizedClientException", "InvalidClientTokenId", status)
        if kind == EXPIRED_TOKEN:
            return _error(_TOKEN_EXPIRED, json, "ExpiredTokenException", "ExpiredToken", status)
        if kind == MISMATCH:
            return _error(_QUERY_MISMATCH, json, "InvalidSignatureException", "SignatureDoesNotMatch", status)
        if kind in (SKEWED, PRESIGN_EXPIRED):
            return _error(_skew_message(d["request_time"], d["server_time"]), json, "InvalidSignatureException",
                          "SignatureDoesNotMatch", status)
        if kind == MISSING:
            return _error("Missing Authentication Token" if json else "Request is missing Authentication Token", json,
                          "MissingAuthenticationTokenException", "MissingAuthenticationToken", status)
        return _error(self.message, json, "IncompleteSignatureException", "IncompleteSignature", status)

    def _s3_error(self) -> ServiceError:
        kind, d = self.kind, self.details
        if kind == UNKNOWN_KEY:
            return ServiceError("The AWS Access Key Id you provided does not exist in our records.",
                                code="InvalidAccessKeyId", status=403, AWSAccessKeyId=d.get("access_key_id"))
        if kind == BAD_TOKEN:
            bad = ServiceError("The provided token is malformed or otherwise invalid.", code="InvalidToken",
                               status=400)
            bad.fields["Token-0"] = d.get("token")
            return bad
        if kind == EXPIRED_TOKEN:
            expired = ServiceError("The provided token has expired.", code="ExpiredToken", status=400)
            expired.fields["Token-0"] = d.get("token")
            return expired
        if kind == MISMATCH:
            fields = {"AWSAccessKeyId": d.get("access_key_id"), "StringToSign": d.get("string_to_sign"),
                      "SignatureProvided": d.get("signature")}
            if d.get("string_to_sign") is not None:
                fields["StringToSignBytes"] = _spaced_hex(d["string_to_sign"])
            if d.get("canonical_request") is not None:
                fields["CanonicalRequest"] = d["canonical_request"]
                fields["CanonicalRequestBytes"] = _spaced_hex(d["canonical_request"])
            return ServiceError(_S3_MISMATCH, code="SignatureDoesNotMatch", status=403, **fields)
        if kind == SKEWED:
            return ServiceError("The difference between the request time and the current time is too large.",
                                code="RequestTimeTooSkewed", status=403, RequestTime=d["request_time_raw"],
                                ServerTime=_iso(d["server_time"]), MaxAllowedSkewMilliseconds="900000")
        if kind == PRESIGN_EXPIRED:
            expired = ServiceError("Request has expired", code="AccessDenied", status=403)
            expired.fields.update({"X-Amz-Expires": str(d["expires"]), "Expires": _iso(d["request_time"] + d["expires"]),
                                   "ServerTime": _iso(d["server_time"])})
            return expired
        if kind == CONTENT_SHA256:
            return ServiceError("The provided 'x-amz-content-sha256' header does not match what was computed.",
                                code="XAmzContentSHA256Mismatch", status=400,
                                ClientComputedContentSHA256=d.get("claimed"), S3ComputedContentSHA256=d.get("actual"))
        if kind == MISSING:
            return ServiceError("Access Denied", code="AccessDenied", status=403)
        if kind == UNSUPPORTED:
            return ServiceError("The authorization mechanism you have provided is not supported. Please use "
                                "AWS4-HMAC-SHA256.", code="InvalidRequest", status=400)
        if d.get("presigned"):
            return ServiceError(self.message, code="AuthorizationQueryParametersError", status=400)
        return ServiceError(self.message, code="AuthorizationHeaderMalformed", status=400)


def _error(message: str, json: bool, json_code: str, query_code: str, status: int) -> ServiceError:
    if json:
        return ServiceError(message, code=json_code, query_code=query_code, status=status)
    return ServiceError(message, code=query_code, status=status)


def _spaced_hex(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8"))


def _amz(t: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _skew_message(request_time: float, now: float) -> str:
    if request_time < now:
        return (f"Signature expired: {_amz(request_time)} is now earlier than {_amz(now - MAX_SKEW_SECONDS)} "
                f"({_amz(now)} - 15 min.)")
    return (f"Signature not yet current: {_amz(request_time)} is still later than {_amz(now + MAX_SKEW_SECONDS)} "
            f"({_amz(now)} + 15 min.)")


# -- what the request says -------------------------------------------------------------------------------

@dataclass(slots=True)
class Signature:
    """What a SigV4 ``Authorization`` header (or presigned query) says: the credential scope, the signed
    headers and the signature."""

    access_key_id: str
    date: str                       # the scope's YYYYMMDD
    region: str
    service: str
    signed_headers: str             # "host;x-amz-date"
    signature: str
    amz_date: str                   # X-Amz-Date as sent
    presigned: bool
    expires: int | None = None      # X-Amz-Expires of a presigned request
    token: str | None = None        # X-Amz-Security-Token
    v2: bool = False                # an S3 SigV2 presigned URL (AWSAccessKeyId, Signature, Expires)

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


_DAY_STARTS: dict[str, int] = {}
_LAST_DATE: list[Any] = ["", 0.0]      # the last X-Amz-Date read and its seconds (requests come in bursts)


def _parse_amz_date(value: str, presigned: bool) -> float:
    """``20270115T080000Z`` as seconds since the epoch (the day's start is remembered: strptime
    costs more than the rest of a signature check)."""
    last = _LAST_DATE
    if value == last[0]:
        return float(last[1])
    try:
        if len(value) != 16 or value[8] != "T" or value[15] != "Z":
            raise ValueError(value)
        day = value[:8]
        start = _DAY_STARTS.get(day)
        if start is None:
            start = calendar.timegm(time.strptime(day, "%Y%m%d"))
            if len(_DAY_STARTS) > 64:
                _DAY_STARTS.clear()
            _DAY_STARTS[day] = start
        h, m, sec = int(value[9:11]), int(value[11:13]), int(value[13:15])
        if h > 23 or m > 59 or sec > 60 or not value[9:15].isdigit():
            raise ValueError(value)
        seconds = float(start + h * 3600 + m * 60 + sec)
        last[0], last[1] = value, seconds
        return seconds
    except ValueError:
        raise AuthFailure(MALFORMED, f"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", "
                                     f"got {value}", presigned=presigned) from None


def _parse_http_date(value: str) -> str | None:
    try:
        return _amz(calendar.timegm(time.strptime(value.strip(), "%a, %d %b %Y %H:%M:%S GMT")))
    except ValueError:
        return None


_AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
                      r"SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-fA-F]{64})\s*$")


def read_signature(request: HttpRequest) -> Signature | None:
    """The SigV4 signature a request carries, None when it carries none; :class:`AuthFailure` when
    what it carries does not parse (or is SigV2, which strict mode does not accept)."""
    headers = request.headers
    auth = headers.get("authorization")
    if auth:
        m = _AUTH_RE.match(auth)
        if m is not None:       # the form every SDK sends
            amz_date = headers.get("x-amz-date") or _parse_http_date(headers.get("date", "")) or ""
            if amz_date:
                return Signature(m.group(1), m.group(2), m.group(3), m.group(4), m.group(5), m.group(6), amz_date,
                                 False, None, headers.get("x-amz-security-token"))
        if not auth.startswith(ALGORITHM + " "):
            if auth.startswith("AWS "):
                raise AuthFailure(UNSUPPORTED, "SigV2 request")
            raise AuthFailure(MALFORMED, f"Unsupported Authorization Type: {auth.split(' ', 1)[0][:64]}")
        fields: dict[str, str] = {}
        for part in auth[len(ALGORITHM) + 1:].split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name] = value
        for name in ("Credential", "SignedHeaders", "Signature"):
            if name not in fields:
                raise AuthFailure(MALFORMED, f"Authorization header requires '{name}' parameter. Authorization "
                                             f"header requires existence of either a 'X-Amz-Date' or a 'Date' "
                                             f"header. Authorization={auth[:256]}")
        cred = fields["Credential"].split("/")
        if len(cred) != 5 or cred[4] != "aws4_request":
            raise AuthFailure(MALFORMED, "The authorization header is malformed; the Credential is mal-formed; "
                                         "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
        amz_date = headers.get("x-amz-date") or _parse_http_date(headers.get("date", "")) or ""
        if not amz_date:
            raise AuthFailure(MALFORMED, "Authorization header requires existence of either a 'X-Amz-Date' or a "
                                         "'Date' header.")
        return Signature(cred[0], cred[1], cred[2], cred[3], fields["SignedHeaders"], fields["Signature"], amz_date,
                         False, None, headers.get("x-amz-security-token"))
    query = request.query
    if not query or "X-Amz-" not in query:
        if query and "AWSAccessKeyId=" in query and "Signature=" in query:
            # SigV2 query authentication: what boto3 presigns S3 URLs with unless told s3v4; the
            # caller checks it (:func:`tsunagi.protocol.presign.verify_presigned_url`)
            v2 = dict(request.query_params())
            return Signature(v2.get("AWSAccessKeyId", ""), "", "", "s3", "", v2.get("Signature", ""), "", True,
                             None, v2.get("x-amz-security-token") or headers.get("x-amz-security-token"), v2=True)
        return None
    params: dict[str, str] = {}
    for k, v in request.query_params():
        params.setdefault(k, v)
    if "X-Amz-Algorithm" not in params and "X-Amz-Signature" not in params:
        return None
    for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"):
        if name not in params:
            raise AuthFailure(MALFORMED, "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                                         "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                                         "X-Amz-Expires parameters.", presigned=True)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthFailure(MALFORMED, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"", presigned=True)
    expires: int | None = None
    if "X-Amz-Expires" in params:
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise AuthFailure(MALFORMED, "X-Amz-Expires should be a number", presigned=True) from None
        if expires < 0:
            raise AuthFailure(MALFORMED, "X-Amz-Expires must be non-negative", presigned=True)
        if expires > MAX_PRESIGN_SECONDS:
            raise AuthFailure(MALFORMED, "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                              presigned=True)
    cred = params["X-Amz-Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthFailure(MALFORMED, "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                                     "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".", presigned=True)
    return Signature(cred[0], cred[1], cred[2], cred[3], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"],
                     params["X-Amz-Date"], True, expires, params.get("X-Amz-Security-Token"))


def check_time(sig: Signature, now: float, s3: bool) -> None:
    """The request's time against the server's: 15 minutes either way, or an S3 presigned URL's
    X-Amz-Expires (other services hold presigned requests to the 15 minutes, as AWS does)."""
    if sig.v2:
        return      # Expires is checked with the signature
    signed_at = _parse_amz_date(sig.amz_date, sig.presigned)
    if sig.presigned and s3:
        if sig.expires is None:
            raise AuthFailure(MALFORMED, "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                                         "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                                         "X-Amz-Expires parameters.", presigned=True)
        if now > signed_at + sig.expires:
            raise AuthFailure(PRESIGN_EXPIRED, request_time=signed_at, expires=sig.expires, server_time=now)
        if signed_at - now > MAX_SKEW_SECONDS:
            raise AuthFailure(SKEWED, request_time=signed_at, request_time_raw=sig.amz_date, server_time=now)
        return
    if abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise AuthFailure(SKEWED, request_time=signed_at, request_time_raw=sig.amz_date, server_time=now)


# -- keys ------------------------------------------------------------------------------------------------

_SHA256 = hashlib.sha256()     # copied, not made by name: OpenSSL 3 looks an algorithm up on every new hash


def _small_sha256() -> hashlib._Hash:
    """CPython's own SHA-256 (``_sha2`` since 3.12, ``_sha256`` before), for the short inputs of a
    signature check (the canonical request, the string to sign, small bodies): copying one is a
    memcpy, where every OpenSSL copy, digest and hexdigest allocates a context and goes through its
    provider; in a server, between other requests, that path is cold and costs several times what a
    loop shows. OpenSSL's hash where neither module exists."""
    for name in ("_sha2", "_sha256"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        maker = getattr(module, "sha256", None)
        if maker is not None:
            return maker()  # type: ignore[no-any-return]
    return hashlib.sha256()


_SHORT = _small_sha256()
_SHORT_BODY = 2048              # bodies up to this many bytes hashed with _SHORT, longer ones with OpenSSL's


def sha256_hex(data: bytes) -> str:
    h = _SHA256.copy()
    h.update(data)
    return h.hexdigest()


class Mac:
    """HMAC-SHA256 under one signing key, its inner and outer pads hashed once: each signature then
    costs two hash copies (``hmac.digest`` has OpenSSL 3 look the algorithm up on every call, which
    costs more than the rest of a signature check)."""

    __slots__ = ("key", "_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        self.key = key
        block = key.ljust(64, b"\0")
        self._inner = _SHORT.copy()
        self._inner.update(bytes(b ^ 0x36 for b in block))
        self._outer = _SHORT.copy()
        self._outer.update(bytes(b ^ 0x5C for b in block))

    def hex(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class SigningKeys:
    """Signing keys by (secret, date, region, service): four HMACs once, then a dict lookup."""

    def __init__(self, size: int = 4096) -> None:
        self._keys: dict[tuple[str, str, str, str], Mac] = {}
        self._size = size

    def get(self, secret: str, date: str, region: str, service: str) -> Mac:
        key = (secret, date, region, service)
        found = self._keys.get(key)
        if found is None:
            found = Mac(derive_key(secret, date, region, service))
            if len(self._keys) >= self._size:
                self._keys.clear()
            self._keys[key] = found
        return found


def derive_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = hmac.digest(("AWS4" + secret).encode("utf-8"), date.encode("utf-8"), "sha256")
    k = hmac.digest(k, region.encode("utf-8"), "sha256")
    k = hmac.digest(k, service.encode("utf-8"), "sha256")
    return hmac.digest(k, b"aws4_request", "sha256")


# -- the canonical request ------------------------------------------------------------------------------

_UNRESERVED = "-_.~"


def _normalized_path(path: str) -> str:
    """RFC 3986 dot segments removed and empty segments dropped, then encoded again (every service
    but S3 signs the path encoded twice)."""
    if not path or path == "/":
        return "/"
    if "/." in path or "//" in path:
        out: list[str] = []
        for seg in path.split("/"):
            if not seg or seg == ".":
                continue
            if seg == "..":
                if out:
                    out.pop()
            else:
                out.append(seg)
        norm = "/" + "/".join(out)
        if path.endswith("/") and out:
            norm += "/"
        path = norm
    if _PLAIN_PATH.fullmatch(path):
        return path
    return quote(path, safe="/~")


_PLAIN_PATH = re.compile(r"[A-Za-z0-9/_.~-]*")


def canonical_query(query: str, drop_signature: bool) -> str:
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name:
            name = unquote(name)
        if drop_signature and name == "X-Amz-Signature":
            continue
        if "%" in value:
            value = unquote(value)
        pairs.append((quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED)))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(request: HttpRequest, sig: Signature, payload_hash: str, s3: bool) -> str:
    headers = request.headers
    lines = []
    for name in sig.signed_headers.split(";"):
        value = headers.get(name)
        if value is None:
            value = ""
        elif "  " in value or "\t" in value or value[:1] == " " or value[-1:] == " ":
            value = " ".join(value.split())
        lines.append(f"{name}:{value}\n")
    path = (request.path or "/") if s3 else _normalized_path(request.path)
    return "\n".join((request.method, path, canonical_query(request.query, sig.presigned), "".join(lines),
                      sig.signed_headers, payload_hash))


def payload_hash(request: HttpRequest, sig: Signature, s3: bool) -> str:
    """What the canonical request names as the payload: S3's ``x-amz-content-sha256`` (required on
    header-signed S3 requests), ``UNSIGNED-PAYLOAD`` for S3 presigned URLs, else the body's SHA-256."""
    claimed = request.headers.get("x-amz-content-sha256")
    if s3:
        if claimed:
            return claimed
        if sig.presigned:
            return UNSIGNED_PAYLOAD
        raise AuthFailure(MALFORMED, "Missing required header for this request: x-amz-content-sha256")
    if claimed and (claimed == UNSIGNED_PAYLOAD or claimed.startswith("STREAMING-")):
        return claimed
    body = request.body
    return sha256_hex(body) if body else EMPTY_SHA256


def verify(request: HttpRequest, sig: Signature, key: Mac, s3: bool) -> str:
    """Check the signature with ``key`` (the signing key of the credential's secret and scope);
    returns the payload hash the request was signed with. :class:`AuthFailure` when it does not hold."""
    payload = payload_hash(request, sig, s3)
    canonical = canonical_request(request, sig, payload, s3)
    to_sign = f"{ALGORITHM}\n{sig.amz_date}\n{sig.scope}\n{sha256_hex(canonical.encode('utf-8'))}"
    expected = key.hex(to_sign.encode("utf-8"))
    if not hmac.compare_digest(expected, sig.signature.lower()):
        raise AuthFailure(MISMATCH, access_key_id=sig.access_key_id, string_to_sign=to_sign,
                          signature=sig.signature, canonical_request=canonical)
    if s3 and len(payload) == 64 and not request.stream:
        actual = sha256_hex(request.body)
        if actual != payload:
            raise AuthFailure(CONTENT_SHA256, claimed=payload, actual=actual)
    return payload


_PREFIX = "AWS4-HMAC-SHA256 Credential="


def split_authorization(value: str) -> tuple[str, str, str] | None:
    """``(AKID/date/region/service, signed headers, signature)`` of an ``Authorization`` header in the
    exact form SDKs send, None for any other (:func:`read_signature` reads those)."""
    if not value.startswith(_PREFIX):
        return None
    parts = value[28:].split(", ")
    if len(parts) != 3:
        return None
    cred, signed, signature = parts
    if not (cred.endswith("/aws4_request") and signed.startswith("SignedHeaders=")
            and signature.startswith("Signature=")):
        return None
    return cred[:-13], signed[14:], signature[10:]


def amz_seconds(value: str) -> float | None:
    """An ``X-Amz-Date`` as seconds since the epoch; None when it does not parse."""
    try:
        return _parse_amz_date(value, False)
    except AuthFailure:
        return None


def header_signature_holds(request: HttpRequest, names: tuple[str, ...], amz_date: str, scope: str, signature: str,
                           key: Mac, signed_headers: str) -> bool:
    """Whether a header-signed request of a service other than S3 carries the signature ``key``
    makes of it (``names``: the signed headers, ``signed_headers`` as the header lists them): the
    common case in as few steps as it takes. False sends the request the long way (:func:`verify`),
    which also says what is wrong."""
    headers = request.headers
    try:
        block = "".join([f"{name}:{headers[name]}\n" for name in names])
    except KeyError:
        return False
    if "  " in block or "\t" in block or ": " in block or " \n" in block:     # a value to fold: rarely
        block = "".join([f"{name}:{' '.join(headers[name].split())}\n" for name in names])
    path = request.path
    if path != "/":
        path = _normalized_path(path)
    query = request.query
    body = request.body
    if body:
        h = _SHORT.copy() if len(body) <= _SHORT_BODY else _SHA256.copy()
        h.update(body)
        payload = h.hexdigest()
    else:
        payload = EMPTY_SHA256
    h = _SHORT.copy()
    h.update(f"{request.method}\n{path}\n{canonical_query(query, False) if query else ''}\n{block}\n"
             f"{signed_headers}\n{payload}".encode())
    inner = key._inner.copy()           # the HMAC of the string to sign (Mac.hex, without its call)
    inner.update(f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{h.hexdigest()}".encode())
    outer = key._outer.copy()
    outer.update(inner.digest())
    return hmac.compare_digest(outer.hexdigest(), signature)


def sign_policy(key: Mac, policy_b64: str) -> str:
    """The signature of an S3 POST policy (the base64 policy document is the string to sign)."""
    return key.hex(policy_b64.encode("utf-8"))


# -- aws-chunked bodies ------------------------------------------------------------------------------------

class ChunkSignatures:
    """Checks a ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`` body as it passes: each chunk's
    ``chunk-signature`` signs the chunk's SHA-256 chained to the previous signature (the request's
    own signature seeds the chain); with ``-TRAILER`` the trailing headers carry
    ``x-amz-trailer-signature``. Only reads the framing (S3's decoder turns it into the payload)."""

    _HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self, key: Mac, amz_date: str, scope: str, seed: str, access_key_id: str) -> None:
        self._key = key
        self._prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n"
        self._trailer_prefix = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n"
        self._previous = seed.lower()
        self._akid = access_key_id
        self._buf = bytearray()
        self._state = self._HEADER
        self._remaining = 0
        self._claimed = ""
        self._hash = _SHA256.copy()
        self._trailers: list[bytes] = []
        self._trailer_signature: str | None = None

    def _check(self, to_sign: str, claimed: str) -> None:
        expected = self._key.hex(to_sign.encode("utf-8"))
        if not hmac.compare_digest(expected, claimed.lower()):
            raise AuthFailure(MISMATCH, access_key_id=self._akid, string_to_sign=to_sign, signature=claimed)
        self._previous = expected

    def _end_chunk(self) -> None:
        self._check(f"{self._prefix}{self._previous}\n{EMPTY_SHA256}\n{self._hash.hexdigest()}", self._claimed)

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while buf:
            state = self._state
            if state == self._DATA:
                n = min(self._remaining, len(buf))
                self._hash.update(buf[:n])
                del buf[:n]
                self._remaining -= n
                if self._remaining == 0:
                    self._state = self._DATA_END
                continue
            if state == self._DONE:
                buf.clear()
                return
            if state == self._DATA_END:
                if len(buf) < 2:
                    return
                del buf[:2]
                self._end_chunk()
                self._state = self._HEADER
                continue
            i = buf.find(b"\r\n", 0, _MAX_CHUNK_LINE + 2)
            if i < 0:
                if len(buf) > _MAX_CHUNK_LINE:     # no line is this long: the body is not aws-chunked framing
                    raise AuthFailure(MISMATCH, access_key_id=self._akid, string_to_sign=None,
                                      signature="(an aws-chunked line longer than 4096 bytes)")
                return
            line = bytes(buf[:i])
            del buf[:i + 2]
            if state == self._HEADER:
                size_part, _, ext = line.partition(b";")
                name, _, value = ext.partition(b"=")
                if name.strip() != b"chunk-signature":
                    raise AuthFailure(MISMATCH, access_key_id=self._akid, string_to_sign=None,
                                      signature="(a chunk without chunk-signature)")
                try:
                    size = int(size_part.strip(), 16)
                except ValueError:
                    return      # not aws-chunked framing: S3's decoder refuses the body
                self._claimed = value.strip().decode("latin-1")
                self._hash = _SHA256.copy()
                if size == 0:
                    self._end_chunk()
                    self._state = self._TRAILER
                else:
                    self._remaining = size
                    self._state = self._DATA
            else:   # trailers, until a blank line
                if not line.strip():
                    self._end_trailers()
                    self._state = self._DONE
                    continue
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"x-amz-trailer-signature":
                    self._trailer_signature = value.strip().decode("latin-1")
                else:
                    if len(self._trailers) >= _MAX_TRAILERS:
                        raise AuthFailure(MISMATCH, access_key_id=self._akid, string_to_sign=None,
                                          signature=f"(more than {_MAX_TRAILERS} aws-chunked trailers)")
                    self._trailers.append(name.strip().lower() + b":" + value.strip() + b"\n")

    def _end_trailers(self) -> None:
        if self._trailer_signature is not None:
            digest = sha256_hex(b"".join(self._trailers))
            self._check(f"{self._trailer_prefix}{self._previous}\n{digest}", self._trailer_signature)
        elif self._trailers:
            raise AuthFailure(MISMATCH, access_key_id=self._akid, string_to_sign=None,
                              signature="(trailers without x-amz-trailer-signature)")

    def close(self) -> None:
        if self._state == self._TRAILER and not self._buf:
            self._end_trailers()
            self._state = self._DONE
