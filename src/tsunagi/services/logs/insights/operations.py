"""Logs Insights operations: StartQuery, GetQueryResults, StopQuery, DescribeQueries and query
definitions (Put/Describe/DeleteQueryDefinition).

StartQuery checks the request and parses the query (a syntax error answers
``MalformedQueryException`` with the position), writes the query's row (``Scheduled``) and starts it
in a task of this node. The task reads the groups' events newest first in batches from the store
(the next batch is fetched while the current one is evaluated) and pushes each batch through the
query's :class:`Pipeline` in a worker thread, so the event loop never evaluates; at the end the
rows, capped at the query's limit, and the statistics are written with the status. StopQuery on
any node marks the row ``Cancelled``; the running task sees that between batches and stops.
A query still ``Running`` after 60 minutes (its node went away) reads as ``Timeout``.
Queries are forgotten after 7 days. GetLogRecord reads the event a result's ``@ptr`` points at.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from tsunagi.protocol.errors import error_class
from tsunagi.services.base import RequestContext
from tsunagi.services.logs.errors import InvalidParameter, ResourceNotFound
from tsunagi.services.logs.insights.evaluator import Pipeline, event_record, text
from tsunagi.services.logs.insights.parser import Query, QuerySyntaxError, parse_query
from tsunagi.store.logs import FOREVER, GroupRow
from tsunagi.store.logs_insights import DefinitionRow, InsightsRepo, QueryRow

if TYPE_CHECKING:
    from tsunagi.services.logs.service import LogsService

log = logging.getLogger("tsunagi.logs.insights")

Scanned = tuple[int, int, int, int, str, int]     # (id, stream_id, ts, ingested_at, message, size)

MalformedQuery = error_class("MalformedQueryException")
LimitExceeded = error_class("LimitExceededException")

DEFAULT_LIMIT = 1000            # rows a query returns when it sets no limit
MAX_LIMIT = 100_000             # StartQuery's limit (the model's maximum) …
PAGE = 10_000                   # … and GetQueryResults' largest page
MAX_GROUPS = 50
MAX_DEFINITIONS = 1000
MAX_RUNNING = 100               # concurrent queries (per node)
BATCH = 5000                    # events read from the store per batch
QUERY_TIMEOUT_MS = 60 * 60_000
KEEP_MS = 7 * 86_400_000
NO_QUERY = "Query does not exist."
NO_DEFINITION = "The query definition does not exist."


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def _unb64(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise InvalidParameter("The specified nextToken is invalid.") from None


def malformed(e: QuerySyntaxError) -> Exception:
    return MalformedQuery(e.message, queryCompileError={
        "location": {"startCharOffset": e.start, "endCharOffset": e.end}, "message": e.message})


class Insights:
    """The Insights half of the Logs service (its operations delegate here)."""

    def __init__(self, service: LogsService) -> None:
        self.service = service
        self.repo = InsightsRepo(service.store)
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def stop(self) -> None:
        """Cancel the queries this node runs; they end Failed (the node is going away)."""
        running = dict(self.tasks)
        self.tasks.clear()
        for t in running.values():
            t.cancel()
        for query_id, t in running.items():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
            with contextlib.suppress(Exception):
                await self.repo.finish(query_id, "Failed", self._now(), None, None)

    def _now(self) -> int:
        return self.service.clock.now_ms()

    # == StartQuery ============================================================================
    async def _groups(self, ctx: RequestContext, params: dict[str, Any]) -> list[GroupRow]:
        given = [k for k in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if params.get(k)]
        if not given:
            raise InvalidParameter("One of logGroupName, logGroupNames or logGroupIdentifiers must be specified.")
        if len(given) > 1:
            raise InvalidParameter("Only one of logGroupName, logGroupNames or logGroupIdentifiers can be specified.")
        key = given[0]
        idents: list[str] = [params[key]] if key == "logGroupName" else list(params[key])
        if len(idents) > MAX_GROUPS:
            raise InvalidParameter(f"Up to {MAX_GROUPS} log groups can be queried at a time; "
                                   f"{len(idents)} were specified.")
        groups: list[GroupRow] = []
        for ident in idents:
            if key == "logGroupIdentifiers":
                if ident.endswith(":*"):
                    raise InvalidParameter(f"Invalid log group identifier: {ident} (a log group ARN in "
                                           "logGroupIdentifiers must not end with ':*')")
                try:
                    group = await self.service._group_by_identifier(ctx, ident)
                except ResourceNotFound:
                    raise ResourceNotFound(_no_group(ident, ctx.account)) from None
            else:
                self.service._check_group_name(ident, key)
                found = await self.service.repo.group(ctx.account, ctx.region, ident)
                if found is None:
                    raise ResourceNotFound(_no_group(ident, ctx.account))
                group = found
            if all(g.id != group.id for g in groups):
                groups.append(group)
        return groups

    async def start_query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        language = params.get("queryLanguage") or "CWLI"
        if language != "CWLI":
            raise InvalidParameter(f"Query language {language} is not supported by tsunagi; use CWLI "
                                   "(Logs Insights QL).")
        start, end = int(params["startTime"]), int(params["endTime"])
        if end < start:
            raise InvalidParameter("End time should not be before the start time.")
        limit = params.get("limit")
        limit = DEFAULT_LIMIT if limit is None else min(int(limit), MAX_LIMIT)
        groups = await self._groups(ctx, params)
        text = params["queryString"]
        try:
            query = parse_query(text)
            Pipeline(query, limit)          # compiles the stages: unknown functions, misplaced aggregates
        except QuerySyntaxError as e:
            raise malformed(e) from None
        if len(self.tasks) >= MAX_RUNNING:
            raise LimitExceeded(f"Account maximum query concurrency limit of [{MAX_RUNNING}] reached.")
        query_id = str(uuid.uuid4())
        now = self._now()
        await self.repo.delete_old(now - KEEP_MS)
        await self.repo.insert_query(query_id, ctx.account, ctx.region, text, json.dumps([g.name for g in groups]),
                                     now)
        task = asyncio.create_task(self._run(query_id, query, groups, start * 1000, end * 1000 + 999, limit),
                                   name=f"tsunagi-insights-{query_id}")
        self.tasks[query_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(query_id, None))
        return {"queryId": query_id}

    async def _run(self, query_id: str, query: Query, groups: list[GroupRow], start: int, end: int,
                   limit: int) -> None:
        began = time.monotonic()
        pipeline = Pipeline(query, limit)
        stopped = False
        try:
            await self.repo.set_running(query_id)
            for group in groups:
                if stopped:
                    break
                lo = max(start, self.service._cutoff(group))
                account, gname, gid = group.account, group.name, group.id
                names = await self.repo.stream_names(gid)

                async def fetch(pos: tuple[int, int], gid: int = gid, lo: int = lo) -> list[Scanned]:
                    return await self.repo.scan(gid, lo, end, pos, BATCH, messages=pipeline.reads_messages)

                pending: asyncio.Task[list[Scanned]] | None = asyncio.create_task(fetch((FOREVER, 0)))
                while pending is not None:
                    rows = await pending
                    pending = None
                    if len(rows) == BATCH:
                        pending = asyncio.create_task(fetch((rows[-1][2], rows[-1][0])))
                    # a stream made since the query started (only a query that reads records names streams)
                    if pipeline.reads_messages and any(r[1] not in names for r in rows):
                        names = await self.repo.stream_names(gid)
                    await asyncio.to_thread(pipeline.feed, account, gname, gid, names, rows)
                    if (time.monotonic() - began) * 1000 > QUERY_TIMEOUT_MS:
                        await self.repo.finish(query_id, "Timeout", self._now(), None, None)
                        stopped = True
                    if stopped or query_id not in self.tasks or await self.repo.status(query_id) == "Cancelled":
                        stopped = True
                        if pending is not None:
                            pending.cancel()
                            with contextlib.suppress(asyncio.CancelledError, Exception):
                                await pending
                        break
            if stopped:
                return
            results = await asyncio.to_thread(pipeline.finish)
            stats = {"recordsMatched": float(pipeline.matched), "recordsScanned": float(pipeline.scanned),
                     "estimatedRecordsSkipped": 0.0, "bytesScanned": float(pipeline.bytes),
                     "estimatedBytesSkipped": 0.0, "logGroupsScanned": float(len(groups))}
            await self.repo.finish(query_id, "Complete", self._now(), json.dumps(results), json.dumps(stats))
            log.debug("query %s: %d rows in %.3fs", query_id, len(results), time.monotonic() - began)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("query %s failed", query_id)
            with contextlib.suppress(Exception):
                await self.repo.finish(query_id, "Failed", self._now(), None, None)

    # == reading queries =======================================================================
    async def _query(self, ctx: RequestContext, query_id: str) -> QueryRow:
        row = await self.repo.query(query_id, ctx.account, ctx.region)
        if row is None:
            raise ResourceNotFound(NO_QUERY)
        return row

    def _status(self, row: QueryRow) -> str:
        if row.status in ("Scheduled", "Running") and self._now() - int(row.created_at) > QUERY_TIMEOUT_MS:
            return "Timeout"
        return row.status

    async def get_query_results(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._query(ctx, params["queryId"])
        status = self._status(row)
        results: list[Any] = json.loads(row.results) if row.results else []
        stats = json.loads(row.statistics) if row.statistics else {
            "recordsMatched": 0.0, "recordsScanned": 0.0, "estimatedRecordsSkipped": 0.0, "bytesScanned": 0.0,
            "estimatedBytesSkipped": 0.0, "logGroupsScanned": 0.0}
        offset = 0
        if params.get("nextToken"):
            doc = _unb64(params["nextToken"])
            if not isinstance(doc, dict) or doc.get("q") != row.id or not isinstance(doc.get("o"), int):
                raise InvalidParameter("The specified nextToken is invalid.")
            offset = doc["o"]
        size = params.get("maxItems")
        size = PAGE if size is None else min(int(size), PAGE)
        page = results[offset:offset + size] if size else results[offset:]
        out: dict[str, Any] = {"queryLanguage": "CWLI", "results": page, "statistics": stats, "status": status}
        if size and offset + size < len(results):
            out["nextToken"] = _b64({"q": row.id, "o": offset + size})
        return out

    async def stop_query(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._query(ctx, params["queryId"])
        if self._status(row) not in ("Scheduled", "Running"):
            raise InvalidParameter(f"Query {row.id} is not running; it is {self._status(row)}.")
        stopped = await self.repo.finish(row.id, "Cancelled", self._now(), None, None)
        task = self.tasks.pop(row.id, None)
        if task is not None:
            task.cancel()
        return {"success": stopped}

    async def describe_queries(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        language = params.get("queryLanguage")
        group = params.get("logGroupName")
        if group:
            await self.service._group(ctx, group)
        status = params.get("status")
        limit = int(params.get("maxResults") or 1000)
        before: tuple[int, str] = (FOREVER, "")
        if params.get("nextToken"):
            doc = _unb64(params["nextToken"])
            try:
                before = (int(doc["t"]), str(doc["i"]))
            except (TypeError, KeyError, ValueError):
                raise InvalidParameter("The specified nextToken is invalid.") from None
        found: list[QueryRow] = []
        more = False
        db_status = None if status in (None, "Timeout") else status
        while len(found) < limit:
            rows = await self.repo.list_queries(ctx.account, ctx.region, db_status, before, 500)
            for r in rows:
                before = (int(r.created_at), r.id)
                if group and group not in json.loads(r.group_names):
                    continue
                if status and self._status(r) != status:
                    continue
                if language and language != "CWLI":
                    continue
                if len(found) == limit:
                    more = True
                    break
                found.append(r)
            if len(rows) < 500 or more:
                break
        out: dict[str, Any] = {"queries": [self._query_info(r) for r in found]}
        if more and found:
            last = found[-1]
            out["nextToken"] = _b64({"t": int(last.created_at), "i": last.id})
        return out

    def _query_info(self, r: QueryRow) -> dict[str, Any]:
        names = json.loads(r.group_names)
        info: dict[str, Any] = {"queryLanguage": "CWLI", "queryId": r.id, "queryString": r.query_string,
                                "status": self._status(r), "createTime": int(r.created_at)}
        if names:
            info["logGroupName"] = names[0]
        if r.finished_at is not None:
            info["queryDuration"] = int(r.finished_at) - int(r.created_at)
        if r.statistics:
            info["bytesScanned"] = json.loads(r.statistics).get("bytesScanned", 0.0)
        return info

    # == GetLogRecord ==========================================================================
    async def get_log_record(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("unmask"):
            raise InvalidParameter("unmask is not supported: tsunagi applies no data protection policies, so log "
                                   "events are never masked.")
        pointer = params["logRecordPointer"]
        try:
            group_id, event_id = (int(x) for x in base64.b64decode(pointer, validate=True).decode().split(":"))
        except (ValueError, TypeError, UnicodeDecodeError):
            raise InvalidParameter(f"The log record pointer {pointer} is invalid.") from None
        row = await self.repo.event(group_id, event_id)
        expired = bool(row is not None and row.retention_days
                       and int(row.ts) < self._now() - int(row.retention_days) * 86_400_000)
        if row is None or row.account != ctx.account or row.region != ctx.region or expired:
            raise ResourceNotFound("The specified log record does not exist.")
        record = event_record(row.account, row.group, group_id, int(row.id), row.stream, int(row.ts),
                              int(row.ingested_at), row.message)
        fields: dict[str, str] = {"@timestamp": str(int(row.ts)), "@ingestionTime": str(int(row.ingested_at)),
                                  "@message": row.message, "@logStream": row.stream, "@log": str(record.value("@log"))}
        record.value("@requestId")      # reads the message's discovered fields
        for name, value in record.items():
            fields.setdefault(name, text(value))
        return {"logRecord": fields}

    # == query definitions =====================================================================
    async def put_query_definition(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        language = params.get("queryLanguage") or "CWLI"
        groups = list(params.get("logGroupNames") or [])
        for name in groups:
            self.service._check_group_name(name, "logGroupNames")
        parameters = params.get("parameters") or []
        def_id = params.get("queryDefinitionId")
        now = self._now()
        args = (ctx.account, ctx.region, params["name"], params["queryString"], json.dumps(groups),
                json.dumps(parameters), language, now)
        if def_id:
            if not await self.repo.put_definition(def_id, *args, update=True):
                raise ResourceNotFound(NO_DEFINITION)
            return {"queryDefinitionId": def_id}
        if await self.repo.count_definitions(ctx.account, ctx.region) >= MAX_DEFINITIONS:
            raise LimitExceeded(f"You have reached the maximum number of query definitions ({MAX_DEFINITIONS}).")
        def_id = str(uuid.uuid4())
        await self.repo.put_definition(def_id, *args, update=False)
        return {"queryDefinitionId": def_id}

    async def describe_query_definitions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        language = params.get("queryLanguage")
        limit = int(params.get("maxResults") or 1000)
        after = ("", "")
        if params.get("nextToken"):
            doc = _unb64(params["nextToken"])
            try:
                after = (str(doc["n"]), str(doc["i"]))
            except (TypeError, KeyError):
                raise InvalidParameter("The specified nextToken is invalid.") from None
        rows = await self.repo.list_definitions(ctx.account, ctx.region, params.get("queryDefinitionNamePrefix"),
                                                after, limit + 1)
        page = rows[:limit]
        out: dict[str, Any] = {"queryDefinitions": [_definition_out(r) for r in page
                                                    if not language or r.language == language]}
        if len(rows) > limit:
            out["nextToken"] = _b64({"n": page[-1].name, "i": page[-1].id})
        return out

    async def delete_query_definition(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if not await self.repo.delete_definition(params["queryDefinitionId"], ctx.account, ctx.region):
            raise ResourceNotFound(NO_DEFINITION)
        return {"success": True}


def _no_group(ident: str, account: str) -> str:
    return f"Log group '{ident}' does not exist for account ID '{account}'"


def _definition_out(r: DefinitionRow) -> dict[str, Any]:
    out: dict[str, Any] = {"queryLanguage": r.language, "queryDefinitionId": r.id, "name": r.name,
                           "queryString": r.query_string, "lastModified": int(r.last_modified),
                           "logGroupNames": json.loads(r.group_names)}
    parameters = json.loads(r.parameters)
    if parameters:
        out["parameters"] = parameters
    return out
