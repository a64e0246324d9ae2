"""Query-string authentication (presigned URLs) and browser POST uploads (POST policies).

- :func:`verify_presigned_url`: SigV4 (``X-Amz-Algorithm=AWS4-HMAC-SHA256`` …) and SigV2
  (``AWSAccessKeyId``/``Expires``/``Signature``) query authentication. Expiry is always checked;
  the signature is checked when the secret key of the access key is known (``secret_for``
  returns None for unknown keys).
- :func:`parse_form`: a ``multipart/form-data`` body → fields and the file part.
- :func:`verify_post_policy`: the policy document's expiry, signature and conditions.

Errors are :class:`~tsunagi.protocol.errors.ServiceError` with S3's codes: ``AccessDenied``
("Request has expired", "Invalid according to Policy: …"), ``SignatureDoesNotMatch``,
``AuthorizationQueryParametersError``, ``MalformedPOSTRequest``.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest

SecretLookup = Callable[[str], str | None]

MAX_EXPIRES = 604_800   # seven days

_SIG_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                 "Check your key and signing method.")


def _amz_time(value: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise ServiceError(f"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got {value}",
                           code="AuthorizationQueryParametersError", status=400) from None


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def is_presigned(request: HttpRequest) -> bool:
    q = request.query
    return bool(q) and ("X-Amz-Signature=" in q or ("Signature=" in q and "AWSAccessKeyId=" in q))


def verify_presigned_url(request: HttpRequest, now: float, secret_for: SecretLookup,
                         vhost_bucket: str | None = None) -> None:
    """Check a presigned URL; returns quietly when it is valid (or not presigned at all).
    ``vhost_bucket`` is the bucket named by the Host header (SigV2 signs ``/bucket/key``)."""
    params: dict[str, str] = {}
    for k, v in request.query_params():
        params.setdefault(k, v)
    if "X-Amz-Signature" in params or "X-Amz-Algorithm" in params:
        _verify_v4(request, params, now, secret_for)
    elif "Signature" in params and "AWSAccessKeyId" in params:
        _verify_v2(request, params, now, secret_for, vhost_bucket)
    else:
        return
    _hoist_headers(request)


_AUTH_PARAMS = frozenset({"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
                          "x-amz-signedheaders", "x-amz-signature", "x-amz-security-token"})


def _query_headers(request: HttpRequest) -> list[tuple[str, str]]:
    """Headers a presigned URL carries in its query (SDKs move ``x-amz-meta-*``, ``x-amz-acl``… there)."""
    return [(k.lower(), v) for k, v in request.query_params()
            if k.lower().startswith("x-amz-") and k.lower() not in _AUTH_PARAMS]


def _hoist_headers(request: HttpRequest) -> None:
    """A valid presigned URL's header parameters count as the request's headers (S3 keeps
    ``x-amz-meta-*`` given that way as the object's metadata); a real header wins."""
    for k, v in _query_headers(request):
        request.headers.setdefault(k, v)


def _verify_v4(request: HttpRequest, params: dict[str, str], now: float, secret_for: SecretLookup) -> None:
    for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                 "X-Amz-Signature"):
        if name not in params:
            raise ServiceError("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                               "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                               "X-Amz-Expires parameters.", code="AuthorizationQueryParametersError", status=400)
    if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
        raise ServiceError("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
                           code="AuthorizationQueryParametersError", status=400)
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        raise ServiceError("X-Amz-Expires should be a number", code="AuthorizationQueryParametersError",
                           status=400) from None
    if expires < 0:
        raise ServiceError("X-Amz-Expires must be non-negative", code="AuthorizationQueryParametersError",
                           status=400)
    if expires > MAX_EXPIRES:
        raise ServiceError("X-Amz-Expires must be less than a week (in seconds) that is 604800",
                           code="AuthorizationQueryParametersError", status=400)
    signed_at = _amz_time(params["X-Amz-Date"])
    if now > signed_at + expires:
        expired = ServiceError("Request has expired", code="AccessDenied", status=403)
        expired.fields.update({"X-Amz-Expires": str(expires), "Expires": _iso(signed_at + expires),
                               "ServerTime": _iso(now)})
        raise expired
    cred = params["X-Amz-Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise ServiceError("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                           "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
                           code="AuthorizationQueryParametersError", status=400)
    access_key, date, region, service, _ = cred
    secret = secret_for(access_key)
    if secret is None:
        return
    signed_headers = params["X-Amz-SignedHeaders"]
    header_lines = []
    for name in signed_headers.split(";"):
        value = request.headers.get(name.lower(), "")
        header_lines.append(f"{name.lower()}:{' '.join(value.split())}\n")
    query = sorted((_uri_encode(k), _uri_encode(v)) for k, v in request.query_params() if k != "X-Amz-Signature")
    canonical_query = "&".join(f"{k}={v}" for k, v in query)
    payload = params.get("X-Amz-Content-Sha256") or request.headers.get("x-amz-content-sha256") or "UNSIGNED-PAYLOAD"
    canonical = "\n".join([request.method.upper(), request.path or "/", canonical_query, "".join(header_lines),
                           signed_headers, payload])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode("utf-8"),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"].lower()):
        raise ServiceError(_SIG_MISMATCH, code="SignatureDoesNotMatch", status=403, AWSAccessKeyId=access_key,
                           StringToSign=to_sign, SignatureProvided=params["X-Amz-Signature"],
                           CanonicalRequest=canonical)


