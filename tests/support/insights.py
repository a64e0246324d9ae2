"""A fixed log corpus and Logs Insights queries with their expected results.

Used by the evaluator's unit tests (``tests/unit/logs/test_insights.py``), the service's tests on
both stores and the boto3 integration tests (``tests/integration/test_logs_insights.py``).

Two groups: ``/aws/lambda/orders`` (a function's platform lines, REPORT lines included, and JSON
messages) and ``/app/web`` (access-log lines and key=value lines). Times are offsets in ms from a
base that is a whole hour; ``T(offset)`` in an expected row stands for that time as AWS formats it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ACCOUNT = "000000000000"
LAMBDA = "/aws/lambda/orders"
WEB = "/app/web"
S1 = "2024/01/01/[$LATEST]aaaaaaaa"
S2 = "2024/01/01/[$LATEST]bbbbbbbb"
W1 = "web-1"

CORPUS: dict[str, list[tuple[str, int, str]]] = {
    LAMBDA: [
        (S1, 0, "START RequestId: r1 Version: $LATEST"),
        (S1, 1000, '{"level":"INFO","msg":"order created","orderId":"o-1","amount":25.5,'
                   '"user":{"id":"u1","tier":"gold"}}'),
        (S1, 2000, '{"level":"ERROR","msg":"payment failed","orderId":"o-2","amount":99,'
                   '"user":{"id":"u2","tier":"silver"},"codes":[402,500]}'),
        (S1, 3000, "END RequestId: r1"),
        (S1, 3001, "REPORT RequestId: r1\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\t"
                   "Max Memory Used: 64 MB\tInit Duration: 250.5 ms\t"),
        (S2, 360_000, "START RequestId: r2 Version: $LATEST"),
        (S2, 361_000, '{"level":"INFO","msg":"order created","orderId":"o-3","amount":10,'
                      '"user":{"id":"u1","tier":"gold"}}'),
        (S2, 362_000, '{"level":"WARN","msg":"slow db","latencyMs":1500}'),
        (S2, 363_000, "END RequestId: r2"),
        (S2, 363_001, "REPORT RequestId: r2\tDuration: 1510.75 ms\tBilled Duration: 1511 ms\tMemory Size: 128 MB\t"
                      "Max Memory Used: 70 MB\t"),
    ],
    WEB: [
        (W1, 60_000, "10.0.0.1 GET /index.html 200 512 12ms"),
        (W1, 120_000, "10.0.0.2 GET /missing 404 0 3ms"),
        (W1, 180_000, "10.0.0.1 POST /api/orders 500 128 250ms"),
        (W1, 240_000, "user=alice action=login status=ok"),
        (W1, 600_000, "user=bob action=logout status=ok"),
    ],
}


class T:
    """An expected timestamp: ``offset`` ms after the corpus's base."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


