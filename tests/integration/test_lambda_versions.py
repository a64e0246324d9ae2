"""Lambda versions, aliases, layers, permissions, tags and Node.js functions, on both stores."""

from __future__ import annotations

import json
import shutil

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import create, invoke, make_zip

V1 = "VERSION = 'one'\ndef handler(e, c):\n    return {'v': VERSION, 'fv': c.function_version, 'arn': c.invoked_function_arn}\n"
V2 = V1.replace("'one'", "'two'")


def _err(e: ClientError) -> tuple[str, int]:
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


def test_versions_and_aliases(server) -> None:
    lam = server.client("lambda")
    create(lam, "ver", "app.handler", files={"app.py": V1})
    v1 = lam.publish_version(FunctionName="ver", Description="first")
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(":function:ver:1") and v1["Description"] == "first"
    # nothing changed: publishing again returns the same version
    assert lam.publish_version(FunctionName="ver")["Version"] == "1"
    lam.update_function_code(FunctionName="ver", ZipFile=make_zip({"app.py": V2}))
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver", WaiterConfig={"Delay": 0.1})
    with pytest.raises(ClientError) as info:
        lam.publish_version(FunctionName="ver", CodeSha256="wrong")
    assert _err(info.value) == ("InvalidParameterValueException", 400)
    v2 = lam.publish_version(FunctionName="ver")
    assert v2["Version"] == "2"
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="ver")["Versions"]]
    assert versions == ["$LATEST", "1", "2"]

    r, body = invoke(lam, "ver", Qualifier="1")
    assert body["v"] == "one" and body["fv"] == "1" and r["ExecutedVersion"] == "1"
    assert invoke(lam, "ver:2")[1]["v"] == "two"
    assert invoke(lam, "ver")[1]["v"] == "two"
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="ver", Qualifier="9", Payload=b"{}")
    assert _err(info.value) == ("ResourceNotFoundException", 404)

    alias = lam.create_alias(FunctionName="ver", Name="live", FunctionVersion="1", Description="prod")
    assert alias["AliasArn"].endswith(":function:ver:live") and alias["FunctionVersion"] == "1"
    with pytest.raises(ClientError) as info:
        lam.create_alias(FunctionName="ver", Name="live", FunctionVersion="1")
    assert _err(info.value) == ("ResourceConflictException", 409)
    r, body = invoke(lam, "ver", Qualifier="live")
    assert body["v"] == "one" and r["ExecutedVersion"] == "1" and body["arn"].endswith(":ver:live")
    arn = v1["FunctionArn"].rsplit(":", 1)[0]
    assert invoke(lam, f"{arn}:live")[1]["v"] == "one"
    lam.update_alias(FunctionName="ver", Name="live", FunctionVersion="2")
    assert lam.get_alias(FunctionName="ver", Name="live")["FunctionVersion"] == "2"
    assert invoke(lam, "ver:live")[1]["v"] == "two"
    # weighted routing: all traffic to the additional version
    lam.update_alias(FunctionName="ver", Name="live", FunctionVersion="2",
                     RoutingConfig={"AdditionalVersionWeights": {"1": 1.0}})
    assert invoke(lam, "ver:live")[0]["ExecutedVersion"] == "1"
    assert [a["Name"] for a in lam.list_aliases(FunctionName="ver")["Aliases"]] == ["live"]
    with pytest.raises(ClientError) as info:
        lam.delete_function(FunctionName="ver", Qualifier="2")
    assert _err(info.value) == ("ResourceConflictException", 409)
    lam.delete_alias(FunctionName="ver", Name="live")
    with pytest.raises(ClientError) as info:
        lam.get_alias(FunctionName="ver", Name="live")
    assert _err(info.value) == ("ResourceNotFoundException", 404)
    lam.delete_function(FunctionName="ver", Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="ver")["Versions"]] == ["$LATEST", "2"]
    # a version number is never reused
    lam.update_function_configuration(FunctionName="ver", Timeout=7)
    assert lam.publish_version(FunctionName="ver")["Version"] == "3"


def test_create_with_publish(server) -> None:
    lam = server.client("lambda")
    out = create(lam, "pub", "app.handler", files={"app.py": V1}, Publish=True)
    assert out["Version"] == "1"
    assert invoke(lam, "pub:1")[1]["fv"] == "1"


