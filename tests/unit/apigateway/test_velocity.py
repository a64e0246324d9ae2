"""API Gateway's mapping templates, case by case: each template with the request below and the output
API Gateway's Velocity (1.7, with its ``$input``, ``$util``, ``$context`` and ``$stageVariables``) gives for
it, as AWS documents the variables ("Variables for data transformations") and Java's String, List and Map
behave. Templates run through :func:`tsunagi.services.apigateway.velocity.render` on the airspeed library."""

from __future__ import annotations

import json

import pytest

from tsunagi.services.apigateway.velocity import UTIL, Input, TemplateFailure, json_path, render

BODY = json.dumps({
    "message": "hi there", "n": 3, "price": 1.5, "flag": True, "none": None,
    "list": ["a", "b", "c"], "things": {"1d2a": {"name": "x"}, "c3d4": {"name": "y"}},
    "nested": {"k": "v", "deep": {"z": [1, 2, {"w": "found"}]}}, "quote": "it's \"q\"", "jp": "日本",
})
PATH = {"id": "42"}
QUERY = {"q": "search term", "page": "2"}
HEADERS = {"Content-Type": "application/json", "X-Trace": "abc"}


def variables() -> dict:
    context = {
        "requestId": "req-1", "extendedRequestId": "ext-1", "stage": "dev", "httpMethod": "POST",
        "resourcePath": "/items/{id}", "resourceId": "res123", "path": "/dev/items/42", "apiId": "abc1234567",
        "accountId": "000000000000", "protocol": "HTTP/1.1", "domainName": "abc1234567.execute-api.localhost",
        "domainPrefix": "abc1234567", "requestTime": "02/Dec/2026:10:00:00 +0000", "requestTimeEpoch": 1796205600000,
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "curl/8.5.0", "apiKey": None, "caller": None},
        "authorizer": {"principalId": "user-1", "tenant": "t-42"},
        "requestOverride": {"header": {}, "querystring": {}, "path": {}},
        "responseOverride": {"header": {}, "status": None},
    }
    return {"input": Input(BODY, dict(PATH), dict(QUERY), dict(HEADERS)), "util": UTIL, "context": context,
            "stageVariables": {"env": "dev", "queue": "orders"}}


