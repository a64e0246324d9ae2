"""JWT authorizers of HTTP APIs: a bearer token checked against its issuer's keys, as API Gateway checks it.

The keys come from the issuer's OpenID configuration (``{issuer}/.well-known/openid-configuration`` →
``jwks_uri``), fetched once and kept for five minutes (again at once for a key id not seen yet). A token
passes when its signature verifies (RS256/384/512, ES256/384), ``iss`` is the issuer, ``aud`` (or
``client_id``) one of the audiences, ``exp`` is in the future and ``nbf`` (if any) in the past; a route's
authorization scopes must meet the token's ``scope``/``scp``. Any failure is a :class:`JwtRefused`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tsunagi import outbound

KEYS_TTL_S = 300.0
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES: dict[str, Callable[[], ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


class JwtRefused(Exception):
    """The token is missing, malformed, unverifiable or not for this API."""


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(part: str) -> int:
    return int.from_bytes(_b64(part), "big")


MAX_KEYS_BYTES = 1024 * 1024          # an issuer's discovery document or key set


class KeyCache:
    """The issuers' signing keys, by issuer then key id, fetched through :mod:`tsunagi.outbound` (never
    from the server's own internal routes; bounded in size and time)."""

    def __init__(self, guard: outbound.SelfNames | None = None) -> None:
        self._keys: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
        self.guard = guard or outbound.SelfNames()

    async def key(self, issuer: str, kid: str | None) -> dict[str, Any]:
        cached = self._keys.get(issuer)
        now = time.monotonic()
        if cached is None or now - cached[0] > KEYS_TTL_S or (kid is not None and kid not in cached[1]):
            keys = await _fetch_keys(issuer, self.guard)
            cached = self._keys[issuer] = (now, keys)
        keys = cached[1]
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        if kid is None or kid not in keys:
            raise JwtRefused(f"no signing key {kid!r} at the issuer")
        return keys[kid]

    def clear(self) -> None:
        self._keys.clear()


async def _get_json(url: str, guard: outbound.SelfNames) -> Any:
    answer = await outbound.request("GET", url, b"", {"Accept": "application/json"}, guard=guard,
                                    user_agent="AmazonAPIGateway", read_timeout=5.0, max_answer=MAX_KEYS_BYTES)
    if answer.status != 200:
        raise ValueError(f"{url} answered {answer.status}")
    if answer.truncated:
        raise ValueError(f"{url} answered more than {MAX_KEYS_BYTES} bytes")
    return json.loads(answer.body)


async def _fetch_keys(issuer: str, guard: outbound.SelfNames) -> dict[str, dict[str, Any]]:
    base = issuer.rstrip("/")
    try:
        config = await _get_json(f"{base}/.well-known/openid-configuration", guard)
        jwks = await _get_json(str(config["jwks_uri"]), guard)
        keys = jwks.get("keys", [])
    except (outbound.OutboundFailure, ValueError, KeyError, TypeError, AttributeError) as e:
        raise JwtRefused(f"the issuer's keys could not be fetched: {e}") from None
    return {str(k.get("kid")): k for k in keys if isinstance(k, dict)}


def _verify(alg: str, jwk: dict[str, Any], signed: bytes, signature: bytes) -> None:
    digest = _HASHES.get(alg[2:])
    if digest is None:
        raise JwtRefused(f"unsupported algorithm {alg}")
    try:
        if alg.startswith("RS") and jwk.get("kty") == "RSA":
            public = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
            public.verify(signature, signed, padding.PKCS1v15(), digest())
            return
        if alg.startswith("ES") and jwk.get("kty") == "EC":
            curve = _CURVES[jwk["crv"]]()
            ec_key = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve).public_key()
            half = len(signature) // 2
            der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
            ec_key.verify(der, signed, ec.ECDSA(digest()))
            return
    except InvalidSignature:
        raise JwtRefused("the signature does not verify") from None
    except (KeyError, ValueError) as e:
        raise JwtRefused(f"the issuer's key is unusable: {e}") from None
    raise JwtRefused(f"the key does not fit the algorithm {alg}")


async def check(cache: KeyCache, token: str, issuer: str, audiences: list[str], scopes: list[str],
                now: float | None = None) -> dict[str, Any]:
    """The token's claims when it passes, else JwtRefused."""
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtRefused("not a JWT")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except ValueError:
        raise JwtRefused("the token is not valid base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtRefused("the token's header or claims are not objects")
    jwk = await cache.key(issuer, header.get("kid"))
    _verify(str(header.get("alg", "")), jwk, f"{parts[0]}.{parts[1]}".encode(), signature)
    if claims.get("iss") != issuer:
        raise JwtRefused("the issuer does not match")
    aud = claims.get("aud", claims.get("client_id"))
    auds = aud if isinstance(aud, list) else [aud]
    if not any(a in audiences for a in auds):
        raise JwtRefused("the audience does not match")
    now = time.time() if now is None else now
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        raise JwtRefused("the token has expired")
    if isinstance(claims.get("nbf"), int | float) and claims["nbf"] > now:
        raise JwtRefused("the token is not valid yet")
    if scopes:
        granted = claims.get("scope", claims.get("scp", ""))
        have = set(granted.split() if isinstance(granted, str) else granted or [])
        if not have.intersection(scopes):
            raise JwtRefused("the token has none of the route's scopes")
    return claims