def fmt(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


A, B, AB = (LAMBDA,), (WEB,), (LAMBDA, WEB)

# (query, groups, expected rows as {field: value} in order (@ptr left out))
CASES: list[tuple[str, tuple[str, ...], list[dict[str, Any]]]] = [
    ('filter level = "ERROR" | fields orderId, amount', A, [{"orderId": "o-2", "amount": "99"}]),
    ('filter level != "INFO" and ispresent(level) | fields level | sort level asc', A,
     [{"level": "ERROR"}, {"level": "WARN"}]),
    ("filter amount > 20 | fields orderId | sort orderId", A, [{"orderId": "o-1"}, {"orderId": "o-2"}]),
    ("filter amount >= 10 and amount <= 25.5 | fields orderId | sort amount desc", A,
     [{"orderId": "o-1"}, {"orderId": "o-3"}]),
    ('filter user.tier = "gold" | stats count(*) as n', A, [{"n": "2"}]),
    ("filter codes.1 = 500 | fields orderId", A, [{"orderId": "o-2"}]),
    ("filter @message like /payment|slow/ | fields msg | sort msg", A, [{"msg": "payment failed"}, {"msg": "slow db"}]),
    ('filter @message like "RequestId" | stats count() as n by @type | sort @type', A,
     [{"@type": "END", "n": "2"}, {"@type": "REPORT", "n": "2"}, {"@type": "START", "n": "2"}]),
    ('filter @type = "REPORT" | fields @requestId, @duration, @billedDuration, @memorySize, @maxMemoryUsed '
     "| sort @duration asc", A,
     [{"@requestId": "r1", "@duration": "102.25", "@billedDuration": "103", "@memorySize": "128000000",
       "@maxMemoryUsed": "64000000"},
      {"@requestId": "r2", "@duration": "1510.75", "@billedDuration": "1511", "@memorySize": "128000000",
       "@maxMemoryUsed": "70000000"}]),
    ('filter @type = "REPORT" | stats avg(@duration) as avgd, max(@duration) as maxd, min(@billedDuration) as minb, '
     "sum(@billedDuration) as sumb", A, [{"avgd": "806.5", "maxd": "1510.75", "minb": "103", "sumb": "1614"}]),
    ('filter @type = "REPORT" and ispresent(@initDuration) | fields @requestId, @initDuration', A,
     [{"@requestId": "r1", "@initDuration": "250.5"}]),
    ('filter @type = "REPORT" | stats max(@maxMemoryUsed / 1000 / 1000) as mb', A, [{"mb": "70"}]),
    ("stats count(*) as n by bin(5m) as t | sort t asc", A, [{"t": T(0), "n": "5"}, {"t": T(300_000), "n": "5"}]),
    ("filter ispresent(level) | stats count(*) by level | sort level", A,
     [{"level": "ERROR", "count(*)": "1"}, {"level": "INFO", "count(*)": "2"}, {"level": "WARN", "count(*)": "1"}]),
    ("stats count_distinct(user.id) as users", A, [{"users": "2"}]),
    ("filter ispresent(amount) | stats pct(amount, 50) as p50, pct(amount, 100) as p100", A,
     [{"p50": "25.5", "p100": "99"}]),
    ("filter ispresent(level) | stats earliest(level) as first, latest(level) as last", A,
     [{"first": "INFO", "last": "WARN"}]),
    ('filter ispresent(orderId) | fields concat(orderId, ":", user.tier) as k | sort k', A,
     [{"k": "o-1:gold"}, {"k": "o-2:silver"}, {"k": "o-3:gold"}]),
    ("filter ispresent(msg) | fields strlen(msg) as len, toupper(level) as up | sort len desc | limit 2", A,
     [{"len": "14", "up": "ERROR"}, {"len": "13", "up": "INFO"}]),
    ('filter level in ["ERROR", "WARN"] | fields level | sort level desc', A, [{"level": "WARN"}, {"level": "ERROR"}]),
    ('filter level not in ["INFO"] and ispresent(level) | stats count(*) as n', A, [{"n": "2"}]),
    ("filter not ispresent(level) | stats count(*) as n", A, [{"n": "6"}]),
    ('filter (level = "INFO" or level = "WARN") and msg not like "slow" | stats count(*) as n', A, [{"n": "2"}]),
    ("filter amount * 2 > 50 | fields orderId, amount * 2 as double | sort double", A,
     [{"orderId": "o-1", "double": "51"}, {"orderId": "o-2", "double": "198"}]),
    ("filter ispresent(amount) | fields abs(amount - 50) as d, floor(amount) as f, ceil(amount) as c | sort d", A,
     [{"d": "24.5", "f": "25", "c": "26"}, {"d": "40", "f": "10", "c": "10"}, {"d": "49", "f": "99", "c": "99"}]),
    ('filter @type = "START" | fields @requestId | sort @requestId desc', A,
     [{"@requestId": "r2"}, {"@requestId": "r1"}]),
    ("filter ispresent(latencyMs) | fields latencyMs, @logStream", A, [{"latencyMs": "1500", "@logStream": S2}]),
    ('fields @timestamp, level | filter level = "WARN"', A, [{"@timestamp": T(362_000), "level": "WARN"}]),
    ("filter ispresent(level) | sort @timestamp desc | limit 1 | fields msg", A, [{"msg": "slow db"}]),
    ("filter ispresent(level) | sort @timestamp asc | limit 2 | display orderId", A,
     [{"orderId": "o-1"}, {"orderId": "o-2"}]),
    ('parse @message "RequestId: * Version: *" as rid, ver | filter ispresent(rid) | fields rid, ver | sort rid', A,
     [{"rid": "r1", "ver": "$LATEST"}, {"rid": "r2", "ver": "$LATEST"}]),
    ("filter ispresent(user.id) | dedup user.id | fields user.id | sort user.id", A,
     [{"user.id": "u1"}, {"user.id": "u2"}]),
    ("filter @message like /(?i)PAYMENT/ | stats count(*) as n", A, [{"n": "1"}]),
    ("filter msg =~ /^order/ | stats sum(amount) as total", A, [{"total": "35.5"}]),
    ("filter ispresent(user.tier) | stats count(*) as n by user.tier | sort n desc", A,
     [{"user.tier": "gold", "n": "2"}, {"user.tier": "silver", "n": "1"}]),
    ('filter @logStream like "bbbb" | stats count(*) as n', A, [{"n": "5"}]),
    ("fields @log | limit 1", A, [{"@log": f"{ACCOUNT}:{LAMBDA}"}]),
    ("stats count(*) as n", A, [{"n": "10"}]),
    ("stats count(*) as n", AB, [{"n": "15"}]),
    ('parse @message "* * * * * *ms" as ip, method, path, status, bytes, ms | filter status >= 400 '
     "| fields path, status | sort status", B, [{"path": "/missing", "status": "404"},
                                               {"path": "/api/orders", "status": "500"}]),
    (r"parse @message /(?<ip>\d+\.\d+\.\d+\.\d+) (?<method>\w+) (?<path>\S+) (?<status>\d+)/ "
     "| filter ispresent(ip) | stats count(*) as n by ip | sort ip", B, [{"ip": "10.0.0.1", "n": "2"}, {"ip": "10.0.0.2", "n": "1"}]),
    ('parse @message "user=* action=* status=*" as u, a, s | filter ispresent(u) | fields u, a | sort u', B,
     [{"u": "alice", "a": "login"}, {"u": "bob", "a": "logout"}]),
    ("stats count(*) as n by bin(5m) as t | sort t", B, [{"t": T(0), "n": "4"}, {"t": T(600_000), "n": "1"}]),
    ('filter @message like "GET" | stats count(*) as n by @logStream', B, [{"@logStream": W1, "n": "2"}]),
    ("stats count(*) as n by @log | sort n desc", AB,
     [{"@log": f"{ACCOUNT}:{LAMBDA}", "n": "10"}, {"@log": f"{ACCOUNT}:{WEB}", "n": "5"}]),
    ('filter @message like "order" | stats count(*) as n', AB, [{"n": "4"}]),
    ("fields @timestamp | sort @timestamp desc | limit 1", AB, [{"@timestamp": T(600_000)}]),
    ('filter ispresent(level) | fields coalesce(orderId, "none") as o | sort o', A,
     [{"o": "none"}, {"o": "o-1"}, {"o": "o-2"}, {"o": "o-3"}]),
    ("fields datefloor(@timestamp, 1h) as h | stats count(*) as n by h", A, [{"h": T(0), "n": "10"}]),
    ('filter @message like "GET" or @message like "POST" | parse @message "* * * * *" as ip, method, path, status, '
     "rest | stats count(*) by method | sort method", B,
     [{"method": "GET", "count(*)": "2"}, {"method": "POST", "count(*)": "1"}]),
    ("filter ispresent(amount) | stats sum(amount) as s, avg(amount) as a by user.tier | sort s desc", A,
     [{"user.tier": "silver", "s": "99", "a": "99"}, {"user.tier": "gold", "s": "35.5", "a": "17.75"}]),
    ("filter -amount < -50 | fields orderId", A, [{"orderId": "o-2"}]),
    ("filter ispresent(amount) | stats stddev(amount) as sd, percentile(amount, 50) as p, count(orderId) as n", A,
     [{"sd": "47.54559215461864", "p": "25.5", "n": "3"}]),
    ('filter orderId = "o-1" | fields substr(msg, 0, 5) as a, trim("  x ") as b, strcontains(msg, "created") as c, '
     'isblank(" ") as d, greatest(1, amount, 3) as e, least(5, amount) as f, sqrt(16) as g, '
     "tomillis(@timestamp) - tomillis(datefloor(@timestamp, 1h)) as h, dateceil(@timestamp, 1h) as i, "
     'log(1) as j, frommillis(0) as k, ltrim(" y") as l, rtrim("z ") as r, amount % 10 as m', A,
     [{"a": "order", "b": "x", "c": "1", "d": "1", "e": "25.5", "f": "5", "g": "4", "h": "1000", "i": T(3_600_000),
       "j": "0", "k": "1970-01-01 00:00:00.000", "l": "y", "r": "z", "m": "5.5"}]),
    ("stats count(*) by bin(5m) | sort bin(5m) desc", A,
     [{"bin(5m)": T(300_000), "count(*)": "5"}, {"bin(5m)": T(0), "count(*)": "5"}]),
    ("filter ispresent(level) | stats count(*) by level | filter count(*) > 1", A,
     [{"level": "INFO", "count(*)": "2"}]),
    ('filter ispresent(level) | fields tolower(level) as l, replace(msg, " ", "_") as m | filter l = "warn"', A,
     [{"l": "warn", "m": "slow_db"}]),
]

# (query, AWS's message) for queries that do not parse or compile
MALFORMED: list[tuple[str, str]] = [
    ("fields @timestamp |", "unexpected end of query at line 1 and position 19"),
    ("fields @timestamp | limit x", "unexpected symbol found x at line 1 and position 26"),
    ("filter level = = 1", "unexpected symbol found = at line 1 and position 15"),
    ("stats count(*) by", "unexpected end of query at line 1 and position 17"),
    ("fields a\n| sort a sideways", "unexpected symbol found sideways at line 2 and position 9"),
    ("count(*)", "unexpected symbol found count at line 1 and position 0"),
    ("fields nosuch(a)", "Unknown function: nosuch"),
    ("fields count(*)", "Aggregate function count is only allowed in stats: count(*)"),
    ('parse @message "a=* b=*" as a', "Expected 2 identifiers in parse, found 1"),
    ("filter @message like /(/", "Invalid regular expression /(/: missing ): ("),
    ('parse @message /(\\w+)=/', "A parse regular expression must have named capture groups (?<name>...)"),
    ("unmask @message", "unmask is not supported: tsunagi applies no data protection policies, so log events "
                        "are never masked"),
]


def expected_rows(rows: list[dict[str, Any]], base: int) -> list[list[dict[str, str]]]:
    return [[{"field": k, "value": fmt(base + v.offset) if isinstance(v, T) else v} for k, v in row.items()]
            for row in rows]


def without_ptr(results: list[list[dict[str, str]]]) -> list[list[dict[str, str]]]:
    return [[f for f in row if f["field"] != "@ptr"] for row in results]


def ordered(query: str) -> bool:
    """Results of a query without sort come in no promised order."""
    return "sort" in query


def same(query: str, got: list[list[dict[str, str]]], want: list[list[dict[str, str]]]) -> bool:
    got = without_ptr(got)
    if ordered(query):
        return got == want
    key = repr
    return sorted(got, key=key) == sorted(want, key=key)