CASES: list[tuple[str, str, str]] = [
    # -- $input ------------------------------------------------------------------------------------------
    ("input.body", "$input.body", BODY),
    ("input.json root", "$input.json('$')", json.dumps(json.loads(BODY), ensure_ascii=False, separators=(",", ":"))),
    ("input.json string", "$input.json('$.message')", '"hi there"'),
    ("input.json number", "$input.json('$.n')", "3"),
    ("input.json object", "$input.json('$.nested.deep')", '{"z":[1,2,{"w":"found"}]}'),
    ("input.json missing", "$input.json('$.missing')", "null"),
    ("input.json array index", "$input.json('$.list[1]')", '"b"'),
    ("input.json wildcard", "$input.json('$.things.*.name')", '["x","y"]'),
    ("input.json deep scan", "$input.json('$..w')", '["found"]'),
    ("input.json bracket name", "$input.json(\"$['things']['c3d4'].name\")", '"y"'),
    ("input.path string", "$input.path('$.message')", "hi there"),
    ("input.path number", "$input.path('$.n')", "3"),
    ("input.path decimal", "$input.path('$.price')", "1.5"),
    ("input.path boolean", "$input.path('$.flag')", "true"),
    ("input.path map", "$input.path('$.nested.deep')", "{z=[1, 2, {w=found}]}"),
    ("input.path list", "$input.path('$.list')", "[a, b, c]"),
    ("input.path null is empty", "[$input.path('$.none')]", "[]"),
    ("input.path size", "$input.path('$.things').size()", "2"),
    ("input.path list get", "$input.path('$.list').get(2)", "c"),
    ("input.path field", "$input.path('$.things').c3d4.name", "y"),
    ("input.params by name (path)", "$input.params('id')", "42"),
    ("input.params by name (query)", "$input.params('q')", "search term"),
    ("input.params by name (header)", "$input.params('X-Trace')", "abc"),
    ("input.params missing is empty", "[$input.params('nope')]", "[]"),
    ("input.params().path", "$input.params().path.get('id')", "42"),
    ("input.params().querystring", "$input.params().querystring.get('page')", "2"),
    ("input.params().header", "$input.params().header.get('X-Trace')", "abc"),
    ("input.params() keys", "#foreach($t in $input.params().keySet())$t#if($foreach.hasNext),#end#end",
     "path,querystring,header"),
    ("docs: all params", "#set($all = $input.params())#foreach($type in $all.keySet())#set($p = $all.get($type))"
     "$type:#foreach($name in $p.keySet())$name=$util.escapeJavaScript($p.get($name))#if($foreach.hasNext)&#end#end"
     "#if($foreach.hasNext);#end#end",
     "path:id=42;querystring:q=search term&page=2;header:Content-Type=application\\/json&X-Trace=abc"),
    ("docs: things keySet", "#foreach($key in $input.path('$.things').keySet())$key#if($foreach.hasNext),#end#end",
     "1d2a,c3d4"),
    # -- $util -------------------------------------------------------------------------------------------
    ("urlEncode reserved", "$util.urlEncode('a&b=c%d+e f')", "a%26b%3Dc%25d%2Be+f"),
    ("urlEncode unreserved kept", "$util.urlEncode('AZaz09.-*_')", "AZaz09.-*_"),
    ("urlEncode tilde", "$util.urlEncode('~')", "%7E"),
    ("urlEncode utf-8", "$util.urlEncode('日本')", "%E6%97%A5%E6%9C%AC"),
    ("urlEncode body", "Action=SendMessage&MessageBody=$util.urlEncode($input.path('$.quote'))",
     "Action=SendMessage&MessageBody=it%27s+%22q%22"),
    ("urlDecode", "$util.urlDecode('a%26b+c%E6%97%A5')", "a&b c日"),
    ("escapeJavaScript quotes", "$util.escapeJavaScript($input.path('$.quote'))", "it\\'s \\\"q\\\""),
    ("escapeJavaScript controls", "$util.escapeJavaScript(\"a\tb\")", "a\\tb"),
    ("escapeJavaScript slash", "$util.escapeJavaScript('a/b\\c')", "a\\/b\\\\c"),
    ("escapeJavaScript non-ascii", "$util.escapeJavaScript($input.path('$.jp'))", "\\u65E5\\u672C"),
    ("docs: escapeJavaScript then unescape single quotes",
     "$util.escapeJavaScript($input.path('$.quote')).replaceAll(\"\\\\'\",\"'\")", "it's \\\"q\\\""),
    ("base64Encode", "$util.base64Encode('hello world')", "aGVsbG8gd29ybGQ="),
    ("base64Decode", "$util.base64Decode('aGVsbG8gd29ybGQ=')", "hello world"),
    ("base64 utf-8", "$util.base64Encode('日本')", "5pel5pys"),
    ("parseJson field", "#set($o = $util.parseJson('{\"a\": {\"b\": [10, 20]}}'))$o.a.b.get(1)", "20"),
    ("parseJson of body", "#set($b = $util.parseJson($input.body))$b.nested.k", "v"),
    # -- $context and $stageVariables -----------------------------------------------------------------------
    ("context.requestId", "$context.requestId", "req-1"),
    ("context.stage and method", "$context.stage $context.httpMethod", "dev POST"),
    ("context.resourcePath", "$context.resourcePath", "/items/{id}"),
    ("context.identity.sourceIp", "$context.identity.sourceIp", "127.0.0.1"),
    ("context.identity.userAgent", "$context.identity.userAgent", "curl/8.5.0"),
    ("context null member is empty", "[$context.identity.apiKey]", "[]"),
    ("context.authorizer", "$context.authorizer.principalId/$context.authorizer.tenant", "user-1/t-42"),
    ("context.requestTimeEpoch", "$context.requestTimeEpoch", "1796205600000"),
    ("context.requestTime", "$context.requestTime", "02/Dec/2026:10:00:00 +0000"),
    ("context.extendedRequestId", "$context.extendedRequestId", "ext-1"),
    ("context ids", "$context.apiId $context.accountId $context.resourceId", "abc1234567 000000000000 res123"),
    ("context.domainName and domainPrefix", "$context.domainPrefix|$context.domainName",
     "abc1234567|abc1234567.execute-api.localhost"),
    ("context.path and protocol", "$context.path $context.protocol", "/dev/items/42 HTTP/1.1"),
    ("context.identity map", "#foreach($k in $context.identity.keySet())$k#if($foreach.hasNext),#end#end",
     "sourceIp,userAgent,apiKey,caller"),
    ("requestOverride path", "#set($context.requestOverride.path.id = 'x')$context.requestOverride.path.id", "x"),
    ("stageVariables", "$stageVariables.env-$stageVariables.queue", "dev-orders"),
    ("stageVariables missing", "[$stageVariables.nope]", "[]"),
    ("requestOverride header", "#set($context.requestOverride.header.X-Forwarded = 'yes')"
                               "$context.requestOverride.header.X-Forwarded", "yes"),
    ("requestOverride querystring", "#set($context.requestOverride.querystring.page = '3')"
                                    "$context.requestOverride.querystring.page", "3"),
    ("responseOverride status", "#set($context.responseOverride.status = 201)$context.responseOverride.status", "201"),
    # -- Java methods -------------------------------------------------------------------------------------
    ("String.length", "$input.path('$.message').length()", "8"),
    ("String.toUpperCase", "$input.path('$.message').toUpperCase()", "HI THERE"),
    ("String.toLowerCase", "#set($s = 'MiXeD')$s.toLowerCase()", "mixed"),
    ("String.replaceAll regex", "#set($s = 'a1b22c333')$s.replaceAll('[0-9]+', '#')", "a#b#c#"),
    ("String.replaceAll groups", "#set($s = 'Hello World')$s.replaceAll('(\\w+) (\\w+)', '$2 $1')", "World Hello"),
    ("String.replace literal", "#set($s = 'a.b.c')$s.replace('.', '/')", "a/b/c"),
    ("String.split regex", "#set($s = 'a, b,c')#set($p = $s.split(',\\s*'))$p.size():$p.get(1)", "3:b"),
    ("String.split drops trailing empties", "#set($s = 'a,b,,')$s.split(',').size()", "2"),
    ("String.substring", "$input.path('$.message').substring(3)", "there"),
    ("String.substring range", "$input.path('$.message').substring(0, 2)", "hi"),
    ("String.contains", "$input.path('$.message').contains('there')", "true"),
    ("String.startsWith/endsWith", "#set($s = 'orders.fifo')$s.startsWith('orders') $s.endsWith('.fifo')",
     "true true"),
    ("String.indexOf", "$input.path('$.message').indexOf('t')", "3"),
    ("String.trim", "#set($s = '  pad  ')[$s.trim()]", "[pad]"),
    ("String.equals", "#set($s = 'x')$s.equals('x') $s.equalsIgnoreCase('X')", "true true"),
    ("String.isEmpty", "#set($s = '')$s.isEmpty()", "true"),
    ("String.matches", "#set($s = 'abc123')$s.matches('[a-z]+\\d+')", "true"),
    ("List.size/isEmpty/contains", "$input.path('$.list').size() $input.path('$.list').isEmpty() "
                                   "$input.path('$.list').contains('b')", "3 false true"),
    ("Map.keySet", "$input.path('$.nested').keySet()", "[k, deep]"),
    ("Map.entrySet", "#foreach($e in $input.path('$.things').entrySet())$e.key=$e.value.name;#end", "1d2a=x;c3d4=y;"),
    ("Map.containsKey", "$input.path('$.nested').containsKey('k') $input.path('$.nested').containsKey('q')",
     "true false"),
    ("Map.get and put", "#set($m = {})#set($ignore = $m.put('a', 1))$m.get('a') $m.size()", "1 1"),
    # -- directives ---------------------------------------------------------------------------------------------
    ("foreach list", "#foreach($x in $input.path('$.list'))$x#end", "abc"),
    ("foreach hasNext", "[#foreach($x in $input.path('$.list'))\"$x\"#if($foreach.hasNext),#end#end]",
     '["a","b","c"]'),
    ("foreach count/index", "#foreach($x in ['p','q'])$foreach.count:$foreach.index #end", "1:0 2:1 "),
    ("foreach velocityCount", "#foreach($x in ['p','q'])$velocityCount#end", "12"),
    ("foreach break", "#foreach($x in [1, 2, 3, 4])#if($x == 3)#break#end$x#end", "12"),
    ("foreach range", "#foreach($i in [1..4])$i#end", "1234"),
    ("if/elseif/else", "#set($n = $input.path('$.n'))#if($n > 5)big#elseif($n > 2)mid#{else}small#end", "mid"),
    ("if and/or/not", "#if($input.path('$.flag') && !$input.path('$.none'))yes#{else}no#end", "yes"),
    ("if string equality", "#if($input.params('page') == '2')second#end", "second"),
    ("set arithmetic", "#set($x = $input.path('$.n') * 2 + 1)$x", "7"),
    ("set string interpolation", "#set($g = \"id-$input.params('id')\")$g", "id-42"),
    ("set list literal", "#set($l = ['x', 'y'])$l.size() $l.get(0)", "2 x"),
    ("quiet reference", "$!nothing|${nothing}|$nothing", "||"),
    ("alternate value", "${nothing|'fallback'}", "fallback"),
    ("comment", "a## line comment\nb#* block *#c", "abc"),
    ("stop", "before#stop after", "before"),
    ("docs: SQS body", "Action=SendMessage&MessageBody=$util.urlEncode($input.body)",
     "Action=SendMessage&MessageBody=" + __import__("urllib.parse").parse.quote_plus(BODY, safe="*").replace("~", "%7E")),
    ("docs: JSON passthrough object", '{"name": "$input.params(\'id\')", "body": $input.json(\'$.nested\')}',
     '{"name": "42", "body": {"k":"v","deep":{"z":[1,2,{"w":"found"}]}}}'),
]


