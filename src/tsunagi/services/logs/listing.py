"""Listing log groups: ListLogGroups, and the filtered paging DescribeLogGroups shares with it.

Both page in name (ASCII) order with a ``{"n": last name}`` token. Filters the store cannot apply
(the log group class, ListLogGroups' name pattern, tags) are applied while scanning, so a page is
``limit`` groups that pass every filter, never a short page with a token.

tsunagi has no cross-account observability links: ``includeLinkedAccounts`` and
``accountIdentifiers`` find no source accounts, so the caller's own groups are listed (those in
``accountIdentifiers`` are matched against the caller's account). No group has field indexes or
data sources, so ``fieldIndexNames`` and ``dataSources`` filters match none.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import constraint
from tsunagi.services.logs.tokens import encode, name_after
from tsunagi.store.logs import GroupRow, LogsRepo

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

GROUP_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY")
_NAME_PATTERN = re.compile(r"(\^?[\.\-_/#A-Za-z0-9]{3,24})(\|\^?[\.\-_/#A-Za-z0-9]{3,24}){0,4}")
_NAME_PATTERN_TEXT = "(\\^?[\\.\\-_\\/#A-Za-z0-9]{3,24})(\\|\\^?[\\.\\-_\\/#A-Za-z0-9]{3,24}){0,4}"
_SCAN = 200

Keep = Callable[[GroupRow], Awaitable[bool]]


def name_matcher(pattern: str) -> Callable[[str], bool]:
    """ListLogGroups' ``logGroupNamePattern``: up to five ``|``-separated alternatives, each a
    case-sensitive substring, or a prefix when it starts with ``^``."""
    if not _NAME_PATTERN.fullmatch(pattern):
        raise constraint(pattern, "logGroupNamePattern",
                         f"Member must satisfy regular expression pattern: {_NAME_PATTERN_TEXT}")
    prefixes = tuple(p[1:] for p in pattern.split("|") if p.startswith("^"))
    parts = [p for p in pattern.split("|") if not p.startswith("^")]
    return lambda name: name.startswith(prefixes) or any(p in name for p in parts)


async def scan(repo: LogsRepo, account: str, region: str, keep: Keep | None, *, after: str | None,
               limit: int, prefix: str | None = None, contains: str | None = None,
               names: Sequence[str] | None = None) -> tuple[list[GroupRow], bool]:
    """Up to ``limit`` groups after ``after`` that ``keep`` accepts, and whether more may follow."""
    found: list[GroupRow] = []
    batch = max(limit + 1, _SCAN) if keep else limit + 1
    while True:
        rows = await repo.list_groups(account, region, prefix=prefix, contains=contains, names=names,
                                      after=after, limit=batch)
        for row in rows:
            if keep is None or await keep(row):
                if len(found) == limit:
                    return found, True
                found.append(row)
        if len(rows) < batch:
            return found, False
        after = rows[-1].name


class GroupListing:
    def __init__(self, service: LogsService) -> None:
        self._svc = service

    async def list_log_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        svc = self._svc
        tests: list[Keep] = []
        if params.get("logGroupNamePattern"):
            matches = name_matcher(params["logGroupNamePattern"])

            async def by_name(row: GroupRow) -> bool:
                return matches(row.name)
            tests.append(by_name)
        cls = params.get("logGroupClass")
        if cls:
            async def by_class(row: GroupRow) -> bool:
                return bool(row.group_class == cls)
            tests.append(by_class)
        tag_filters = params.get("logGroupTags") or []
        if tag_filters:
            async def by_tags(row: GroupRow) -> bool:
                tags = await svc.repo.tags(svc._group_arn(row.region, row.account, row.name))
                return all(f["key"] in tags and (not f.get("values") or tags[f["key"]] in f["values"])
                           for f in tag_filters)
            tests.append(by_tags)
        if params.get("fieldIndexNames") or params.get("dataSources"):
            return {"logGroups": []}
        accounts = params.get("accountIdentifiers") or []
        if params.get("includeLinkedAccounts") and accounts and ctx.account not in accounts:
            return {"logGroups": []}

        async def keep(row: GroupRow) -> bool:
            for test in tests:
                if not await test(row):
                    return False
            return True

        limit = int(params.get("limit") or 50)
        rows, more = await scan(svc.repo, ctx.account, ctx.region, keep if tests else None,
                                after=name_after(params.get("nextToken")), limit=limit)
        out: dict[str, Any] = {"logGroups": [{
            "logGroupName": r.name, "logGroupArn": svc._group_arn(r.region, r.account, r.name),
            "logGroupClass": r.group_class} for r in rows]}
        if more:
            out["nextToken"] = encode({"n": rows[-1].name})
        return out
