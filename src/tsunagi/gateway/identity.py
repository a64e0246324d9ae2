"""Who is asking: the access key, region and signing service from a SigV4 (or SigV2) request.

Signature verification is the authenticator's job. :class:`Authenticator` (``--auth open``) accepts
every request and only reads the credential, as local AWS endpoints conventionally do.
:class:`StrictAuthenticator` (``--auth strict``) verifies every request's SigV4 signature
(:mod:`tsunagi.protocol.sigv4`) against the key's secret from :class:`CredentialStore`: the root key
pair of the configuration, then IAM's keys (access keys, STS session credentials) through the IAM
port. The root key and recently used IAM keys are answered without awaiting anything, so the
authenticate step stays synchronous on the fast path.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import parse_qs

from tsunagi.context import Principal
from tsunagi.ports.iam import IAM, Credentials
from tsunagi.protocol import sigv4
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest, form_pairs
from tsunagi.protocol.parse import s3_bucket_from_host
from tsunagi.protocol.presign import verify_presigned_url
from tsunagi.protocol.sigv4 import AuthFailure, Signature

if TYPE_CHECKING:
    from tsunagi.clock import Clock
    from tsunagi.ports import Ports

_CRED_RE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")


def secret_for(access_key: str) -> str | None:
    """The secret of an access key, when tsunagi knows it: the local convention is that the default
    key ``test`` and the 12-digit account keys sign with ``test``. Other keys are unknown until IAM
    keeps credentials, so their signatures are not checked (expiry still is)."""
    if access_key == "test" or (len(access_key) == 12 and access_key.isdigit()):
        return "test"
    return None


@dataclass(slots=True)
class Credential:
    """The credential a request carries (what its signature names), before it is resolved to a principal."""

    access_key_id: str | None = None
    date: str | None = None
    region: str | None = None
    service: str | None = None      # the SigV4 signing name (e.g. "sqs", "execute-api")


def read_credential(request: HttpRequest) -> Credential:
    auth = request.headers.get("authorization")
    if auth:
        m = _CRED_RE.search(auth)
        if m:
            return Credential(m.group(1), m.group(2), m.group(3), m.group(4))
        if auth.startswith("AWS "):  # SigV2 header form "AWS AKID:signature"
            return Credential(auth[4:].split(":", 1)[0].strip())
    q = request.query
    if q and ("X-Amz-Credential" in q or "AWSAccessKeyId" in q):
        params = parse_qs(q)
        cred = params.get("X-Amz-Credential")
        if cred:
            parts = cred[0].split("/")
            if len(parts) >= 5:
                return Credential(parts[0], parts[1], parts[2], parts[3])
        akid = params.get("AWSAccessKeyId")
        if akid:
            return Credential(akid[0])
    return Credential()


AuthResult = Principal | Awaitable[Principal]


async def resolved(result: AuthResult) -> Principal:
    """The principal of an :meth:`Authenticator.authenticate` answer, awaited when it must be."""
    if isinstance(result, Principal):
        return result
    return await result


class Authenticator:
    """Decides who a request comes from. This one trusts the credential's key id (``--auth open``: any
    signature by any key is accepted); a request with no signature at all is anonymous, as on AWS
    (:mod:`tsunagi.gateway.anonymous` decides what it may reach)."""

    strict = False

    def __init__(self, default_account: str) -> None:
        self.default_account = default_account
        self._principals: dict[str | None, Principal] = {}   # key id -> its principal (immutable, shared)

    def account_for(self, access_key_id: str | None) -> str:
        if access_key_id and len(access_key_id) == 12 and access_key_id.isdigit():
            return access_key_id
        return self.default_account

    def authenticate(self, request: HttpRequest, cred: Credential, service: str | None = None,
                     protocol: str | None = None) -> AuthResult:
        """The principal (or an awaitable of it, when a key must be looked up); AWS's error, in the
        words of ``service`` speaking ``protocol``, when the request's signature does not hold."""
        key = cred.access_key_id
        principal = self._principals.get(key)
        if principal is None:
            if key is None and "authorization" not in request.headers:
                return unsigned(request, service, protocol)
            principal = Principal.root(self.account_for(key), key)
            if key is not None and len(self._principals) < 10_000:
                self._principals[key] = principal
        return principal