@pytest.mark.parametrize(("template", "expected"), [(t, e) for _n, t, e in CASES], ids=[n for n, _t, _e in CASES])
def test_template(template: str, expected: str) -> None:
    assert render(template, variables()) == expected


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 60


def test_override_writes_reach_the_context() -> None:
    v = variables()
    render("#set($context.requestOverride.header.X-Amz-Target = 'AmazonSQS.SendMessage')"
           "#set($context.responseOverride.header.Location = \"/items/$input.params('id')\")", v)
    assert v["context"]["requestOverride"]["header"] == {"X-Amz-Target": "AmazonSQS.SendMessage"}
    assert v["context"]["responseOverride"]["header"] == {"Location": "/items/42"}


@pytest.mark.parametrize("template", ["$input.path('$.a')", "$input.json('$.x')"])
def test_a_body_that_is_not_json_fails_the_template(template: str) -> None:
    v = variables()
    v["input"] = Input("{not json", {}, {}, {})
    with pytest.raises(TemplateFailure):
        render(template, v)


@pytest.mark.parametrize("template", ["#set($x = )", "#foreach($x in $y)no end", "$input.path('$.list').get(9)"])
def test_broken_templates_fail_cleanly(template: str) -> None:
    with pytest.raises(TemplateFailure):
        render(template, variables())


