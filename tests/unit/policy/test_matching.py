"""Wildcards, ARNs and policy variables, against small reference matchers written from AWS's words.

* StringLike / Action: ``*`` any run of characters, ``?`` exactly one (condition operators page).
* ArnLike: "each of the six colon-delimited components of the ARN is checked separately".
* Resource: wildcards within a segment, except that a ``*`` ending a segment "can expand to match
  beyond the colon boundaries" (Resource element page).
"""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.policy import Caller, CallerType, Request, Style, wildcard_match
from tsunagi.policy.patterns import Matcher


def like(pattern: str, value: str) -> bool:
    """Reference glob: a plain recursive matcher, nothing shared with the implementation."""
    @functools.cache
    def go(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        c = pattern[i]
        if c == "*":
            return go(i + 1, j) or (j < len(value) and go(i, j + 1))
        return j < len(value) and (c == "?" or c == value[j]) and go(i + 1, j + 1)
    return go(0, 0)


def segmented(pattern: str, value: str, *, crossing: bool) -> bool:
    """Reference ARN matcher, read character by character: the pattern's first five colons separate
    segments; ``*`` and ``?`` stay inside a segment, except (``crossing``, the Resource element) a
    ``*`` that ends a segment, which may run past colons. The sixth segment is the rest."""
    @functools.cache
    def go(i: int, j: int, segment: int) -> bool:
        if i == len(pattern):
            return j == len(value)
        c = pattern[i]
        inside = segment < 5
        if c == ":" and inside:
            return j < len(value) and value[j] == ":" and go(i + 1, j + 1, segment + 1)
        if c == "*":
            runs_on = not inside or (crossing and (i + 1 == len(pattern) or pattern[i + 1] == ":"))
            if go(i + 1, j, segment):
                return True
            return j < len(value) and (runs_on or value[j] != ":") and go(i, j + 1, segment)
        if c == "?":
            return j < len(value) and (not inside or value[j] != ":") and go(i + 1, j + 1, segment)
        return j < len(value) and value[j] == c and go(i + 1, j + 1, segment)
    return pattern == "*" or go(0, 0, 0)


ALPHABET = st.text(alphabet="ab*?", max_size=6)
VALUES = st.text(alphabet="ab", max_size=6)


@settings(max_examples=200, deadline=None)
@given(ALPHABET, VALUES)
def test_string_like_agrees_with_a_reference_glob(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value, Style.LIKE) is like(pattern, value)


SEGMENT = st.text(alphabet="ab*?", max_size=3)
VALUE_SEGMENT = st.text(alphabet="ab", max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(SEGMENT, min_size=6, max_size=6), st.lists(VALUE_SEGMENT, min_size=6, max_size=6))
def test_arn_like_checks_each_segment_separately(pattern: list[str], value: list[str]) -> None:
    p, v = ":".join(pattern), ":".join(value)
    if p == "*":
        return
    assert wildcard_match(p, v, Style.ARN) is segmented(p, v, crossing=False)


PARTS = st.lists(st.sampled_from(["a", "b", "*", "?", ":", "ab"]), max_size=10).map("".join)
VALUES_WITH_COLONS = st.text(alphabet="ab:", max_size=12)


@settings(max_examples=300, deadline=None)
@given(PARTS, VALUES_WITH_COLONS)
def test_arn_like_agrees_with_the_reference(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value, Style.ARN) is segmented(pattern, value, crossing=False)


@settings(max_examples=300, deadline=None)
@given(PARTS, VALUES_WITH_COLONS)
def test_resource_agrees_with_the_reference(pattern: str, value: str) -> None:
    assert wildcard_match(pattern, value, Style.RESOURCE) is segmented(pattern, value, crossing=True)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUE_SEGMENT, min_size=6, max_size=6), st.integers(0, 4), st.text(alphabet="ab:", max_size=8))
def test_a_star_ending_a_segment_runs_past_colons(value: list[str], cut: int, tail: str) -> None:
    """``arn:aws:sqs:*`` covers every queue: keep the first segments, end the pattern with ``*``."""
    pattern = ":".join(value[:cut] + ["*"])
    assert wildcard_match(pattern, ":".join(value), Style.RESOURCE)
    assert wildcard_match(pattern, ":".join(value[:cut] + [tail]), Style.RESOURCE)


def test_resource_examples() -> None:
    assert wildcard_match("arn:aws:s3:::my_corporate_bucket/*", "arn:aws:s3:::my_corporate_bucket/a/b.txt",
                          Style.RESOURCE)
    assert wildcard_match("arn:aws:iam::123456789012:user/accounting/*",
                          "arn:aws:iam::123456789012:user/accounting/alice", Style.RESOURCE)
    assert not wildcard_match("arn:aws:iam::123456789012:user/accounting/*",
                              "arn:aws:iam::123456789012:user/marketing/alice", Style.RESOURCE)
    # a wildcard inside a segment does not run into the next one
    assert not wildcard_match("arn:aws:sqs:us-*-1:111122223333:q", "arn:aws:sqs:us-east-2:x:1:111122223333:q",
                              Style.RESOURCE)
    assert wildcard_match("arn:aws:sqs:us-*-1:111122223333:q", "arn:aws:sqs:us-east-1:111122223333:q",
                          Style.RESOURCE)
    assert wildcard_match("arn:aws:lambda:*:*:function:fn:*", "arn:aws:lambda:us-east-1:1:function:fn:prod",
                          Style.RESOURCE)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcXYZ", min_size=1, max_size=8), st.randoms())
