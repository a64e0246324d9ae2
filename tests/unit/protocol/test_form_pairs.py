"""Form bodies and query strings decode exactly as urllib's parse_qsl would (tsunagi's decoder only
does it faster for long percent-encoded values)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.protocol.http import form_pairs


def reference(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True)


def test_a_publish_body_with_a_percent_encoded_json_message():
    message = json.dumps({"order": "7d3f0c8e", "text": "héllo wörld ✓ 😀", "path": "a/b?c=d&e"})
    body = f"Action=Publish&TopicArn={quote('arn:aws:sns:us-east-1:000000000000:t', safe='')}" \
           f"&Message={quote(message, safe='')}&Version=2010-03-31"
    assert form_pairs(body) == reference(body)
    assert dict(form_pairs(body))["Message"] == message


def test_edge_cases_match_urllib():
    for text in ["", "&&", "a", "a=", "=b", "a=1&a=2", "a+b=c+d", "x=%zz", "x=%4", "x=%", "x=%%41",
                 "x=%FF%FE", "x=%C3%A9", "x=%c3%a9", "x=\\x41%41", "x=é%20ü", "k%3D=v%26", "x=%0A%0d%09",
                 "x=%E3%81", "x=%2B+%20"]:
        assert form_pairs(text) == reference(text), text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("%+&=\\ab0F9é✓😀 x")), max_size=60))
def test_any_string_decodes_as_urllib_does(text):
    assert form_pairs(text) == reference(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=80)), max_size=6))
def test_encoded_pairs_come_back_whole(pairs):
    assert form_pairs(urlencode(pairs)) == pairs == reference(urlencode(pairs))
