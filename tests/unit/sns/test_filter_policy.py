"""Filter policies, table-driven from the examples in AWS's "Amazon SNS message filtering" pages."""

from __future__ import annotations

import json

import orjson
import pytest

from tsunagi.filters.policy import FilterPolicyError, attributes_view, body_view, compile_policy

# The message attributes AWS's pages filter (customer_interests, store, event, price_usd …).
ATTRS = {
    "customer_interests": {"DataType": "String.Array", "StringValue": '["soccer", "rugby", "hockey"]'},
    "store": {"DataType": "String", "StringValue": "example_corp"},
    "event": {"DataType": "String", "StringValue": "order_placed"},
    "price_usd": {"DataType": "Number", "StringValue": "210.75"},
    "source_ip": {"DataType": "String", "StringValue": "10.0.0.255"},
    "image": {"DataType": "Binary", "BinaryValue": b"\x00"},
}

ATTRIBUTE_CASES = [
    # (policy, matches)
    ({"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
      "customer_interests": ["rugby", "football", "baseball"], "price_usd": [{"numeric": [">=", 100]}]}, True),
    ({"customer_interests": ["rugby", "tennis"]}, True),
    ({"customer_interests": ["tennis"]}, False),
    ({"store": ["example_corp", "other"]}, True),
    ({"store": ["Example_Corp"]}, False),
    ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, False),
    ({"price_usd": [{"numeric": [">", 200, "<", 300]}]}, True),
    ({"price_usd": [{"numeric": ["=", 210.75]}]}, True),
    ({"price_usd": [210.75]}, True),
    ({"price_usd": ["210.75"]}, False),
    ({"price_usd": [{"anything-but": [100, 500]}]}, True),
    ({"price_usd": [{"anything-but": [210.75]}]}, False),
    ({"store": [{"exists": True}]}, True),
    ({"store": [{"exists": False}]}, False),
    ({"encrypted": [{"exists": False}]}, True),
    ({"encrypted": [{"exists": True}]}, False),
    ({"encrypted": [{"anything-but": "x"}]}, False),            # anything-but needs the attribute
    ({"image": [{"exists": True}]}, False),                      # Binary attributes are never compared
    ({"customer_interests": [{"prefix": "bas"}]}, False),
    ({"customer_interests": [{"prefix": "hoc"}]}, True),
    ({"event": [{"suffix": "_placed"}]}, True),
    ({"event": [{"suffix": {"equals-ignore-case": "_PLACED"}}]}, True),
    ({"event": [{"prefix": {"equals-ignore-case": "ORDER"}}]}, True),
    ({"store": [{"equals-ignore-case": "EXAMPLE_CORP"}]}, True),
    ({"event": [{"anything-but": {"prefix": "order-"}}]}, True),
    ({"event": [{"anything-but": {"prefix": "order_"}}]}, False),
    ({"event": [{"anything-but": {"suffix": "_placed"}}]}, False),
    ({"event": [{"anything-but": {"equals-ignore-case": ["ORDER_PLACED", "x"]}}]}, False),
    ({"event": [{"anything-but": ["order_cancelled", "order_returned"]}]}, True),
    ({"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, True),   # soccer is not in the list
    ({"source_ip": [{"cidr": "10.0.0.0/24"}]}, True),
    ({"source_ip": [{"cidr": "10.0.1.0/24"}]}, False),
    ({"store": ["other"], "$or": [{"event": ["order_placed"]}, {"price_usd": [{"numeric": [">", 1]}]}]}, False),
    ({"store": ["example_corp"], "$or": [{"event": ["nope"]}, {"price_usd": [{"numeric": [">", 1]}]}]}, True),
    ({"$or": [{"event": ["nope"]}, {"store": ["nope"]}]}, False),
]


@pytest.mark.parametrize(("policy", "expected"), ATTRIBUTE_CASES, ids=[json.dumps(c[0])[:60] for c in ATTRIBUTE_CASES])
def test_attribute_scope(policy, expected):
    compiled = compile_policy(json.dumps(policy), nested=False)
    assert compiled.matches(attributes_view(ATTRS)) is expected


BODY = {
    "customer_interests": ["soccer", "rugby", "hockey"],
    "store": "example_corp",
    "event": "order_placed",
    "price_usd": 210.75,
    "delivery": {"address": {"city": "Tokyo", "zip": "100-0001"}, "express": True, "note": None},
    "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 1}],
}

BODY_CASES = [
    ({"store": ["example_corp"], "price_usd": [{"numeric": [">", 200]}]}, True),
    ({"delivery": {"address": {"city": ["Tokyo"]}}}, True),
    ({"delivery": {"address": {"city": ["Osaka"]}}}, False),
    ({"delivery": {"express": [True]}}, True),
    ({"delivery": {"express": [False]}}, False),
    ({"delivery": {"note": [None]}}, True),
    ({"delivery": {"address": {"zip": [{"prefix": "100"}]}}}, True),
    ({"items": {"sku": ["b-2"]}}, True),
    ({"items": {"qty": [{"numeric": [">", 5]}]}}, False),
    ({"delivery": {"missing": [{"exists": False}]}}, True),
    ({"delivery": {"address": [{"exists": True}]}}, False),       # an object is not a leaf
    ({"customer_interests": ["rugby"]}, True),
    ({"$or": [{"delivery": {"address": {"city": ["Osaka"]}}}, {"items": {"sku": ["a-1"]}}]}, True),
]


@pytest.mark.parametrize(("policy", "expected"), BODY_CASES, ids=[json.dumps(c[0])[:60] for c in BODY_CASES])
def test_body_scope(policy, expected):
    compiled = compile_policy(json.dumps(policy), nested=True)
    view = body_view(json.dumps(BODY))
    assert view is not None
    assert compiled.matches(view) is expected


def test_a_body_that_is_not_a_json_object_has_no_view():
    assert body_view("plain text") is None
    assert body_view("[1, 2]") is None


INVALID = [
    ('{"a": []}', "Empty arrays are not allowed"),
    ('{"a": [1], "b": [1], "c": [1], "d": [1], "e": [1], "f": [1]}', "Filter policy can not have more than 5 keys"),
    (json.dumps({"a": list(range(10)), "b": list(range(16))}), "Filter policy is too complex"),
    ('{"a": [{"numeric": [">", "x"]}]}', "Value of > must be numeric"),
    ('{"a": [{"numeric": ["<", 10, ">", 5]}]}', "Bad numeric range operator"),
    ('{"a": [{"numeric": [">", 10, "<", 5]}]}', "Bottom must be less than top"),
    ('{"a": [{"numeric": ["~", 10]}]}', "Unrecognized numeric range operator"),
    ('{"a": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
    ('{"a": [{"foo": 1}]}', "Unrecognized match type foo"),
    ('{"a": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    ('{"a": [{"prefix": 5}]}', "prefix match pattern must be a string"),
    ('{"a": [{"anything-but": [true]}]}', "Inside anything but list"),
    ('{"a": [[1]]}', "Match value must be String, number, true, false, or null"),
    ('{"a": "x"}', "must be an object or an array"),
    ('{"a": [2000000000]}', "between -1.0E9 and 1.0E9"),
    ('not json', "failed to parse JSON"),
    ('[1]', "Filter policy must be a JSON object"),
]


@pytest.mark.parametrize(("policy", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_policies(policy, message):
    with pytest.raises(FilterPolicyError) as e:
        compile_policy(policy, nested=False)
    assert message in str(e.value)


def test_nested_keys_need_the_message_body_scope():
    with pytest.raises(FilterPolicyError, match="does not support nested"):
        compile_policy('{"a": {"b": ["c"]}}', nested=False)
    assert compile_policy('{"a": {"b": ["c"]}}', nested=True).keys == 1


def test_or_branches_count_keys_and_combinations_separately():
    policy = {"$or": [{"a": [1], "b": [2], "c": [3], "d": [4], "e": [5]}, {"f": [1]}]}
    compiled = compile_policy(json.dumps(policy), nested=False)
    assert compiled.keys == 5
    assert compiled.combinations == 2


def _or_bomb(keys: int) -> dict:
    """Each key an ``$or`` of two branches: 2**keys alternatives in a few hundred bytes (doubling with
    each key)."""
    return {f"k{i}": {"$or": [{"x": ["1"]}, {"y": ["1"]}]} for i in range(keys)}


def test_nested_or_is_counted_not_expanded() -> None:
    import tracemalloc

    small = compile_policy({"a": [1, 2], "$or": [{"b": [1, 2, 3]}, {"c": [1], "d": [1, 2]}]}, nested=False)
    assert (small.keys, small.combinations) == (3, 2 * (3 + 2))
    # 24 keys in under a kilobyte stand for 2**24 alternatives; refusing them must not build them.
    bomb = _or_bomb(24)
    assert len(orjson.dumps(bomb)) < 1000
    tracemalloc.start()
    try:
        with pytest.raises(FilterPolicyError, match="can not have more than 5 keys|too complex"):
            compile_policy(bomb, nested=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024


def test_or_alternatives_past_150_combinations_are_refused() -> None:
    wide = {"$or": [{f"k{i}": list(range(10))} for i in range(16)]}     # 16 branches x 10 values = 160
    with pytest.raises(FilterPolicyError, match="too complex"):
        compile_policy(wide, nested=False)
    ok = {"$or": [{f"k{i}": list(range(10))} for i in range(15)]}       # 150
    assert compile_policy(ok, nested=False).combinations == 150
