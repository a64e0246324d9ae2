"""Filter patterns, table-driven from the examples in AWS's "Filter pattern syntax" guide."""

from __future__ import annotations

import json

import pytest

from tsunagi.services.logs.patterns import FilterPatternError, compile_pattern, split_fields

# -- terms -------------------------------------------------------------------------------------
FATAL = "[ERROR] A fatal exception has occurred"
EXITING = "Exiting with ERRORCODE: -1"
CAUGHT = "[ERROR] Caught IllegalArgumentException"
UNHANDLED = "[ERROR] Unhandled Exception"
WARN_FAILED = "[WARN] Failed to process the request"
ERROR_FAILED = "[ERROR] Unable to continue: Failed to process the request"
BOTH = "ERROR WARN message"
ERROR_ONLY = "ERROR message"
WARN_ONLY = "WARN message"

TERM_CASES = [
    # (pattern, message, matches)
    ("ERROR", FATAL, True),
    ("ERROR", EXITING, True),                 # substring: ERRORCODE contains ERROR
    ("ERROR", WARN_ONLY, False),
    ("error", FATAL, False),                  # case-sensitive
    ('"ERROR" - "Exiting"', FATAL, True),
    ('"ERROR" - "Exiting"', EXITING, False),
    ("ERROR -Exiting", EXITING, False),
    ("ERROR Exception", CAUGHT, True),
    ("ERROR Exception", UNHANDLED, True),
    ("ERROR Exception", FATAL, False),
    ("Failed to process the request", WARN_FAILED, True),
    ("Failed to process the request", ERROR_FAILED, True),
    ("the Failed request", WARN_FAILED, True),  # unquoted words: each must appear, in any order
    ('"the Failed request"', WARN_FAILED, False),  # quoted: the exact phrase
    ('"Failed to process"', WARN_FAILED, True),
    ("ERROR", BOTH, True),
    ("ERROR", ERROR_ONLY, True),
    ("ERROR", WARN_ONLY, False),
    ("?ERROR ?WARN", BOTH, True),
    ("?ERROR ?WARN", ERROR_ONLY, True),
    ("?ERROR ?WARN", WARN_ONLY, True),
    ("?ERROR ?WARN", "INFO message", False),
    ("ERROR WARN", BOTH, True),
    ("ERROR WARN", ERROR_ONLY, False),
    ("ERROR WARN", WARN_ONLY, False),
    ("ERROR -WARN", BOTH, False),
    ("ERROR -WARN", ERROR_ONLY, True),
    ("ERROR -WARN", WARN_ONLY, False),
    ('"ERROR 401"', "[ERROR 401] UNAUTHORIZED REQUEST", True),
    ('"ERROR 401"', "[ERROR 400] BAD REQUEST", False),
    ('"say \\"hi\\""', 'they say "hi" twice', True),
    ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
    ("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", True),
    ("%^\\[ERROR%", "[ERROR 400] BAD REQUEST", True),
    ("%^\\[ERROR%", "x [ERROR 400]", False),
    ("%colou?r%", "the color", True),
    ("%colou?r%", "the colour", True),
    ("%gray|grey%", "grey sky", True),
    ("", "anything at all", True),
    ('""', "anything at all", True),
    ("   ", "anything at all", True),
]


@pytest.mark.parametrize(("pattern", "message", "matches"), TERM_CASES)
def test_terms(pattern: str, message: str, matches: bool) -> None:
    assert compile_pattern(pattern).match(message) is matches


def test_plain_terms_are_the_prefilter_and_optional_or_excluded_ones_are_not() -> None:
    assert compile_pattern('ERROR "Failed to" ?WARN -DEBUG %x%').required == ["ERROR", "Failed to"]
    assert compile_pattern("{ $.a = 1 }").required == []


# -- JSON --------------------------------------------------------------------------------------
TRAIL = json.dumps({
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
    "SomeObject": None,
    "ThisFlag": True,
})
USERS = json.dumps({
    "user": {"id": 1, "email": "John.Stiles@example.com"},
    "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
    "actions": ["GET", "PUT", "DELETE"],
    "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
})
METRICS = json.dumps({"latency": 500, "numbers": [9, 0.005], "errorCode": 400,
                      "processes": [0, 1, 2, 3, {"averageRuntime": 55.5}], "level": "ERROR", "n": 7})