class CredentialStore:
    """The secret behind an access key: the root key pair, then IAM's keys through the IAM port
    (when IAM is served). What IAM answers is kept ``ttl`` seconds, so a busy key costs one lookup
    a second; a key deleted or made inactive stops working within that time (IAM's changes take a
    moment to reach every endpoint on AWS too). Unknown keys are not remembered: a key made a moment
    ago works at once."""

    def __init__(self, root: Credentials, ports: Ports | None, clock: Clock, ttl: float = 1.0,
                 size: int = 10_000) -> None:
        self.root = root
        self.ports = ports
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._cache: dict[str, tuple[float, Credentials]] = {}

    @classmethod
    def with_root(cls, account: str, access_key_id: str, secret: str, ports: Ports | None,
                  clock: Clock) -> CredentialStore:
        root = Credentials(access_key_id, secret, None, account, f"arn:aws:iam::{account}:root", account, None)
        return cls(root, ports, clock)

    def cached(self, access_key_id: str) -> Credentials | None:
        """The key's credentials when known without a lookup (the root key, a fresh cache entry)."""
        if access_key_id == self.root.access_key_id:
            return self.root
        hit = self._cache.get(access_key_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    async def fetch(self, access_key_id: str) -> Credentials | None:
        found = self.cached(access_key_id)
        if found is not None:
            return found
        iam = self.ports.find(IAM) if self.ports is not None else None
        if iam is None:
            return None
        found = await iam.credentials(access_key_id)
        if found is None:
            self._cache.pop(access_key_id, None)
            return None
        if len(self._cache) >= self.size:
            self._cache.clear()
        self._cache[access_key_id] = (time.monotonic() + self.ttl, found)
        return found


class StrictAuthenticator(Authenticator):
    """``--auth strict``: every request carries a valid SigV4 signature (header-signed or presigned)
    by a known, active key, with the session token of temporary credentials, within 15 minutes of
    the server's clock; signed aws-chunked bodies have every chunk's signature checked as they
    arrive, and S3 uploads whose ``x-amz-content-sha256`` names a digest have the body checked
    against it."""

    strict = True

    def __init__(self, default_account: str, credentials: CredentialStore, clock: Clock) -> None:
        super().__init__(default_account)
        self.credentials = credentials
        self.clock = clock
        self.keys = sigv4.SigningKeys()
        self._by_key: dict[str, tuple[Credentials, Principal]] = {}
        # an Authorization header up to its signature ("AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
        # Signature=") -> what it says, read once: a client sends the same one with each new signature
        self._schemes: dict[str, _Scheme] = {}
        self._last_date = ""
        self._last_seconds = 0.0

    def _scheme(self, auth: str) -> _Scheme | None:
        """What an SDK-form Authorization header says (its key known without a lookup, long-term and
        active), remembered by the header's text before the signature; None for anything else."""
        parts = sigv4.split_authorization(auth)
        if parts is None:
            return None
        scope_key, signed_headers, signature = parts
        if len(signature) != 64 or not auth.endswith(signature) or auth[-74:-64] != "Signature=":
            return None
        scope = scope_key.split("/")
        if len(scope) != 4:
            return None
        akid, date, region, service = scope
        found = self.credentials.cached(akid)
        if found is None or found.session_token is not None or not found.active:
            return None
        scheme = _Scheme(akid, found, self.keys.get(found.secret_access_key, date, region, service),
                         f"{date}/{region}/{service}/aws4_request", signed_headers, tuple(signed_headers.split(";")),
                         self._principal(found))
        if len(self._schemes) >= 4096:
            self._schemes.clear()
        self._schemes[auth[:-64]] = scheme
        return scheme

    def authenticate(self, request: HttpRequest, cred: Credential, service: str | None = None,
                     protocol: str | None = None) -> AuthResult:
        s3 = service == "s3"
        headers = request.headers
        auth = headers.get("authorization")
        if auth is not None and not s3 and "x-amz-security-token" not in headers \
                and "x-amz-content-sha256" not in headers:
            # the common case first: a header-signed request by a long-term key known without a lookup,
            # checked in as few steps as it takes; anything else, or a signature that does not hold, goes
            # the long way below, which says what is wrong
            amz_date = headers.get("x-amz-date")
            if amz_date is not None:
                scheme = self._schemes.get(auth[:-64])
                # the key's credentials as they are now (an IAM key's are refreshed every second)
                if scheme is None or self.credentials.cached(scheme.akid) is not scheme.found:
                    scheme = self._scheme(auth)
                if scheme is not None:
                    if amz_date == self._last_date:
                        signed_at: float | None = self._last_seconds
                    else:
                        signed_at = sigv4.amz_seconds(amz_date)
                        if signed_at is not None:
                            self._last_date, self._last_seconds = amz_date, signed_at
                    if signed_at is not None and abs(self.clock.now() - signed_at) <= sigv4.MAX_SKEW_SECONDS \
                            and sigv4.header_signature_holds(request, scheme.names, amz_date, scheme.scope,
                                                             auth[-64:], scheme.key, scheme.signed_headers):
                        return scheme.principal
        try:
            sig = sigv4.read_signature(request)
            if sig is None:
                return unsigned(request, service, protocol)
            sigv4.check_time(sig, self.clock.now(), s3)
            found = self.credentials.cached(sig.access_key_id)
            if found is None:
                return self._looked_up(request, sig, s3, service, protocol)
            return self._verify(request, sig, found, s3)
        except AuthFailure as failure:
            raise failure.error(protocol or "query", service or "") from None

    async def _looked_up(self, request: HttpRequest, sig: Signature, s3: bool, service: str | None,
                         protocol: str | None) -> Principal:
        try:
            found = await self.credentials.fetch(sig.access_key_id)
            if found is None:
                raise AuthFailure(sigv4.UNKNOWN_KEY, access_key_id=sig.access_key_id)
            return self._verify(request, sig, found, s3)
        except AuthFailure as failure:
            raise failure.error(protocol or "query", service or "") from None

    def _verify(self, request: HttpRequest, sig: Signature, found: Credentials, s3: bool) -> Principal:
        if not found.active:
            raise AuthFailure(sigv4.UNKNOWN_KEY, access_key_id=sig.access_key_id)
        if found.session_token is not None or sig.token is not None:
            self._check_token(found, sig.token)
        if sig.v2:
            if not s3:
                raise AuthFailure(sigv4.UNSUPPORTED, "SigV2 query authentication")
            secret = found.secret_access_key
            verify_presigned_url(request, self.clock.now(), lambda _: secret, s3_bucket_from_host(request.host))
            return self._principal(found)
        key = self.keys.get(found.secret_access_key, sig.date, sig.region, sig.service)
        payload = sigv4.verify(request, sig, key, s3)
        if payload in sigv4.SIGNED_STREAMING:
            self._check_chunks(request, sigv4.ChunkSignatures(key, sig.amz_date, sig.scope, sig.signature,
                                                              sig.access_key_id))
        elif s3 and len(payload) == 64 and request.stream is not None:
            request.stream.observe(_S3Observer(_DigestCheck(payload)))
        return self._principal(found)

    @staticmethod
    def _check_chunks(request: HttpRequest, chunks: sigv4.ChunkSignatures) -> None:
        if request.stream is not None:
            request.stream.observe(_S3Observer(chunks))
        else:
            whole = _S3Observer(chunks)
            whole.feed(request.body)
            whole.close()

    def _principal(self, found: Credentials) -> Principal:
        known = self._by_key.get(found.access_key_id)
        if known is not None and known[0] is found:
            return known[1]
        principal = Principal(found.account, found.principal_arn, found.access_key_id, user_id=found.user_id or None)
        if len(self._by_key) >= 10_000:
            self._by_key.clear()
        self._by_key[found.access_key_id] = (found, principal)
        return principal

    async def authenticate_post(self, fields: dict[str, str]) -> Principal:
        """The principal of an S3 POST upload, whose policy's signature (``x-amz-credential``,
        ``x-amz-signature``, ``x-amz-security-token`` fields) is checked like a request's."""
        try:
            if "x-amz-signature" not in fields:
                if "signature" in fields and "awsaccesskeyid" in fields:
                    return await self._authenticate_post_v2(fields)
                raise AuthFailure(sigv4.MISSING)
            cred = fields.get("x-amz-credential", "").split("/")
            if len(cred) != 5 or cred[4] != "aws4_request":
                raise ServiceError("Invalid according to Policy: Policy Condition failed: "
                                   '["eq", "$x-amz-credential", ""]', code="AccessDenied", status=403)
            found = await self.credentials.fetch(cred[0])
            if found is None or not found.active:
                raise AuthFailure(sigv4.UNKNOWN_KEY, access_key_id=cred[0])
            token = fields.get("x-amz-security-token")
            self._check_token(found, token)
            policy = fields.get("policy", "")
            key = self.keys.get(found.secret_access_key, cred[1], cred[2], cred[3])
            if not hmac.compare_digest(sigv4.sign_policy(key, policy), fields["x-amz-signature"].lower()):
                raise AuthFailure(sigv4.MISMATCH, access_key_id=cred[0], string_to_sign=policy,
                                  signature=fields["x-amz-signature"])
        except AuthFailure as failure:
            raise failure.error("rest-xml", "s3") from None
        return self._principal(found)

    async def _authenticate_post_v2(self, fields: dict[str, str]) -> Principal:
        """A POST policy signed the SigV2 way (``AWSAccessKeyId``, ``Signature``: HMAC-SHA1 of the policy)."""
        akid = fields["awsaccesskeyid"]
        found = await self.credentials.fetch(akid)
        if found is None or not found.active:
            raise AuthFailure(sigv4.UNKNOWN_KEY, access_key_id=akid)
        self._check_token(found, fields.get("x-amz-security-token"))
        policy = fields.get("policy", "")
        expected = base64.b64encode(hmac.digest(found.secret_access_key.encode("utf-8"), policy.encode("utf-8"),
                                                "sha1")).decode()
        if not hmac.compare_digest(expected, fields["signature"]):
            raise AuthFailure(sigv4.MISMATCH, access_key_id=akid, string_to_sign=policy, signature=fields["signature"])
        return self._principal(found)

    def _check_token(self, found: Credentials, token: str | None) -> None:
        if found.session_token is not None:
            if token is None or not hmac.compare_digest(token.encode(), found.session_token.encode()):
                raise AuthFailure(sigv4.BAD_TOKEN, token=token)
            if found.expires_at_ms is not None and self.clock.now_ms() >= found.expires_at_ms:
                raise AuthFailure(sigv4.EXPIRED_TOKEN, token=token)
        elif token is not None:
            raise AuthFailure(sigv4.BAD_TOKEN, token=token)


class _Scheme(NamedTuple):
    """What an Authorization header says before its signature: the key, its credentials when the
    header was read, the signing key and scope, the signed headers, the principal it signs as."""

    akid: str
    found: Credentials
    key: sigv4.Mac
    scope: str
    signed_headers: str
    names: tuple[str, ...]
    principal: Principal


ANONYMOUS = Principal("", "anonymous")
"""Who sends an unsigned request (under ``--auth strict``, only an SNS message's SubscribeURL or
UnsubscribeURL is let through unsigned): no account at all."""

_SNS_LINK_ACTIONS = frozenset({"ConfirmSubscription", "Unsubscribe"})
_ANONYMOUS_SERVICES = frozenset({"s3", "sqs"})   # whose resource policies can open them to unsigned callers


def unsigned(request: HttpRequest, service: str | None, protocol: str | None) -> Principal:
    """A request with no signature at all, in either mode: anonymous, as on AWS, for the services whose
    resource policies can open them to everyone (S3, SQS; :mod:`tsunagi.gateway.anonymous` decides what
    it reaches) and SNS's confirmation and unsubscribe links; any other is refused at once with the
    service's answer to a request without credentials."""
    if service in _ANONYMOUS_SERVICES or (service == "sns" and _sns_link(request)) or \
            (service is not None and _action(request) in _NO_AUTH.get(service, ())):
        return ANONYMOUS
    raise AuthFailure(sigv4.MISSING).error(protocol or "query", service or "")


# Operations AWS serves without credentials (``authtype: none`` in their models): STS's exchanges of a
# web identity or SAML token for credentials, which clients send unsigned.
_NO_AUTH = {"sts": frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})}


