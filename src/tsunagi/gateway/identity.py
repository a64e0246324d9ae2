"""Who is asking: the access key, region and signing service from a SigV4 (or SigV2) request.

Signature verification is the authenticator's job (``Authenticator``); the default one accepts
every request and only reads the credential, as local AWS endpoints conventionally do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from tsunagi.context import Principal
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest

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


class Authenticator:
    """Decides who a request comes from. This one trusts the credential's key id (``--auth off``)."""

    def __init__(self, default_account: str) -> None:
        self.default_account = default_account
        self._principals: dict[str | None, Principal] = {}   # key id -> its principal (immutable, shared)

    def account_for(self, access_key_id: str | None) -> str:
        if access_key_id and len(access_key_id) == 12 and access_key_id.isdigit():
            return access_key_id
        return self.default_account

    def authenticate(self, request: HttpRequest, cred: Credential) -> Principal:
        key = cred.access_key_id
        principal = self._principals.get(key)
        if principal is None:
            principal = Principal.root(self.account_for(key), key)
            if len(self._principals) < 10_000:
                self._principals[key] = principal
        return principal


class StrictAuthenticator(Authenticator):
    """Requires a signed request. Signature checking arrives with IAM's credentials store;
    until then a request without any credential is refused."""

    def authenticate(self, request: HttpRequest, cred: Credential) -> Principal:
        if not cred.access_key_id:
            raise ServiceError("Request is missing Authentication Token", code="MissingAuthenticationToken",
                               status=403)
        return super().authenticate(request, cred)