def test_action_names_match_whatever_their_case(action: str, rnd) -> None:  # noqa: ANN001
    flipped = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in action)
    matcher = Matcher([f"sqs:{action}".casefold()], Style.LIKE)
    assert matcher.match(f"SQS:{flipped}".casefold())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab*?$:/", max_size=6))
def test_a_variable_value_is_literal(name: str) -> None:
    """A user name with ``*`` in it is not a wildcard once substituted (variables page)."""
    matcher = Matcher(["arn:aws:s3:::b/${aws:username}"], Style.RESOURCE, variables=True)
    assert matcher.match(f"arn:aws:s3:::b/{name}", {"aws:username": name})
    if "*" in name or "?" in name:
        other = name.replace("*", "x").replace("?", "y") + "z"
        assert not matcher.match(f"arn:aws:s3:::b/{other}", {"aws:username": name})


def test_special_variables_and_defaults() -> None:
    matcher = Matcher(["a${*}b${?}c${$}"], Style.LIKE, variables=True)
    assert matcher.match("a*b?c$")
    assert not matcher.match("aXbYc$")
    defaulted = Matcher(["home/${aws:username, 'guest'}/*"], Style.LIKE, variables=True)
    assert defaulted.match("home/guest/x", {})
    assert defaulted.match("home/ana/x", {"aws:username": "ana"})
    unresolved = Matcher(["home/${aws:username}/*"], Style.LIKE, variables=True)
    assert not unresolved.match("home//x", {})
    multivalued = Matcher(["${aws:TagKeys}"], Style.EQUALS, variables=True)
    assert not multivalued.match("a", {"aws:tagkeys": ("a",)})
    assert Matcher(["${not a variable"], Style.EQUALS, variables=True).match("${not a variable")


def test_callers_from_arns() -> None:
    assert Caller.from_arn("arn:aws:iam::111122223333:root") == Caller.root("111122223333")
    bob = Caller.from_arn("arn:aws:iam::111122223333:user/division/Bob")
    assert (bob.type, bob.account) == (CallerType.USER, "111122223333")
    session = Caller.from_arn("arn:aws:sts::111122223333:assumed-role/examplerole/s1")
    assert session.type is CallerType.ROLE_SESSION
    assert session.role_arn == "arn:aws:iam::111122223333:role/examplerole"
    assert Caller.from_arn("sns.amazonaws.com").type is CallerType.SERVICE
    assert Caller.from_arn("").type is CallerType.ANONYMOUS
    assert Caller.from_arn("arn:aws:sts::111122223333:federated-user/f").type is CallerType.FEDERATED_USER


def test_request_derives_the_principal_keys() -> None:
    """reference_policies_condition-keys / reference_policies_variables: values by principal type."""
    bob = Request(Caller.user("arn:aws:iam::111122223333:user/division/Bob"), "s3:GetObject", now=1_700_000_000,
                  secure_transport=True, source_ip="203.0.113.7")
    assert bob.context["aws:username"] == "Bob"
    assert bob.context["aws:principalarn"] == "arn:aws:iam::111122223333:user/division/Bob"
    assert bob.context["aws:principaltype"] == "User"
    assert bob.context["aws:principalaccount"] == "111122223333"
    assert bob.context["aws:currenttime"] == "2023-11-14T22:13:20Z"
    assert bob.context["aws:epochtime"] == "1700000000"
    assert bob.context["aws:securetransport"] == "true"
    assert bob.context["aws:sourceip"] == "203.0.113.7"
    role = Request(Caller.session("arn:aws:sts::111122223333:assumed-role/r/s",
                                  "arn:aws:iam::111122223333:role/path/r"), "s3:GetObject")
    assert role.context["aws:principalarn"] == "arn:aws:iam::111122223333:role/path/r"
    assert role.context["aws:principaltype"] == "AssumedRole"
    assert "aws:username" not in role.context
    root = Request(Caller.root("111122223333"), "s3:GetObject")
    assert (root.context["aws:principaltype"], root.context["aws:userid"]) == ("Account", "111122223333")
    anonymous = Request(Caller.anonymous(), "s3:GetObject")
    assert anonymous.context["aws:userid"] == "anonymous"
    assert "aws:principalarn" not in anonymous.context
    service = Request(Caller.service("sns.amazonaws.com"), "sqs:SendMessage")
    assert service.context["aws:principalservicename"] == "sns.amazonaws.com"
    assert service.context["aws:principalisawsservice"] == "true"
    assert "aws:principalarn" not in service.context
    clock = Request(Caller.anonymous(), "s3:GetObject")                  # "always included": the wall clock
    assert clock.context["aws:currenttime"].endswith("Z") and clock.context["aws:epochtime"].isdigit()
    given_keys = Request(Caller.user("arn:aws:iam::1:user/u"), "s3:GetObject",
                         context={"AWS:UserName": "given", "aws:TagKeys": ["a", "b"], "s3:max-keys": 10,
                                  "aws:SecureTransport": False})
    assert given_keys.context["aws:username"] == "given"                # what the caller passed wins
    assert given_keys.context["aws:tagkeys"] == ("a", "b")
    assert given_keys.context["s3:max-keys"] == "10"
    assert given_keys.context["aws:securetransport"] == "false"