def _action(request: HttpRequest) -> str | None:
    """A query-protocol request's ``Action`` (query string or form body)."""
    params = dict(request.query_params())
    if "Action" not in params and request.body and request.content_type.startswith("application/x-www-form-urlencoded"):
        params = dict(form_pairs(request.body.decode("utf-8", "replace")))
    return params.get("Action")


def _sns_link(request: HttpRequest) -> bool:
    """An SNS ConfirmSubscription or Unsubscribe without a signature: what the SubscribeURL and the
    UnsubscribeURL of SNS's messages are, and AWS serves them unsigned (an unsubscribe is still refused
    when the subscription was confirmed with AuthenticateOnUnsubscribe, which needs a signed confirmation)."""
    params = dict(request.query_params())
    if "Action" not in params and request.body and request.content_type.startswith("application/x-www-form-urlencoded"):
        params = dict(form_pairs(request.body.decode("utf-8", "replace")))
    if params.get("Action") not in _SNS_LINK_ACTIONS:
        return False
    return str(params.get("AuthenticateOnUnsubscribe", "")).lower() != "true"


class _S3Observer:
    """Passes an S3 body's pieces to a check; a failure is S3's error."""

    __slots__ = ("check",)

    def __init__(self, check: sigv4.ChunkSignatures | _DigestCheck) -> None:
        self.check = check

    def feed(self, data: bytes) -> None:
        try:
            self.check.feed(data)
        except AuthFailure as failure:
            raise failure.error("rest-xml", "s3") from None

    def close(self) -> None:
        try:
            self.check.close()
        except AuthFailure as failure:
            raise failure.error("rest-xml", "s3") from None


class _DigestCheck:
    """An S3 upload's body against the SHA-256 its ``x-amz-content-sha256`` named."""

    def __init__(self, claimed: str) -> None:
        self.claimed = claimed.lower()
        self.hash = hashlib.sha256()

    def feed(self, data: bytes) -> None:
        self.hash.update(data)

    def close(self) -> None:
        actual = self.hash.hexdigest()
        if actual != self.claimed:
            raise AuthFailure(sigv4.CONTENT_SHA256, claimed=self.claimed, actual=actual)
