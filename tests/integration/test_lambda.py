"""Lambda through boto3 and the aws CLI on both stores: deploy, invoke, errors, timeouts, throttling, logs."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import ROLE, create, invoke, make_zip, wait_for
from tests.integration.test_logs import tsunagi_logs


def _code(e: ClientError) -> tuple[str, int, str]:
    return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"].get("Message", ""))


def test_deploy_invoke_warm_reuse_and_environment(server) -> None:
    lam = server.client("lambda")
    created = lam.create_function(
        FunctionName="hello", Runtime="python3.11", Role=ROLE, Handler="app.handler", Timeout=5, MemorySize=256,
        Code={"ZipFile": make_zip({"app.py": open_handlers()})}, Environment={"Variables": {"GREETING": "hi"}},
        Tags={"team": "a"}, Description="says hi")
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert created["Version"] == "$LATEST" and created["PackageType"] == "Zip"
    lam.get_waiter("function_active_v2").wait(FunctionName="hello", WaiterConfig={"Delay": 0.1})
    got = lam.get_function(FunctionName="hello")
    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "a"}
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]

    r, body = invoke(lam, "hello", {"x": 1}, ClientContext=base64.b64encode(
        json.dumps({"custom": {"who": "me"}}).encode()).decode())
    assert r["StatusCode"] == 200 and "FunctionError" not in r and r["ExecutedVersion"] == "$LATEST"
    assert body["count"] == 1 and body["event"] == {"x": 1} and body["cc"] == {"who": "me"}
    assert body["request_id"] == r["ResponseMetadata"]["RequestId"]
    env = body["env"]
    assert env["GREETING"] == "hi" and env["AWS_REGION"] == "us-east-1" and env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "hello" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11" and env["TZ"] == ":UTC"
    assert env["AWS_ENDPOINT_URL"] == server.url and env["LAMBDA_TASK_ROOT"] and env["LAMBDA_RUNTIME_DIR"]
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/hello"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["stream"]
    # warm reuse: module state survives
    counts = [invoke(lam, "hello", {"n": i})[1]["count"] for i in range(3)]
    assert counts == [2, 3, 4]


def test_code_location_downloads_the_zip(server) -> None:
    lam = server.client("lambda")
    create(lam, "dl", "app.handler")
    location = lam.get_function(FunctionName="dl")["Code"]["Location"]
    assert location.startswith(server.url + "/")
    with urllib.request.urlopen(location, timeout=10) as resp:
        assert resp.read()[:2] == b"PK"
    # the link opens that one package only while its signature holds: a changed expiry is refused
    path, _, query = location.partition("?")
    forged = path + "?" + query.replace("X-Tsunagi-Expires=", "X-Tsunagi-Expires=9")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as bare:
        urllib.request.urlopen(path, timeout=10)
    assert bare.value.code == 403


def open_handlers() -> str:
    from tests.integration.lambda_support import PY_HANDLERS

    return PY_HANDLERS


def test_log_tail_dry_run_and_async(server) -> None:
    lam = server.client("lambda")
    create(lam, "rec", "app.record")
    r = lam.invoke(FunctionName="rec", Payload=b'{"k": "v"}', LogType="Tail")
    tail = base64.b64decode(r["LogResult"]).decode()
    assert 'RECORD {"k": "v"}' in tail
    assert "START RequestId: " in tail and "END RequestId: " in tail and "REPORT RequestId: " in tail
    assert "Init Duration: " in tail and "Max Memory Used: " in tail
    dry = lam.invoke(FunctionName="rec", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    ev = lam.invoke(FunctionName="rec", InvocationType="Event", Payload=b'{"async": true}')
    assert ev["StatusCode"] == 202
    logs = server.client("logs")

    def found() -> bool:
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/rec")["events"]
        except ClientError:
            return False
        return any('RECORD {"async": true}' in e["message"] for e in events)

    wait_for(found, timeout=15)


def test_logs_reach_cloudwatch(server) -> None:
    lam = server.client("lambda")
    logs = server.client("logs")
    create(lam, "logger", "app.record")
    r = lam.invoke(FunctionName="logger", Payload=b'{"hello": 1}')
    assert r["StatusCode"] == 200

    def streams() -> list:
        try:
            return logs.describe_log_streams(logGroupName="/aws/lambda/logger")["logStreams"]
        except ClientError:
            return []

    found = wait_for(streams)
    name = found[0]["logStreamName"]
    assert name.startswith(time.strftime("%Y/%m/%d/", time.gmtime())) and "[$LATEST]" in name
    messages = wait_for(lambda: [e["message"] for e in logs.get_log_events(
        logGroupName="/aws/lambda/logger", logStreamName=name, startFromHead=True)["events"]
        if e["message"].startswith("REPORT")] and [e["message"] for e in logs.get_log_events(
            logGroupName="/aws/lambda/logger", logStreamName=name, startFromHead=True)["events"]])
    text = "\n".join(messages)
    assert text.index("START RequestId") < text.index('RECORD {"hello": 1}') < text.index("END RequestId")
    assert "REPORT RequestId" in text and "Billed Duration" in text
    # and through the aws CLI, as seed 002 reads them
    out = json.loads(server.aws("logs", "get-log-events", "--log-group-name", "/aws/lambda/logger",
                                "--log-stream-name", name).stdout)
    assert any("END RequestId" in e["message"] for e in out["events"])


def test_logs_go_to_the_log_group_logging_config_names(server) -> None:
    # LoggingConfig.LogGroup is where the function's logs go, not only what it is told
    lam = server.client("lambda")
    logs = server.client("logs")
    create(lam, "custom-logs", "app.handler", LoggingConfig={"LogGroup": "/team/shared"})
    _r, body = invoke(lam, "custom-logs", {"n": 1})
    assert body["env"]["AWS_LAMBDA_LOG_GROUP_NAME"] == "/team/shared"

    def events(group: str) -> list[str]:
        try:
            return [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        except ClientError:
            return []

    lines = wait_for(lambda: [m for m in events("/team/shared") if m.startswith("REPORT")] and events("/team/shared"))
    assert any(m.startswith("START RequestId") for m in lines) and any('"n": 1' in m for m in lines)
    assert events("/aws/lambda/custom-logs") == []
    # `tsunagi logs <function>` reads the group the function logs to
    out = tsunagi_logs(server, "custom-logs")
    assert out.returncode == 0, out.stderr
    assert '"n": 1' in out.stdout and "START RequestId" in out.stdout
    # moved back to the default group by a configuration update: the next invocation's lines go there
    lam.update_function_configuration(FunctionName="custom-logs", LoggingConfig={"LogGroup": "/aws/lambda/custom-logs"})
    lam.get_waiter("function_updated_v2").wait(FunctionName="custom-logs", WaiterConfig={"Delay": 0.1})
    invoke(lam, "custom-logs", {"n": 2})
    wait_for(lambda: any('"n": 2' in m for m in events("/aws/lambda/custom-logs")))
    assert not any('"n": 2' in m for m in events("/team/shared"))


def test_error_shapes(server) -> None:
    lam = server.client("lambda")
    create(lam, "errs", "app.fail", files={"app.py": open_handlers(), "broken.py": "def h(e, c)\n  pass\n"})
    r, body = invoke(lam, "errs")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "RuntimeError" and body["errorMessage"] == "it broke"
    assert body["requestId"] == r["ResponseMetadata"]["RequestId"] and body["stackTrace"]
    cases = {
        "app.unserializable": "Runtime.MarshalError",
        "nothere.handler": "Runtime.ImportModuleError",
        "app.missing": "Runtime.HandlerNotFound",
        "broken.h": "Runtime.UserCodeSyntaxError",
    }
    for handler, etype in cases.items():
        lam.update_function_configuration(FunctionName="errs", Handler=handler)
        lam.get_waiter("function_updated_v2").wait(FunctionName="errs", WaiterConfig={"Delay": 0.1})
        r, body = invoke(lam, "errs")
        assert r["FunctionError"] == "Unhandled" and body["errorType"] == etype, (handler, body)
    # invalid JSON payload is the caller's error
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="errs", Payload=b"{nope")
    assert _code(info.value)[:2] == ("InvalidRequestContentException", 400)
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="nobody", Payload=b"{}")
    assert _code(info.value) == ("ResourceNotFoundException", 404, "Function not found: "
                                 "arn:aws:lambda:us-east-1:000000000000:function:nobody")
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="errs", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert _code(info.value)[:2] == ("RequestTooLargeException", 413)
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="errs", InvocationType="Event", Payload=b'"' + b"x" * (300 * 1024) + b'"')
    assert _code(info.value)[:2] == ("RequestTooLargeException", 413)


def test_timeout(server) -> None:
    lam = server.client("lambda")
    create(lam, "slow", "app.sleep", Timeout=1)
    t = time.monotonic()
    r, body = invoke(lam, "slow", {"seconds": 5})
    assert time.monotonic() - t < 3
    assert r["FunctionError"] == "Unhandled"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    r, body = invoke(lam, "slow", {"seconds": 0})
    assert body == "done"


def test_reserved_concurrency_zero_throttles(server) -> None:
    lam = server.client("lambda")
    create(lam, "thr", "app.handler")
    assert lam.put_function_concurrency(FunctionName="thr", ReservedConcurrentExecutions=0)[
        "ReservedConcurrentExecutions"] == 0
    assert lam.get_function_concurrency(FunctionName="thr")["ReservedConcurrentExecutions"] == 0
    assert lam.get_function(FunctionName="thr")["Concurrency"] == {"ReservedConcurrentExecutions": 0}
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="thr", Payload=b"{}")
    code, status, message = _code(info.value)
    assert (code, status, message) == ("TooManyRequestsException", 429, "Rate Exceeded.")
    assert info.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert settings["AccountUsage"]["FunctionCount"] == 1
    with pytest.raises(ClientError) as info:
        lam.put_function_concurrency(FunctionName="thr", ReservedConcurrentExecutions=950)
    assert _code(info.value)[0] == "InvalidParameterValueException"
    lam.delete_function_concurrency(FunctionName="thr")
    assert lam.get_function_concurrency(FunctionName="thr").get("ReservedConcurrentExecutions") is None
    assert invoke(lam, "thr")[0]["StatusCode"] == 200


def test_boto3_inside_function_talks_to_tsunagi(server) -> None:
    lam = server.client("lambda")
    create(lam, "who", "app.whoami", Timeout=30)
    r, body = invoke(lam, "who")
    assert "FunctionError" not in r, body
    assert body == "arn:aws:iam::000000000000:root"


def test_control_plane(server) -> None:
    lam = server.client("lambda")
    for i in range(3):
        create(lam, f"fn-{i}", "app.handler")
    with pytest.raises(ClientError) as info:
        create(lam, "fn-0", "app.handler")
    assert _code(info.value) == ("ResourceConflictException", 409, "Function already exist: fn-0")
    page = lam.list_functions(MaxItems=2)
    assert [f["FunctionName"] for f in page["Functions"]] == ["fn-0", "fn-1"]
    rest = lam.list_functions(Marker=page["NextMarker"])
    assert [f["FunctionName"] for f in rest["Functions"]] == ["fn-2"] and "NextMarker" not in rest
    updated = lam.update_function_configuration(FunctionName="fn-1", Timeout=10, Environment={"Variables": {"A": "1"}})
    assert updated["LastUpdateStatus"] == "InProgress" and updated["Timeout"] == 10
    lam.get_waiter("function_updated_v2").wait(FunctionName="fn-1", WaiterConfig={"Delay": 0.1})
    cfg = lam.get_function_configuration(FunctionName="fn-1")
    assert cfg["Environment"] == {"Variables": {"A": "1"}} and cfg["LastUpdateStatus"] == "Successful"
    new_code = make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"})
    lam.update_function_code(FunctionName="fn-1", ZipFile=new_code)
    assert invoke(lam, "fn-1")[1] == "v2"
    with pytest.raises(ClientError) as info:
        lam.update_function_configuration(FunctionName="fn-1", RevisionId="stale", Timeout=3)
    assert _code(info.value)[:2] == ("PreconditionFailedException", 412)
    lam.delete_function(FunctionName="fn-1")
    with pytest.raises(ClientError) as info:
        lam.get_function(FunctionName="fn-1")
    assert _code(info.value)[:2] == ("ResourceNotFoundException", 404)
    # validation
    bad = [
        (dict(Runtime="python2.7"), "InvalidParameterValueException"),
        (dict(Runtime="java21"), "InvalidParameterValueException"),
        (dict(PackageType="Image", Code={"ImageUri": "x"}), "InvalidParameterValueException"),
        (dict(Code={"ZipFile": b"not a zip"}), "InvalidParameterValueException"),
        (dict(Environment={"Variables": {"AWS_REGION": "x"}}), "InvalidParameterValueException"),
        (dict(Role="not-a-role"), "ValidationException"),
        (dict(Timeout=901), "ValidationException"),
        (dict(Code={"S3Bucket": "nobucket", "S3Key": "k"}), "InvalidParameterValueException"),
    ]
    for extra, code in bad:
        args = dict(FunctionName="bad", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                    Code={"ZipFile": make_zip({"app.py": ""})})
        args.update(extra)
        with pytest.raises(ClientError) as info:
            lam.create_function(**args)
        assert _code(info.value)[0] == code, extra
    msg = None
    try:
        lam.create_function(FunctionName="bad", Runtime="java21", Role=ROLE, Handler="x.y",
                            Code={"ZipFile": make_zip({"a": ""})})
    except ClientError as e:
        msg = _code(e)[2]
    assert msg and "python3.12" in msg and "nodejs20.x" in msg


def test_retired_runtime_runs(server) -> None:
    lam = server.client("lambda")
    create(lam, "old", "index.lambda_handler", runtime="python3.6",
           files={"index.py": "import json\ndef lambda_handler(event, context):\n    return json.dumps(event)\n"})
    assert invoke(lam, "old", {"a": 1})[1] == '{"a": 1}'


def test_aws_cli(server, tmp_path) -> None:
    zip_path = tmp_path / "f.zip"
    zip_path.write_bytes(make_zip({"app.py": "def handler(e, c):\n    return {'got': e}\n"}))
    out = json.loads(server.aws("lambda", "create-function", "--function-name", "cli", "--runtime", "python3.12",
                                "--role", ROLE, "--handler", "app.handler", "--zip-file",
                                f"fileb://{zip_path}").stdout)
    assert out["FunctionName"] == "cli"
    server.aws("lambda", "wait", "function-active-v2", "--function-name", "cli")
    result = tmp_path / "out.json"
    meta = json.loads(server.aws("lambda", "invoke", "--function-name", "cli",
                                 "--payload", '{"a": 2}', "--log-type", "Tail",
                                 str(result)).stdout)
    assert meta["StatusCode"] == 200 and "LogResult" in meta
    assert json.loads(result.read_text()) == {"got": {"a": 2}}
    listed = json.loads(server.aws("lambda", "list-functions").stdout)
    assert [f["FunctionName"] for f in listed["Functions"]] == ["cli"]
    server.aws("lambda", "delete-function", "--function-name", "cli")


def test_async_invocations_are_durable_and_retried_after_throttles(server) -> None:
    """An Event invocation is accepted while the function is throttled and runs once it is not."""
    lam = server.client("lambda")
    logs = server.client("logs")
    create(lam, "later", "app.record")
    lam.put_function_concurrency(FunctionName="later", ReservedConcurrentExecutions=0)
    assert lam.invoke(FunctionName="later", InvocationType="Event", Payload=b'{"n": 7}')["StatusCode"] == 202
    if server.kind == "sqlite":
        server.restart()    # the queued event survives a restart
    time.sleep(0.5)
    lam.delete_function_concurrency(FunctionName="later")

    def ran() -> bool:
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/later")["events"]
        except ClientError:
            return False
        return any('RECORD {"n": 7}' in e["message"] for e in events)

    wait_for(ran, timeout=20, interval=0.2)


def test_code_from_s3(server) -> None:
    s3 = server.client("s3")
    lam = server.client("lambda")
    try:
        s3.create_bucket(Bucket="code-bucket")
    except ClientError as e:
        pytest.skip(f"S3 is not available: {e}")
    s3.put_object(Bucket="code-bucket", Key="fn.zip", Body=make_zip({"app.py": "def handler(e, c):\n    return 's3'\n"}))
    lam.create_function(FunctionName="from-s3", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": "code-bucket", "S3Key": "fn.zip"})
    assert invoke(lam, "from-s3")[1] == "s3"
    with pytest.raises(ClientError) as info:
        lam.update_function_code(FunctionName="from-s3", S3Bucket="code-bucket", S3Key="missing.zip")
    assert _code(info.value)[0] == "InvalidParameterValueException"
    assert "NoSuchKey" in _code(info.value)[2]


def test_container_image_functions_get_aws_refusals(server) -> None:
    """Functions from container images need Amazon ECR, which tsunagi does not serve: CreateFunction
    answers what AWS answers for an image it cannot find, and the Zip-only calls refuse an ImageUri."""
    lam = server.client("lambda")
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders:1.0"
    cases = [
        (dict(Code={"ImageUri": ecr}), f"Source image {ecr} does not exist. Provide a valid source image."),
        (dict(Code={"ImageUri": "orders:latest"}),
         "Source image orders:latest is not valid. Provide a valid source image."),
        (dict(Code={"ImageUri": ecr}, Handler="app.handler"),
         "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."),
    ]
    for extra, message in cases:
        with pytest.raises(ClientError) as info:
            lam.create_function(FunctionName="img", Role=ROLE, PackageType="Image", **extra)
        assert _code(info.value) == ("InvalidParameterValueException", 400, message), extra
    create(lam, "zipped", "app.handler", files={"app.py": "def handler(e, c):\n    return 1\n"})
    with pytest.raises(ClientError) as info:
        lam.update_function_code(FunctionName="zipped", ImageUri=ecr)
    assert _code(info.value) == ("InvalidParameterValueException", 400,
                                 "Please don't provide ImageUri when updating a function with packageType Zip.")
    assert lam.get_function(FunctionName="zipped")["Configuration"]["PackageType"] == "Zip"
