"""The guard step: host names tsunagi serves, and requests web pages of other sites make."""

from __future__ import annotations

import pytest

from tsunagi.gateway.exchange import Exchange
from tsunagi.gateway.guard import Guard, HostPolicy
from tsunagi.protocol.errors import ServiceError
from tsunagi.protocol.http import HttpRequest


class _Done:
    consumed = True

    def whole(self, limit: int) -> bytes | None:
        return None

    async def next_chunk(self) -> bytes:
        return b""


def check(policy: HostPolicy, method: str = "POST", path: str = "/", query: str = "", **headers: str) -> None:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    request = HttpRequest(method, path, query, hdrs)
    Guard(policy)(Exchange(request, "r", "127.0.0.1", _Done(), 0.0))


LOCAL = HostPolicy("127.0.0.1", [])


@pytest.mark.parametrize("host", ["localhost:4566", "localhost", "127.0.0.1:4566", "127.9.9.9", "[::1]:4566",
                                  "photos.localhost:4566", "abc.execute-api.localhost", "LOCALHOST:4566"])
def test_loopback_names_and_addresses_are_served(host: str) -> None:
    check(LOCAL, host=host)


@pytest.mark.parametrize("host", ["evil.example:4566", "localhost.evil.example", "192.168.1.5:4566", "", "x"])
def test_other_names_are_refused(host: str) -> None:
    with pytest.raises(ServiceError) as e:
        check(LOCAL, host=host)
    assert e.value.status == 403 and "--hostname" in e.value.message


def test_configured_names_and_the_bound_address_are_served() -> None:
    policy = HostPolicy("192.168.1.5", ["tsunagi.lan", "*.dev.test"])
    for host in ("192.168.1.5:4566", "tsunagi.lan:4566", "q.dev.test", "a.b.dev.test"):
        check(policy, host=host)
    with pytest.raises(ServiceError):
        check(policy, host="dev.test.evil")
    # bound to every address: any address (a rebinding page sends its own *name*, never an address)
    check(HostPolicy("0.0.0.0", []), host="10.1.2.3:4566")
    with pytest.raises(ServiceError):
        check(HostPolicy("0.0.0.0", []), host="attacker.example")


def test_a_page_of_another_site_is_refused() -> None:
    for headers in ({"origin": "http://evil.example"}, {"origin": "null"}, {"sec_fetch_site": "cross-site"},
                    {"origin": "http://localhost.evil.example:4566"}):
        with pytest.raises(ServiceError) as e:
            check(LOCAL, path="/2015-03-31/functions", host="localhost:4566", content_type="text/plain",
                  **headers)
        assert e.value.status == 403 and "other sites" in e.value.message


def test_same_site_pages_and_tools_pass() -> None:
    check(LOCAL, host="localhost:4566", origin="http://localhost:3000", sec_fetch_site="same-site")
    check(LOCAL, host="localhost:4566", sec_fetch_site="same-origin")
    check(LOCAL, host="localhost:4566")           # SDKs and the CLI send neither header


def test_routes_made_for_browsers_pass_from_other_sites() -> None:
    evil = {"origin": "https://app.example", "sec_fetch_site": "cross-site"}
    check(LOCAL, "GET", "/bucket/key", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", host="localhost:4566",
          **evil)
    check(LOCAL, "POST", "/bucket", host="localhost:4566", content_type="multipart/form-data; boundary=x", **evil)
    check(LOCAL, "OPTIONS", "/bucket/key", host="localhost:4566", **evil)


def test_pages_may_call_the_apis_users_deploy_on_api_gateway_and_nothing_else() -> None:
    page = {"origin": "https://app.example", "sec_fetch_site": "cross-site"}
    check(LOCAL, "POST", "/dev/orders", host="a1b2c3d4e5.execute-api.localhost:4566", content_type="text/plain",
          **page)
    check(LOCAL, "POST", "/restapis/a1b2c3d4e5/dev/_user_request_/orders", host="localhost:4566",
          content_type="text/plain", **page)
    for path in ("/bucket/_user_request_/key", "/restapis/a1b2c3d4e5/dev", "/x/restapis/a/b/_user_request_/"):
        with pytest.raises(ServiceError) as e:
            check(LOCAL, "PUT", path, host="localhost:4566", content_type="text/plain", **page)
        assert e.value.status == 403
