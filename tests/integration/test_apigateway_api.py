"""API Gateway's control plane with boto3 (and the aws CLI), on both stores: REST APIs, resources,
methods, integrations and their responses, deployments and stages, patch operations, pagination,
OpenAPI 3 and Swagger 2 import (ImportRestApi, PutRestApi merge and overwrite), and the errors AWS answers."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError


def code(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = e.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_rest_api_lifecycle(server) -> None:
    c = server.client("apigateway")
    api = c.create_rest_api(name="orders", description="d", binaryMediaTypes=["image/png"],
                            endpointConfiguration={"types": ["REGIONAL"]}, tags={"team": "a"})
    assert len(api["id"]) == 10 and api["name"] == "orders" and api["apiKeySource"] == "HEADER"
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"] and api["binaryMediaTypes"] == ["image/png"]
    assert api["tags"] == {"team": "a"} and api["createdDate"]
    got = c.get_rest_api(restApiId=api["id"])
    assert got["rootResourceId"] == api["rootResourceId"]
    updated = c.update_rest_api(restApiId=api["id"], patchOperations=[
        {"op": "replace", "path": "/name", "value": "orders2"},
        {"op": "add", "path": "/binaryMediaTypes/application~1octet-stream"},
        {"op": "remove", "path": "/binaryMediaTypes/image~1png"},
        {"op": "replace", "path": "/apiKeySource", "value": "AUTHORIZER"}])
    assert updated["name"] == "orders2" and updated["binaryMediaTypes"] == ["application/octet-stream"]
    assert updated["apiKeySource"] == "AUTHORIZER"
    with pytest.raises(ClientError) as e:
        c.update_rest_api(restApiId=api["id"], patchOperations=[{"op": "replace", "path": "/bogus", "value": "x"}])
    assert code(e)[:2] == ("BadRequestException", 400)
    c.delete_rest_api(restApiId=api["id"])
    with pytest.raises(ClientError) as e:
        c.get_rest_api(restApiId=api["id"])
    assert code(e) == ("NotFoundException", 404, f"Invalid API identifier specified 000000000000:{api['id']}")


def test_rest_apis_are_per_account_and_paginated(server) -> None:
    c = server.client("apigateway")
    ids = sorted(c.create_rest_api(name=f"api-{i}")["id"] for i in range(5))
    first = c.get_rest_apis(limit=2)
    assert len(first["items"]) == 2 and first["position"]
    seen = [a["id"] for a in first["items"]]
    position = first["position"]
    while position:
        page = c.get_rest_apis(limit=2, position=position)
        seen += [a["id"] for a in page["items"]]
        position = page.get("position")
    assert sorted(seen) == ids
    other = server.client("apigateway", access_key="111111111111")
    assert other.get_rest_apis()["items"] == []
    with pytest.raises(ClientError) as e:
        other.get_rest_api(restApiId=ids[0])
    assert code(e)[0] == "NotFoundException"


def test_resources_methods_integrations_and_responses(server) -> None:
    c = server.client("apigateway")
    api = c.create_rest_api(name="tree")["id"]
    root = c.get_resources(restApiId=api)["items"][0]
    assert root["path"] == "/" and "parentId" not in root
    users = c.create_resource(restApiId=api, parentId=root["id"], pathPart="users")
    user = c.create_resource(restApiId=api, parentId=users["id"], pathPart="{id}")
    assert user["path"] == "/users/{id}" and user["parentId"] == users["id"]
    with pytest.raises(ClientError) as e:
        c.create_resource(restApiId=api, parentId=root["id"], pathPart="users")
    assert code(e)[:2] == ("ConflictException", 409)
    with pytest.raises(ClientError) as e:
        c.create_resource(restApiId=api, parentId=root["id"], pathPart="bad path!")
    assert code(e)[:2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as e:
        c.create_resource(restApiId=api, parentId="nope", pathPart="x")
    assert code(e) == ("NotFoundException", 404, "Invalid Resource identifier specified")

    m = c.put_method(restApiId=api, resourceId=user["id"], httpMethod="GET", authorizationType="NONE",
                     requestParameters={"method.request.path.id": True})
    assert m["httpMethod"] == "GET" and m["apiKeyRequired"] is False
    with pytest.raises(ClientError) as e:
        c.put_method(restApiId=api, resourceId=user["id"], httpMethod="GET", authorizationType="NONE")
    assert code(e)[:2] == ("ConflictException", 409)
    with pytest.raises(ClientError) as e:
        c.get_integration(restApiId=api, resourceId=user["id"], httpMethod="GET")
    assert code(e) == ("NotFoundException", 404, "Invalid Integration identifier specified")
    with pytest.raises(ClientError) as e:
        c.put_integration(restApiId=api, resourceId=user["id"], httpMethod="GET", type="AWS",
                          uri="arn:aws:apigateway:us-east-1:sqs:path/000000000000/q")
    assert code(e) == ("BadRequestException", 400, "Enumeration value for HttpMethod must be non-empty")
    with pytest.raises(ClientError) as e:
        c.put_integration(restApiId=api, resourceId=user["id"], httpMethod="GET", type="AWS",
                          integrationHttpMethod="POST", uri="arn:aws:apigateway:us-east-1:sqs:nonsense")
    assert code(e)[0] == "BadRequestException"
    integ = c.put_integration(restApiId=api, resourceId=user["id"], httpMethod="GET", type="HTTP",
                              integrationHttpMethod="GET", uri="http://example.test/users/{id}",
                              requestParameters={"integration.request.path.id": "method.request.path.id"})
    assert integ["passthroughBehavior"] == "WHEN_NO_MATCH" and integ["timeoutInMillis"] == 29000
    assert integ["cacheNamespace"] == user["id"] and integ["connectionType"] == "INTERNET"
    c.put_method_response(restApiId=api, resourceId=user["id"], httpMethod="GET", statusCode="200",
                          responseParameters={"method.response.header.X-Id": False})
    c.put_integration_response(restApiId=api, resourceId=user["id"], httpMethod="GET", statusCode="200",
                               selectionPattern="2\\d{2}",
                               responseParameters={"method.response.header.X-Id": "'fixed'"})
    method = c.get_method(restApiId=api, resourceId=user["id"], httpMethod="GET")
    assert method["methodResponses"]["200"]["responseParameters"] == {"method.response.header.X-Id": False}
    assert method["methodIntegration"]["integrationResponses"]["200"]["selectionPattern"] == "2\\d{2}"
    embedded = c.get_resources(restApiId=api, embed=["methods"])["items"]
    (u,) = [r for r in embedded if r["path"] == "/users/{id}"]
    assert u["resourceMethods"]["GET"]["methodIntegration"]["uri"] == "http://example.test/users/{id}"
    plain = [r for r in c.get_resources(restApiId=api)["items"] if r["path"] == "/users/{id}"][0]
    assert plain["resourceMethods"] == {"GET": {}}
    changed = c.update_integration(restApiId=api, resourceId=user["id"], httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/timeoutInMillis", "value": "5000"},
        {"op": "add", "path": "/requestTemplates/application~1json", "value": "{}"}])
    assert changed["timeoutInMillis"] == 5000 and changed["requestTemplates"] == {"application/json": "{}"}
    assert changed["integrationResponses"]["200"]["statusCode"] == "200"
    c.update_method(restApiId=api, resourceId=user["id"], httpMethod="GET",
                    patchOperations=[{"op": "replace", "path": "/apiKeyRequired", "value": "true"}])
    assert c.get_method(restApiId=api, resourceId=user["id"], httpMethod="GET")["apiKeyRequired"] is True
    c.delete_integration_response(restApiId=api, resourceId=user["id"], httpMethod="GET", statusCode="200")
    with pytest.raises(ClientError) as e:
        c.get_integration_response(restApiId=api, resourceId=user["id"], httpMethod="GET", statusCode="200")
    assert code(e) == ("NotFoundException", 404, "Invalid Response status code specified")
    c.delete_method(restApiId=api, resourceId=user["id"], httpMethod="GET")
    with pytest.raises(ClientError) as e:
        c.get_method(restApiId=api, resourceId=user["id"], httpMethod="GET")
    assert code(e) == ("NotFoundException", 404, "Invalid Method identifier specified")
    c.delete_resource(restApiId=api, resourceId=users["id"])           # its child goes with it
    assert [r["path"] for r in c.get_resources(restApiId=api)["items"]] == ["/"]


def test_deployments_and_stages(server) -> None:
    c = server.client("apigateway")
    api = c.create_rest_api(name="stages")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    with pytest.raises(ClientError) as e:
        c.create_deployment(restApiId=api, stageName="dev")
    assert code(e) == ("BadRequestException", 400, "The REST API doesn't contain any methods")
    c.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    with pytest.raises(ClientError) as e:
        c.create_deployment(restApiId=api, stageName="dev")
    assert code(e) == ("BadRequestException", 400, "No integration defined for method")
    c.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    dep = c.create_deployment(restApiId=api, stageName="dev", description="first", variables={"a": "1"})
    stage = c.get_stage(restApiId=api, stageName="dev")
    assert stage["deploymentId"] == dep["id"] and stage["variables"] == {"a": "1"}
    assert stage["cacheClusterStatus"] == "NOT_AVAILABLE" and stage["tracingEnabled"] is False
    dep2 = c.create_deployment(restApiId=api, description="second")
    prod = c.create_stage(restApiId=api, stageName="prod", deploymentId=dep2["id"])
    assert prod["deploymentId"] == dep2["id"]
    with pytest.raises(ClientError) as e:
        c.create_stage(restApiId=api, stageName="prod", deploymentId=dep2["id"])
    assert code(e) == ("ConflictException", 409, "Stage already exists")
    with pytest.raises(ClientError) as e:
        c.delete_deployment(restApiId=api, deploymentId=dep2["id"])
    assert code(e) == ("BadRequestException", 400, "Active stages pointing to this deployment must be moved or deleted")
    updated = c.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": dep["id"]},
        {"op": "replace", "path": "/variables/color", "value": "red"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
        {"op": "replace", "path": "/tracingEnabled", "value": "true"}])
    assert updated["deploymentId"] == dep["id"] and updated["variables"] == {"color": "red"}
    assert updated["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0 and updated["tracingEnabled"] is True
    c.delete_deployment(restApiId=api, deploymentId=dep2["id"])
    assert [d["id"] for d in c.get_deployments(restApiId=api)["items"]] == [dep["id"]]
    assert sorted(s["stageName"] for s in c.get_stages(restApiId=api)["item"]) == ["dev", "prod"]
    c.delete_stage(restApiId=api, stageName="prod")
    with pytest.raises(ClientError) as e:
        c.get_stage(restApiId=api, stageName="prod")
    assert code(e) == ("NotFoundException", 404, "Invalid Stage identifier specified")


SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "pets", "version": "1.0"},
    "basePath": "/v1",
    "x-amazon-apigateway-binary-media-types": ["image/*"],
    "securityDefinitions": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}},
    "definitions": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
    "paths": {
        "/pets": {
            "get": {"parameters": [{"name": "type", "in": "query", "required": False, "type": "string"}],
                    "security": [{"api_key": []}],
                    "responses": {"200": {"description": "ok", "headers": {"X-Count": {"type": "integer"}}}},
                    "x-amazon-apigateway-integration": {
                        "type": "mock", "requestTemplates": {"application/json": "{\"statusCode\": 200}"},
                        "responses": {"default": {"statusCode": "200", "responseTemplates": {
                            "application/json": "[{\"name\": \"rex\"}]"}}}}},
        },
        "/pets/{petId}": {
            "x-amazon-apigateway-any-method": {
                "parameters": [{"name": "petId", "in": "path", "required": True, "type": "string"}],
                "x-amazon-apigateway-integration": {"type": "http_proxy", "httpMethod": "ANY",
                                                    "uri": "http://example.test/pets/{petId}",
                                                    "passthroughBehavior": "when_no_match"}},
        },
    },
}


def test_swagger_2_import_and_put_rest_api(server) -> None:
    c = server.client("apigateway")
    api = c.import_rest_api(body=json.dumps(SWAGGER).encode())
    assert api["name"] == "pets" and api["version"] == "1.0" and api["binaryMediaTypes"] == ["image/*"]
    resources = {r["path"]: r for r in c.get_resources(restApiId=api["id"], embed=["methods"])["items"]}
    assert set(resources) == {"/", "/pets", "/pets/{petId}"}
    get = resources["/pets"]["resourceMethods"]["GET"]
    assert get["apiKeyRequired"] is True
    assert get["requestParameters"] == {"method.request.querystring.type": False}
    assert get["methodResponses"]["200"]["responseParameters"] == {"method.response.header.X-Count": False}
    assert get["methodIntegration"]["type"] == "MOCK"
    assert "selectionPattern" not in get["methodIntegration"]["integrationResponses"]["200"]
    anym = resources["/pets/{petId}"]["resourceMethods"]["ANY"]
    assert anym["methodIntegration"]["type"] == "HTTP_PROXY"
    assert anym["requestParameters"] == {"method.request.path.petId": True}
    assert [m["name"] for m in c.get_models(restApiId=api["id"])["items"]] == ["Pet"]
    prepended = c.import_rest_api(body=json.dumps(SWAGGER).encode(), parameters={"basepath": "prepend"})
    paths = sorted(r["path"] for r in c.get_resources(restApiId=prepended["id"])["items"])
    assert paths == ["/", "/v1", "/v1/pets", "/v1/pets/{petId}"]

    merge = {"openapi": "3.0.1", "info": {"title": "pets"}, "paths": {"/owners": {"get": {
        "x-amazon-apigateway-integration": {"type": "mock"}}}}}
    c.put_rest_api(restApiId=api["id"], mode="merge", body=json.dumps(merge).encode())
    paths = sorted(r["path"] for r in c.get_resources(restApiId=api["id"])["items"])
    assert paths == ["/", "/owners", "/pets", "/pets/{petId}"]
    c.put_rest_api(restApiId=api["id"], mode="overwrite", body=json.dumps(merge).encode())
    resources = c.get_resources(restApiId=api["id"])["items"]
    assert sorted(r["path"] for r in resources) == ["/", "/owners"]
    assert [r["id"] for r in resources if r["path"] == "/"] == [api["rootResourceId"]]


def test_import_refuses_what_is_not_a_definition(server) -> None:
    c = server.client("apigateway")
    for body in (b"not: [valid", b'{"hello": "world"}', json.dumps({
            "openapi": "3.0.1", "info": {"title": "x"}, "paths": {"/a": {"get": {
                "x-amazon-apigateway-integration": {"type": "carrier-pigeon"}}}}}).encode()):
        with pytest.raises(ClientError) as e:
            c.import_rest_api(body=body)
        assert code(e)[:2] == ("BadRequestException", 400), body
    assert c.get_rest_apis()["items"] == []


def test_openapi_yaml_import_with_the_aws_cli(server, tmp_path) -> None:
    definition = tmp_path / "api.yaml"
    definition.write_text(
        'openapi: "3.0.1"\ninfo:\n  title: "cli-api"\npaths:\n  "/":\n    post:\n      responses:\n'
        '        "200":\n          description: "200 response"\n      x-amazon-apigateway-integration:\n'
        '        type: "mock"\n        requestTemplates:\n          application/json: \'{"statusCode": 200}\'\n'
        '        responses:\n          default:\n            statusCode: "200"\n', encoding="utf-8")
    out = json.loads(server.aws("apigateway", "import-rest-api", "--body", f"fileb://{definition}").stdout)
    assert out["name"] == "cli-api"
    listed = json.loads(server.aws("apigateway", "get-rest-apis").stdout)
    assert [a["id"] for a in listed["items"]] == [out["id"]]
    server.aws("apigateway", "create-deployment", "--rest-api-id", out["id"], "--stage-name", "dev")
    stage = json.loads(server.aws("apigateway", "get-stage", "--rest-api-id", out["id"], "--stage-name", "dev").stdout)
    assert stage["stageName"] == "dev"


def test_authorizers_models_validators_and_gateway_responses(server) -> None:
    c = server.client("apigateway")
    api = c.create_rest_api(name="extras")["id"]
    uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations"
    auth = c.create_authorizer(restApiId=api, name="tok", type="TOKEN", authorizerUri=uri,
                               identitySource="method.request.header.Authorization")
    assert auth["authorizerResultTtlInSeconds"] == 300 and auth["authType"] == "custom"
    with pytest.raises(ClientError) as e:
        c.create_authorizer(restApiId=api, name="bad", type="TOKEN", authorizerUri=uri, identitySource="nope")
    assert code(e)[0] == "BadRequestException"
    upd = c.update_authorizer(restApiId=api, authorizerId=auth["id"], patchOperations=[
        {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "60"}])
    assert upd["authorizerResultTtlInSeconds"] == 60
    assert [a["id"] for a in c.get_authorizers(restApiId=api)["items"]] == [auth["id"]]
    model = c.create_model(restApiId=api, name="Thing", contentType="application/json", schema='{"type": "object"}')
    assert c.get_model(restApiId=api, modelName="Thing")["id"] == model["id"]
    with pytest.raises(ClientError) as e:
        c.create_model(restApiId=api, name="Thing", contentType="application/json")
    assert code(e)[:2] == ("ConflictException", 409)
    v = c.create_request_validator(restApiId=api, name="body", validateRequestBody=True)
    assert c.get_request_validator(restApiId=api, requestValidatorId=v["id"])["validateRequestBody"] is True
    default = c.get_gateway_response(restApiId=api, responseType="MISSING_AUTHENTICATION_TOKEN")
    assert default["statusCode"] == "403" and default["defaultResponse"] is True
    put = c.put_gateway_response(restApiId=api, responseType="DEFAULT_4XX", statusCode="418")
    assert put["defaultResponse"] is False
    kinds = {g["responseType"]: g for g in c.get_gateway_responses(restApiId=api, limit=500)["items"]}
    assert kinds["DEFAULT_4XX"]["statusCode"] == "418"
    c.delete_authorizer(restApiId=api, authorizerId=auth["id"])
    with pytest.raises(ClientError) as e:
        c.get_authorizer(restApiId=api, authorizerId=auth["id"])
    assert code(e)[:2] == ("NotFoundException", 404)


def test_tags_on_apis_stages_keys_and_plans(server) -> None:
    c = server.client("apigateway")
    api = c.create_rest_api(name="tagged", tags={"a": "1"})["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    c.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    c.create_deployment(restApiId=api, stageName="dev")
    key = c.create_api_key(name="k")["id"]
    for arn in (f"arn:aws:apigateway:us-east-1::/restapis/{api}", f"arn:aws:apigateway:us-east-1::/restapis/{api}/stages/dev",
                f"arn:aws:apigateway:us-east-1::/apikeys/{key}"):
        c.tag_resource(resourceArn=arn, tags={"team": "x", "env": "dev"})
        c.untag_resource(resourceArn=arn, tagKeys=["env"])
        assert c.get_tags(resourceArn=arn)["tags"].get("team") == "x"
        assert "env" not in c.get_tags(resourceArn=arn)["tags"]
    assert c.get_rest_api(restApiId=api)["tags"] == {"a": "1", "team": "x"}
    assert c.get_stage(restApiId=api, stageName="dev")["tags"] == {"team": "x"}
    with pytest.raises(ClientError) as e:
        c.get_tags(resourceArn="arn:aws:apigateway:us-east-1::/restapis/nope")
    assert code(e)[0] == "NotFoundException"
    v2 = server.client("apigatewayv2")
    http_api = v2.create_api(Name="h", ProtocolType="HTTP", Tags={"a": "1"})["ApiId"]
    arn = f"arn:aws:apigateway:us-east-1::/apis/{http_api}"
    v2.tag_resource(ResourceArn=arn, Tags={"b": "2"})
    v2.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert v2.get_tags(ResourceArn=arn)["Tags"] == {"b": "2"}


def test_test_invoke_method_runs_the_api_as_it_is_now(server) -> None:
    c = server.client("apigateway")
    api = c.create_rest_api(name="tested")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    item = c.create_resource(restApiId=api, parentId=root, pathPart="{id}")["id"]
    c.put_method(restApiId=api, resourceId=item, httpMethod="POST", authorizationType="NONE", apiKeyRequired=True)
    c.put_integration(restApiId=api, resourceId=item, httpMethod="POST", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    c.put_integration_response(restApiId=api, resourceId=item, httpMethod="POST", statusCode="200",
                               selectionPattern="", responseTemplates={"application/json": (
                                   '{"id": "$input.params(\'id\')", "q": "$input.params(\'q\')", '
                                   '"v": "$stageVariables.v"}')})
    out = c.test_invoke_method(restApiId=api, resourceId=item, httpMethod="POST", pathWithQueryString="/7?q=x",
                               body='{"a": 1}', headers={"Content-Type": "application/json"},
                               stageVariables={"v": "sv"})
    assert out["status"] == 200, out
    assert json.loads(out["body"]) == {"id": "7", "q": "x", "v": "sv"}      # no API key asked for either
    assert "Method completed with status: 200" in out["log"]
    with pytest.raises(ClientError) as e:
        c.test_invoke_method(restApiId=api, resourceId=root, httpMethod="GET")
    assert code(e) == ("NotFoundException", 404, "Invalid Method identifier specified")


@pytest.mark.parametrize("kind", ["oas30", "swagger"])
def test_export_and_import_round_trip(server, kind: str) -> None:
    c = server.client("apigateway")
    api = c.import_rest_api(body=json.dumps(SWAGGER).encode())["id"]
    c.create_deployment(restApiId=api, stageName="dev")
    out = c.get_export(restApiId=api, stageName="dev", exportType=kind, parameters={"extensions": "integrations"},
                       accepts="application/json")
    assert out["contentType"] == "application/json"
    doc = json.loads(out["body"].read())
    assert ("openapi" if kind == "oas30" else "swagger") in doc
    assert doc["paths"]["/pets"]["get"]["x-amazon-apigateway-integration"]["type"] == "mock"
    again = c.import_rest_api(body=json.dumps(doc).encode())["id"]
    before = {r["path"]: sorted(r.get("resourceMethods", {})) for r in c.get_resources(restApiId=api)["items"]}
    after = {r["path"]: sorted(r.get("resourceMethods", {})) for r in c.get_resources(restApiId=again)["items"]}
    assert before == after
    got = c.get_method(restApiId=again, resourceId=[r["id"] for r in c.get_resources(restApiId=again)["items"]
                                                     if r["path"] == "/pets"][0], httpMethod="GET")
    assert got["apiKeyRequired"] is True and got["methodIntegration"]["type"] == "MOCK"
    yaml_out = c.get_export(restApiId=api, stageName="dev", exportType=kind, accepts="application/yaml")
    assert yaml_out["contentType"] == "application/yaml" and b"paths:" in yaml_out["body"].read()