def test_json_path_refuses_nonsense() -> None:
    with pytest.raises(TemplateFailure):
        json_path({"a": 1}, "$.a[")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["$input.body", "$input.json('$')", "$input.path('$.n')", "#set($x = ", ")", "#if(",
                           "#end", "#foreach($i in ", "#else", "$util.urlEncode(", "$context.requestOverride.",
                           "'", '"', "${", "}", "(", "$!", "##", "#*", "*#", "#break", "#stop", "[1..", "]", ".size()",
                           "$x", " ", "\n", "==", "&&", "$util.parseJson('{')", "#macro(", "#parse('x')"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=5), max_size=12).map("".join))
def test_any_template_renders_or_fails_cleanly(template: str) -> None:
    try:
        out = render(template, variables())
    except TemplateFailure:
        return
    assert isinstance(out, str)


# -- flat templates (text and references, run without airspeed's per-element machinery) answer as airspeed --

def _by_airspeed(template: str, v: dict) -> str:
    from tsunagi.services.apigateway import velocity

    original = velocity._flat
    velocity._flat = lambda text: None          # type: ignore[assignment]
    try:
        return render(template, v)
    finally:
        velocity._flat = original                # type: ignore[assignment]


def _outcome(run, template: str) -> tuple[str, str]:
    try:
        return "ok", run(template, variables())
    except TemplateFailure as e:
        return "failed", str(e)


_REFS = st.sampled_from([
    "$input.body", "$input.json('$')", "$input.json('$.list')", "$input.path('$.n')", "$input.path('$.things')",
    "$input.path('$.list').size()", "$input.path('$.list').get(1)", "$input.path('$.message').length()",
    "$input.params('id')", "$input.params('nope')", "$input.params().header.get('X-Trace')",
    "$input.params().querystring", "$input.params().path.id", "$input.nothing",
    "$util.urlEncode($input.body)", "$util.escapeJavaScript($input.path('$.quote'))", "$util.base64Encode('x')",
    "$util.urlDecode('a%20b+c')", "$util.parseJson($input.body).message", "$util.parseJson('{')",
    "$util.nothing('x')", "$context.requestId", "$context.identity.sourceIp", "$context.identity.apiKey",
    "$context.authorizer.tenant", "$context.nothing", "$context.nothing.deeper", "$context.keySet()",
    "$context.identity.size()", "$context.requestTimeEpoch", "$stageVariables.env", "$stageVariables.missing",
    "$stageVariables.get('queue')", "$stageVariables.containsKey('env')", "$context.stage.toUpperCase()",
    "$context.stage.replaceAll('d', 'D')", "$context.path.split('/')", "$context.path.substring(1, 4)",
    "$context.path.substring(9, 99)", "$nothing", "$nothing.at.all", "$!nothing", "${context.stage}",
    "$input.path('$.flag')", "$input.path('$.price')", "$input.path('$.none')", "$util.base64Decode(1)",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_REFS | st.sampled_from(["", " ", "&x=", "\n", "{\"a\": \"", "\"}", "## note\n", "100%"]),
                max_size=6).map("".join))
def test_flat_templates_answer_as_airspeed_does(template: str) -> None:
    assert _outcome(render, template) == _outcome(_by_airspeed, template)
