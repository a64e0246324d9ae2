"""Lambda event filtering (an event source mapping's ``FilterCriteria``) on SQS records.

The pattern language is the one SNS filter policies and EventBridge patterns share, so the
evaluator is SNS's (:mod:`tsunagi.filters.policy`); what is Lambda's is the document a
pattern sees: the record as the function would get it (``messageId``, ``attributes``,
``messageAttributes``, …), with ``body`` parsed when it is JSON (so ``{"body": {"kind": ["a"]}}``
works) and left a plain string otherwise (``{"body": [{"prefix": "hello"}]}``; a nested pattern on a
plain-string body never matches, as in AWS). A record is kept when *any* filter matches; records no
filter matches are dropped, and their messages deleted from the queue, as AWS does.
"""

from __future__ import annotations

from typing import Any

import orjson

from tsunagi.filters.policy import FilterPolicyError, Policy, compile_policy, json_view

MAX_FILTERS = 5


class FilterCriteriaError(ValueError):
    """Invalid FilterCriteria; ``str(e)`` says why."""


def compile_filters(criteria: dict[str, Any] | None) -> list[Policy]:
    """The compiled patterns of ``{"Filters": [{"Pattern": "<json>"}, …]}`` (empty: keep everything)."""
    filters = (criteria or {}).get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise FilterCriteriaError(f"The number of filters ({len(filters)}) exceeds the limit of {MAX_FILTERS}.")
    out = []
    for f in filters:
        pattern = (f or {}).get("Pattern")
        if not pattern:
            raise FilterCriteriaError("Invalid filter pattern definition.")
        try:
            doc = orjson.loads(pattern)
        except orjson.JSONDecodeError:
            raise FilterCriteriaError("Invalid filter pattern definition.") from None
        if not isinstance(doc, dict) or not doc:
            raise FilterCriteriaError("Invalid filter pattern definition.")
        try:
            out.append(compile_policy(doc, nested=True))
        except FilterPolicyError as e:
            raise FilterCriteriaError(f"Invalid filter pattern definition. {e}") from None
    return out


def filter_view(record: dict[str, Any]) -> dict[str, Any]:
    """The document patterns are matched against: the record, its body parsed when it is JSON."""
    body = record.get("body")
    if isinstance(body, str) and body[:1] in ("{", "["):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = body
        if isinstance(parsed, dict):
            return {**record, "body": parsed}
    return record


def keep(filters: list[Policy], record: dict[str, Any]) -> bool:
    if not filters:
        return True
    view = json_view(filter_view(record))
    return any(p.matches(view) for p in filters)