_V2_SUBRESOURCES = frozenset({
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
    "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore", "tagging", "torrent",
    "uploadId", "uploads", "versionId", "versioning", "versions", "website", "encryption", "publicAccessBlock"})


def _verify_v2(request: HttpRequest, params: dict[str, str], now: float, secret_for: SecretLookup,
               vhost_bucket: str | None) -> None:
    try:
        expires = int(params.get("Expires", "0"))
    except ValueError:
        raise ServiceError("Invalid Expires value", code="AccessDenied", status=403) from None
    if now > expires:
        raise ServiceError("Request has expired", code="AccessDenied", status=403,
                           Expires=_iso(expires), ServerTime=_iso(now))
    access_key = params["AWSAccessKeyId"]
    secret = secret_for(access_key)
    if secret is None:
        return
    amz_headers = {k: v.strip() for k, v in request.headers.items() if k.startswith("x-amz-")}
    for k, v in _query_headers(request):     # signed as headers, sent in the query
        amz_headers.setdefault(k, v.strip())
    amz = sorted(amz_headers.items())
    resource = request.path or "/"
    if vhost_bucket:
        resource = f"/{vhost_bucket}{resource}"
    subs = sorted((k, v) for k, v in request.query_params() if k in _V2_SUBRESOURCES)
    if subs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)
    to_sign = "\n".join([request.method.upper(), request.headers.get("content-md5", ""),
                         request.headers.get("content-type", ""), str(expires)]) + "\n" + \
        "".join(f"{k}:{v}\n" for k, v in amz) + resource
    expected = base64.b64encode(hmac.new(secret.encode(), to_sign.encode("utf-8"), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, params["Signature"]):
        raise ServiceError(_SIG_MISMATCH, code="SignatureDoesNotMatch", status=403, AWSAccessKeyId=access_key,
                           StringToSign=to_sign, SignatureProvided=params["Signature"])


# ---------------------------------------------------------------------------------------------------
# POST uploads


@dataclass(slots=True)
class FormFile:
    """The file part of a browser-form upload."""

    filename: str
    content_type: str | None
    data: bytes


_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


def _header_params(value: str) -> dict[str, str]:
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) or ""
            for m in _PARAM.finditer(value)}


def _malformed(message: str = "The body of your POST request is not well-formed multipart/form-data.") \
        -> ServiceError:
    return ServiceError(message, code="MalformedPOSTRequest", status=400)


def parse_form(body: bytes, content_type: str) -> tuple[dict[str, str], FormFile | None]:
    """Fields (names lower-cased, first value wins) and the ``file`` part of a multipart/form-data body."""
    boundary = _header_params(content_type).get("boundary")
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise _malformed()
    delim = b"--" + boundary.encode("latin-1")
    pieces = body.split(delim)
    if len(pieces) < 2:
        raise _malformed()
    fields: dict[str, str] = {}
    file: FormFile | None = None
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        if piece.endswith(b"\r\n"):
            piece = piece[:-2]
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            raise _malformed()
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        dparams = _header_params(";" + disposition.partition(";")[2]) if ";" in disposition else {}
        field = dparams.get("name")
        if field is None:
            continue
        if field.lower() == "file":
            file = FormFile(dparams.get("filename", ""), headers.get("content-type"), data)
            break      # S3 ignores everything after the file
        fields.setdefault(field.lower(), data.decode("utf-8", "replace"))
    return fields, file