def test_layers(server) -> None:
    lam = server.client("lambda")
    content = make_zip({"python/greeting.py": "WORDS = 'hello from a layer'\n"})
    layer = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": content},
                                      CompatibleRuntimes=["python3.11"], Description="shared code")
    assert layer["Version"] == 1 and layer["LayerVersionArn"].endswith(":layer:shared:1")
    assert layer["Content"]["CodeSize"] == len(content)
    again = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": content})
    assert again["Version"] == 2
    got = lam.get_layer_version(LayerName="shared", VersionNumber=1)
    assert got["Description"] == "shared code" and got["CompatibleRuntimes"] == ["python3.11"]
    assert lam.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])["Version"] == 1
    listed = lam.list_layers()["Layers"]
    assert [(x["LayerName"], x["LatestMatchingVersion"]["Version"]) for x in listed] == [("shared", 2)]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="shared")["LayerVersions"]] == [2, 1]

    create(lam, "uses-layer", "app.handler", Layers=[layer["LayerVersionArn"]],
           files={"app.py": "import greeting\ndef handler(e, c):\n    return greeting.WORDS\n"})
    cfg = lam.get_function_configuration(FunctionName="uses-layer")
    assert cfg["Layers"] == [{"Arn": layer["LayerVersionArn"], "CodeSize": len(content)}]
    assert invoke(lam, "uses-layer")[1] == "hello from a layer"
    with pytest.raises(ClientError) as info:
        create(lam, "bad-layer", "app.handler", Layers=[layer["LayerVersionArn"][:-1] + "9"])
    assert _err(info.value) == ("InvalidParameterValueException", 400)
    lam.delete_layer_version(LayerName="shared", VersionNumber=2)
    with pytest.raises(ClientError) as info:
        lam.get_layer_version(LayerName="shared", VersionNumber=2)
    assert _err(info.value) == ("ResourceNotFoundException", 404)
    assert lam.publish_layer_version(LayerName="shared", Content={"ZipFile": content})["Version"] == 3


def test_permissions_and_tags(server) -> None:
    lam = server.client("lambda")
    fn = create(lam, "perm", "app.handler", files={"app.py": V1})
    arn = fn["FunctionArn"]
    with pytest.raises(ClientError) as info:
        lam.get_policy(FunctionName="perm")
    assert _err(info.value) == ("ResourceNotFoundException", 404)
    out = lam.add_permission(FunctionName="perm", StatementId="s3", Action="lambda:InvokeFunction",
                             Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
                             SourceAccount="000000000000")
    statement = json.loads(out["Statement"])
    assert statement == {"Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                         "Action": "lambda:InvokeFunction", "Resource": arn,
                         "Condition": {"StringEquals": {"AWS:SourceAccount": "000000000000"},
                                       "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    with pytest.raises(ClientError) as info:
        lam.add_permission(FunctionName="perm", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com")
    assert _err(info.value) == ("ResourceConflictException", 409)
    lam.add_permission(FunctionName="perm", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com")
    policy = lam.get_policy(FunctionName="perm")
    assert [s["Sid"] for s in json.loads(policy["Policy"])["Statement"]] == ["s3", "sns"]
    assert policy["RevisionId"]
    lam.remove_permission(FunctionName="perm", StatementId="s3")
    with pytest.raises(ClientError) as info:
        lam.remove_permission(FunctionName="perm", StatementId="s3")
    assert _err(info.value) == ("ResourceNotFoundException", 404)

    lam.tag_resource(Resource=arn, Tags={"a": "1", "b": "2"})
    lam.untag_resource(Resource=arn, TagKeys=["a"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    assert lam.get_function(FunctionName="perm")["Tags"] == {"b": "2"}


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")
def test_nodejs_function(server) -> None:
    lam = server.client("lambda")
    create(lam, "node", "index.handler", runtime="nodejs20.x", files={"index.js": (
        "let n = 0;\n"
        "exports.handler = async (event, context) => {\n"
        "  n += 1; console.log('event', JSON.stringify(event));\n"
        "  return {n, event, name: context.functionName, region: process.env.AWS_REGION};\n"
        "};\n"
        "exports.cb = (event, context, callback) => callback(null, {cb: event.x});\n"
        "exports.fail = async () => { throw new Error('node broke'); };\n")})
    r, body = invoke(lam, "node", {"x": 1})
    assert body == {"n": 1, "event": {"x": 1}, "name": "node", "region": "us-east-1"}
    assert invoke(lam, "node", {"x": 2})[1]["n"] == 2
    lam.update_function_configuration(FunctionName="node", Handler="index.cb")
    assert invoke(lam, "node", {"x": 3})[1] == {"cb": 3}
    lam.update_function_configuration(FunctionName="node", Handler="index.fail")
    r, body = invoke(lam, "node")
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Error" and body["errorMessage"] == "node broke"


@pytest.mark.parametrize("minor", [9, 13])
def test_other_python_versions(server, minor: int) -> None:
    """python3.X runs on python3.X when it can import boto3, else on the server's Python; boto3 always works."""
    import sys

    from tsunagi.runtime.interpreters import find_python, imports_boto3

    path = find_python(f"3.{minor}")
    expected = minor if path and imports_boto3(path) else sys.version_info[1]
    # when tsunagi is root, functions run as an unprivileged user: on a Python 3 that user can run
    from tsunagi.runtime import containment
    from tsunagi.runtime.interpreters import resolve
    from tsunagi.runtime.pool import WorkerPool

    user = containment.function_user("")
    interp = resolve(f"python3.{minor}")
    if user is not None and not containment.reachable(interp.argv[0], user, execute=True):
        other = WorkerPool._interpreter_for(interp, user)
        assert other is not None
        expected = int(other.version.split(".")[1])
    lam = server.client("lambda")
    create(lam, f"py3{minor}", "app.handler", runtime=f"python3.{minor}", Timeout=30, files={"app.py": (
        "import sys, boto3\n"
        "def handler(e, c):\n"
        "    return [sys.version_info[1], boto3.client('sts').get_caller_identity()['Account']]\n")})
    r, body = invoke(lam, f"py3{minor}")
    assert "FunctionError" not in r, body
    assert body == [expected, "000000000000"]
