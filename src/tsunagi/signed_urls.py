"""Links that work without a credential for a while: ``GetFunction``'s ``Code.Location``.

AWS answers ``Code.Location`` with a presigned S3 URL that expires after ten minutes, so a client can
download the package with a plain HTTP GET. tsunagi's link points at its own internal route and carries
``X-Tsunagi-Expires`` and ``X-Tsunagi-Signature``: an HMAC-SHA256 over the path and the expiry, keyed with
the server's admin token. Anyone holding the link may fetch that one path until it expires; nothing
else is opened by it, and a link made by one server is refused by a server with another token.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

EXPIRES = "X-Tsunagi-Expires"
SIGNATURE = "X-Tsunagi-Signature"
LIFETIME_SECONDS = 600  # as AWS's presigned Code.Location


def _mac(secret: str, path: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, path: str, *, now: float | None = None, lifetime: int = LIFETIME_SECONDS) -> str:
    """``path`` with the query that lets it be fetched for ``lifetime`` seconds."""
    expires = int(now if now is not None else time.time()) + lifetime
    return f"{path}?{EXPIRES}={expires}&{SIGNATURE}={quote(_mac(secret, path, expires))}"


def verify(secret: str, path: str, query: dict[str, str], *, now: float | None = None) -> bool:
    """Whether ``query`` signs ``path`` with ``secret`` and has not expired."""
    if not secret:
        return False
    try:
        expires = int(query.get(EXPIRES, ""))
    except ValueError:
        return False
    if expires < int(now if now is not None else time.time()):
        return False
    return hmac.compare_digest(query.get(SIGNATURE, "").encode(), _mac(secret, path, expires).encode())