def verify_post_policy(fields: dict[str, str], bucket: str, size: int, now: float,
                       secret_for: SecretLookup) -> dict[str, Any] | None:
    """Check a POST upload's policy (expiry, signature, conditions); returns the decoded policy
    (None for an anonymous upload without one)."""
    policy_b64 = fields.get("policy")
    if not policy_b64:
        return None
    try:
        policy = orjson.loads(base64.b64decode(policy_b64))
    except Exception:
        raise ServiceError("Invalid Policy: Invalid JSON.", code="InvalidPolicyDocument", status=400) from None
    if not isinstance(policy, dict) or "expiration" not in policy:
        raise ServiceError("Invalid Policy: Policy missing expiration.", code="InvalidPolicyDocument", status=400)
    try:
        expiration = calendar.timegm(time.strptime(str(policy["expiration"])[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise ServiceError("Invalid Policy: Invalid 'expiration' value.", code="InvalidPolicyDocument",
                           status=400) from None
    if now > expiration:
        raise ServiceError("Invalid according to Policy: Policy expired.", code="AccessDenied", status=403)
    # signature
    if "x-amz-signature" in fields:
        cred = fields.get("x-amz-credential", "").split("/")
        if len(cred) != 5:
            raise ServiceError("Invalid according to Policy: Policy Condition failed: x-amz-credential",
                               code="AccessDenied", status=403)
        secret = secret_for(cred[0])
        if secret is not None:
            expected = hmac.new(signing_key(secret, cred[1], cred[2], cred[3]), policy_b64.encode(),
                                hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, fields["x-amz-signature"].lower()):
                raise ServiceError(_SIG_MISMATCH, code="SignatureDoesNotMatch", status=403,
                                   AWSAccessKeyId=cred[0], StringToSign=policy_b64,
                                   SignatureProvided=fields["x-amz-signature"])
    elif "signature" in fields and "awsaccesskeyid" in fields:
        secret = secret_for(fields["awsaccesskeyid"])
        if secret is not None:
            expected = base64.b64encode(hmac.new(secret.encode(), policy_b64.encode(), hashlib.sha1).digest()).decode()
            if not hmac.compare_digest(expected, fields["signature"]):
                raise ServiceError(_SIG_MISMATCH, code="SignatureDoesNotMatch", status=403,
                                   AWSAccessKeyId=fields["awsaccesskeyid"], StringToSign=policy_b64,
                                   SignatureProvided=fields["signature"])
    # conditions
    values = {**fields, "bucket": bucket}
    covered = {"bucket"}
    for cond in policy.get("conditions", []):
        covered.add(_check_condition(cond, values, size))
    exempt = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}
    extra = [k for k in fields if k not in covered and k not in exempt and not k.startswith("x-ignore-")]
    if extra:
        raise ServiceError(f"Invalid according to Policy: Extra input fields: {extra[0]}", code="AccessDenied",
                           status=403)
    return policy


def _failed(cond: Any) -> ServiceError:
    return ServiceError(f"Invalid according to Policy: Policy Condition failed: {orjson.dumps(cond).decode()}",
                        code="AccessDenied", status=403)


def _check_condition(cond: Any, values: dict[str, str], size: int) -> str:
    """Check one condition; returns the (lower-cased) field it covers."""
    if isinstance(cond, dict):
        if len(cond) != 1:
            raise _failed(cond)
        (name, expected), = cond.items()
        field = name.lower().lstrip("$")
        if values.get(field) != str(expected):
            raise _failed(cond)
        return field
    if isinstance(cond, list) and len(cond) == 3:
        op = str(cond[0]).lower()
        if op == "content-length-range":
            try:
                lo, hi = int(cond[1]), int(cond[2])
            except (TypeError, ValueError):
                raise _failed(cond) from None
            if not lo <= size <= hi:
                what = "small" if size < lo else "large"
                wrong_size = ServiceError(
                    f"Your proposed upload is {'smaller' if what == 'small' else 'larger'} "
                    f"than the {'minimum' if what == 'small' else 'maximum'} allowed size",
                    code="EntityTooSmall" if what == "small" else "EntityTooLarge", status=400,
                    ProposedSize=str(size))
                if what == "small":
                    wrong_size.fields["MinSizeAllowed"] = str(lo)
                else:
                    wrong_size.fields["MaxSizeAllowed"] = str(hi)
                raise wrong_size
            return "content-length-range"
        field = str(cond[1]).lower().lstrip("$")
        actual = values.get(field, "")
        if op == "eq":
            ok = actual == str(cond[2])
        elif op == "starts-with":
            prefix = str(cond[2])
            if field == "content-type":
                ok = all(part.strip().startswith(prefix) for part in actual.split(","))
            else:
                ok = actual.startswith(prefix)
        else:
            raise _failed(cond)
        if not ok:
            raise _failed(cond)
        return field
    raise _failed(cond)
