from urllib.parse import parse_qsl

from tsunagi import signed_urls


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(url.partition("?")[2]))


def test_a_signed_link_opens_its_path_until_it_expires() -> None:
    url = signed_urls.sign("secret", "/_tsunagi/lambda/code/abc", now=1000)
    q = query_of(url)
    assert url.startswith("/_tsunagi/lambda/code/abc?")
    assert signed_urls.verify("secret", "/_tsunagi/lambda/code/abc", q, now=1000 + 600)
    assert not signed_urls.verify("secret", "/_tsunagi/lambda/code/abc", q, now=1000 + 601)


def test_a_link_opens_neither_another_path_nor_under_another_key() -> None:
    q = query_of(signed_urls.sign("secret", "/_tsunagi/lambda/code/abc", now=1000))
    assert not signed_urls.verify("secret", "/_tsunagi/lambda/code/abd", q, now=1000)
    assert not signed_urls.verify("other", "/_tsunagi/lambda/code/abc", q, now=1000)
    assert not signed_urls.verify("", "/_tsunagi/lambda/code/abc", q, now=1000)


def test_a_changed_or_missing_expiry_is_refused() -> None:
    q = query_of(signed_urls.sign("secret", "/p", now=1000))
    assert not signed_urls.verify("secret", "/p", {**q, "X-Tsunagi-Expires": str(int(q["X-Tsunagi-Expires"]) + 1)},
                                  now=1000)
    assert not signed_urls.verify("secret", "/p", {**q, "X-Tsunagi-Expires": "soon"}, now=1000)
    assert not signed_urls.verify("secret", "/p", {"X-Tsunagi-Signature": q["X-Tsunagi-Signature"]}, now=1000)