JSON_CASES = [
    ('{ $.eventType = "UpdateTrail" }', TRAIL, True),
    ("{ $.eventType = UpdateTrail }", TRAIL, True),
    ('{ $.eventType = "Update*" }', TRAIL, True),
    ('{ $.eventType = "*Trail" }', TRAIL, True),
    ('{ $.eventType = "*dateTr*" }', TRAIL, True),
    ('{ $.eventType = "Up*Trail" }', TRAIL, False),      # '*' inside the value is literal
    ('{ $.eventType = "updatetrail" }', TRAIL, False),
    ("{ $.sourceIPAddress != 123.123.* }", TRAIL, True),
    ("{ $.sourceIPAddress != 111.111.* }", TRAIL, False),
    ('{ $.arrayKey[0] = "value" }', TRAIL, True),
    ('{ $.arrayKey[1] = "value" }', TRAIL, False),
    ("{ $.objectList[1].id = 2 }", TRAIL, True),
    ("{ $.objectList[0].id = 2 }", TRAIL, False),
    ("{ $.SomeObject IS NULL }", TRAIL, True),
    ("{ $.eventType IS NULL }", TRAIL, False),
    ("{ $.Missing IS NULL }", TRAIL, False),
    ("{ $.SomeOtherObject NOT EXISTS }", TRAIL, True),
    ("{ $.SomeObject NOT EXISTS }", TRAIL, False),
    ("{ $.eventType EXISTS }", TRAIL, True),
    ("{ $.ThisFlag IS TRUE }", TRAIL, True),
    ("{ $.ThisFlag IS FALSE }", TRAIL, False),
    ("{ $.eventType = * }", TRAIL, True),
    ("{ $.Missing = * }", TRAIL, False),
    ("{ $.objectList[*].name = b }", TRAIL, True),
    ("{ ($.user.id = 1) && ($.users[0].email = \"John.Doe@example.com\") }", USERS, True),
    ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', USERS, False),
    ('{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }',
     USERS, True),
    ('{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }',
     USERS, False),
    ("{ $.coordinates[1][2] = 6 }", USERS, True),
    ("{ $.users = 1 }", json.dumps({"users": [1, 2, 3]}), False),   # an array is not a value
    ("{ $.users != 1 }", json.dumps({"users": [1, 2, 3]}), False),
    ("{ $.latency >= 500 }", METRICS, True),
    ("{ $.latency > 500 }", METRICS, False),
    ("{ $.numbers[0] < 10e3 }", METRICS, True),
    ("{ $.numbers[1] < 10e-3 }", METRICS, True),
    ("{ $.numbers[0] < 10e-3 }", METRICS, False),
    ("{ $.processes[4].averageRuntime <= 55.5 }", METRICS, True),
    ("{ $.errorCode = 400 }", METRICS, True),
    ("{ $.errorCode != 500 }", METRICS, True),
    ("{ $.errorCode != 400 }", METRICS, False),
    ("{ $.latency > +100 }", METRICS, True),
    ('{ $.level = "ERROR" }', METRICS, True),
    ('{ $.level = "ERROR" && $.n > 5 }', METRICS, True),
    ('{ $.level = "ERROR" && $.n > 7 }', METRICS, False),
    ("{ $.n > 5 }", METRICS, True),
    ('{ $.errorCode = "400" }', METRICS, False),     # a string value does not equal a number
    ("{ $.level = %^ERR% }", METRICS, True),
    ('{ $.level = "ERROR" }', "ERROR not json", False),
    ('{ $.level = "ERROR" }', '{"level": "ERROR"', False),
    ('{ $.level = "ERROR" }', '  {"level": "ERROR"}\n', True),
]


@pytest.mark.parametrize(("pattern", "message", "matches"), JSON_CASES)
def test_json(pattern: str, message: str, matches: bool) -> None:
    assert compile_pattern(pattern).match(message) is matches


# -- space-delimited ---------------------------------------------------------------------------
APACHE_200 = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'
APACHE_500 = '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324'
APACHE_404 = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'
APACHE_403 = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 403 1534'
FIELDS = "[ip, user, username, timestamp, request, status_code, bytes"

DELIMITED_CASES = [
    (FIELDS + "]", APACHE_200, True),
    (FIELDS + ", extra]", APACHE_200, False),            # the number of fields must agree
    ("[..., status_code, bytes]", APACHE_200, True),
    ("[ip, user, ..., status_code, bytes]", APACHE_200, True),
    ("[ip, user, ...]", APACHE_200, True),
    (FIELDS + " > 1000]", APACHE_200, True),
    (FIELDS + " > 2000]", APACHE_200, False),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", APACHE_200, True),
    ("[ip, user, username, timestamp, request, status_code = 200, bytes]", APACHE_500, False),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", APACHE_404, True),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", APACHE_200, False),
    ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", APACHE_404, True),
    ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", APACHE_200, False),
    ("[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]", APACHE_404, True),
    ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]", APACHE_404, True),
    ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, bytes]", APACHE_403, False),
    ("[..., request=*.html*, status_code=4*,]", APACHE_404, True),
    ("[ip = 127.0.0.1, ...]", APACHE_200, True),
    ('[ip, user, username, timestamp = "10/Oct/2000:13:25:15 -0700", ...]', APACHE_200, True),
    ("[w1=ERROR, w2]", "ERROR message", True),
    ("[w1=ERROR, w2]", "WARN message", False),
    ("[w1=ERROR || w1=WARN, w2]", "WARN message", True),
    ("[w1=ERROR || w1=WARN, w2]", "INFO message", False),
    ("[w1=ERROR, w2]", "ERROR WARN message", False),     # three fields, two names
]


@pytest.mark.parametrize(("pattern", "message", "matches"), DELIMITED_CASES)
def test_space_delimited(pattern: str, message: str, matches: bool) -> None:
    assert compile_pattern(pattern).match(message) is matches


def test_fields_treat_quotes_and_brackets_as_one() -> None:
    assert split_fields(APACHE_200) == ["127.0.0.1", "-", "frank", "10/Oct/2000:13:25:15 -0700",
                                        "GET /apache_pb.gif HTTP/1.0", "200", "1534"]


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", [
    "{ $.a = 1",
    "{ a = 1 }",
    "{ $.a > abc }",
    "{ $.a IS MAYBE }",
    "{ $.a = 1 && }",
    "{ ($.a = 1 }",
    "{ }",
    "[a, ..., b, ...]",
    "[a = 1",
    '"unterminated',
    "ERROR -",
    "%(unclosed%",
])
def test_invalid_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


def test_regular_expressions_cannot_backtrack_catastrophically() -> None:
    # On a backtracking engine this pattern takes 2**n steps on n a's; RE2 is linear.
    pattern = compile_pattern("%^(a|a)*b%")
    assert not pattern.match("a" * 5000)
    assert pattern.match("a" * 5000 + "b")


def test_backreferences_are_refused_as_invalid() -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(r"%(a)\1%")
