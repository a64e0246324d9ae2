"""ImportRestApi and PutRestApi: an API from an OpenAPI 3 or Swagger 2 definition (JSON or YAML) with
API Gateway's extensions: ``x-amazon-apigateway-integration`` (and ``-any-method``, ``-binary-media-types``,
``-api-key-source``, ``-authorizer``, ``-authtype``, ``-request-validators``, ``-request-validator``,
``-gateway-responses``), security requirements for API keys and authorizers, and models from
``definitions`` / ``components.schemas``."""

from __future__ import annotations

import copy
import json
from typing import Any

from tsunagi.protocol.errors import ServiceError
from tsunagi.services.apigateway.apis import api_doc, child_path, root_resource
from tsunagi.services.apigateway.core import HTTP_METHODS, PATH_PART, ApiGatewayCore, new_id, now_s
from tsunagi.services.apigateway.errors import BadRequest
from tsunagi.services.apigateway.methods import MethodOps, integration_doc
from tsunagi.services.base import RequestContext
from tsunagi.store.apigateway import ApiRow, ObjectRow, ResourceRow

IMPORTED_KINDS = ("model", "authorizer", "validator", "gatewayresponse")
_EXT = "x-amazon-apigateway-"


def _fail(message: str) -> ServiceError:
    return BadRequest(f"Errors found during import:\n\t{message}")


def load_definition(body: bytes) -> dict[str, Any]:
    """The definition a request body carries: JSON, else YAML (safe loader only)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
    if not text.strip():
        raise BadRequest("Invalid OpenAPI input: the body is empty")
    try:
        doc = json.loads(text)
    except ValueError:
        import yaml  # type: ignore[import-untyped]  # (imported here: most definitions are JSON, and start-up is faster)

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise BadRequest(f"Invalid OpenAPI input: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not ("swagger" in doc or "openapi" in doc):
        raise BadRequest("Invalid OpenAPI input: the definition has neither 'swagger' nor 'openapi'")
    version = str(doc.get("swagger") or doc.get("openapi"))
    if not (version.startswith("2") or version.startswith("3")):
        raise BadRequest(f"Invalid OpenAPI input: unsupported version {version}")
    if not isinstance(doc.get("paths") or {}, dict):
        raise _fail("'paths' must be an object")
    return doc


def _base_path(doc: dict[str, Any]) -> str:
    if doc.get("swagger"):
        return str(doc.get("basePath") or "/")
    servers = doc.get("servers") or []
    if servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url") or "")
        variables = servers[0].get("variables") or {}
        for name, spec in variables.items():
            if isinstance(spec, dict):
                url = url.replace("{" + name + "}", str(spec.get("default", "")))
        rest = url.split("://", 1)[1] if "://" in url else url
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        return path if url.startswith(("http://", "https://")) or url.startswith("/") else "/"
    return "/"


def _schemes(doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("swagger"):
        return dict(doc.get("securityDefinitions") or {})
    return dict((doc.get("components") or {}).get("securitySchemes") or {})


class Definition:
    """One definition turned into API Gateway's documents."""

    def __init__(self, doc: dict[str, Any], api_id: str, account: str, region: str, base_path_mode: str) -> None:
        self.doc = doc
        self.api_id = api_id
        self.account = account
        self.region = region
        self.warnings: list[str] = []
        self.authorizers: dict[str, dict[str, Any]] = {}
        self.objects: list[ObjectRow] = []
        self.root_id = new_id()
        self.resources: dict[str, ResourceRow] = {"/": root_resource(api_id, self.root_id)}
        prefix = _base_path(doc).strip("/")
        self.prefix = "/" + prefix if prefix and base_path_mode == "prepend" else ""

    def settings(self) -> dict[str, Any]:
        info = self.doc.get("info") or {}
        out: dict[str, Any] = {"name": str(info.get("title") or "")}
        if not out["name"]:
            raise _fail("the definition has no info.title: an API needs a name")
        if info.get("description"):
            out["description"] = str(info["description"])
        if info.get("version") is not None:
            out["version"] = str(info["version"])
        if self.doc.get(_EXT + "binary-media-types"):
            out["binaryMediaTypes"] = [str(t) for t in self.doc[_EXT + "binary-media-types"]]
        if self.doc.get(_EXT + "api-key-source"):
            out["apiKeySource"] = str(self.doc[_EXT + "api-key-source"]).upper()
        if self.doc.get(_EXT + "endpoint-configuration"):
            out["endpointConfiguration"] = self.doc[_EXT + "endpoint-configuration"]
        if self.doc.get(_EXT + "policy"):
            policy = self.doc[_EXT + "policy"]
            out["policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        return out

    def build(self) -> None:
        now = now_s()
        for name, scheme in _schemes(self.doc).items():
            spec = scheme.get(_EXT + "authorizer") if isinstance(scheme, dict) else None
            if isinstance(spec, dict):
                aid = new_id(6)
                kind = str(spec.get("type", "token")).upper()
                auth: dict[str, Any] = {"id": aid, "name": name, "type": "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS"
                                        else kind, "authType": scheme.get(_EXT + "authtype", "custom")}
                for key in ("authorizerUri", "authorizerCredentials", "identityValidationExpression",
                            "providerARNs"):
                    if spec.get(key):
                        auth[key] = spec[key]
                if kind == "TOKEN":
                    auth["identitySource"] = spec.get("identitySource") or f"method.request.header.{scheme.get('name')}"
                elif spec.get("identitySource"):
                    auth["identitySource"] = spec["identitySource"]
                ttl = spec.get("authorizerResultTtlInSeconds")
                auth["authorizerResultTtlInSeconds"] = 300 if ttl is None else int(ttl)
                self.authorizers[name] = auth
                self.objects.append(ObjectRow(self.api_id, "authorizer", aid, self.account, self.region, name, now,
                                              auth))
        validators = self.doc.get(_EXT + "request-validators") or {}
        validator_ids = {}
        for name, spec in validators.items():
            vid = new_id(6)
            validator_ids[name] = vid
            self.objects.append(ObjectRow(self.api_id, "validator", vid, self.account, self.region, name, now, {
                "id": vid, "name": name, "validateRequestBody": bool((spec or {}).get("validateRequestBody")),
                "validateRequestParameters": bool((spec or {}).get("validateRequestParameters"))}))
        default_validator = validator_ids.get(str(self.doc.get(_EXT + "request-validator") or ""))
        for rtype, spec in (self.doc.get(_EXT + "gateway-responses") or {}).items():
            gr: dict[str, Any] = {"responseType": rtype, "defaultResponse": False}
            for key in ("statusCode", "responseParameters", "responseTemplates"):
                if (spec or {}).get(key) is not None:
                    gr[key] = str(spec[key]) if key == "statusCode" else dict(spec[key])
            self.objects.append(ObjectRow(self.api_id, "gatewayresponse", rtype, self.account, self.region, rtype,
                                          now, gr))
        schemas = self.doc.get("definitions") if self.doc.get("swagger") else \
            (self.doc.get("components") or {}).get("schemas")
        for name, schema in (schemas or {}).items():
            mid = new_id(6)
            self.objects.append(ObjectRow(self.api_id, "model", name, self.account, self.region, name, now, {
                "id": mid, "name": name, "contentType": "application/json",
                "schema": json.dumps(schema)}))
        global_security = self.doc.get("security")
        for raw_path, item in (self.doc.get("paths") or {}).items():
            if not isinstance(item, dict):
                raise _fail(f"path '{raw_path}' is not an object")
            resource = self._resource(self.prefix + "/" + str(raw_path).strip("/") if raw_path != "/" or self.prefix
                                      else "/")
            shared = list(item.get("parameters") or [])
            for key, op in item.items():
                if key == "parameters" or not isinstance(op, dict):
                    continue
                http_method = "ANY" if key == _EXT + "any-method" else key.upper()
                if http_method not in HTTP_METHODS:
                    continue
                method = self._method(op, http_method, shared, global_security, default_validator, resource)
                doc = resource.doc
                doc.setdefault("resourceMethods", {})[http_method] = method

    def _resource(self, path: str) -> ResourceRow:
        path = "/" + path.strip("/") if path.strip("/") else "/"
        found = self.resources.get(path)
        if found is not None:
            return found
        parent_path, _, part = path.rpartition("/")
        parent = self._resource(parent_path or "/")
        if not PATH_PART.match(part):
            raise _fail(f"Invalid resource path part '{part}' in path {path}")
        rid = new_id()
        row = ResourceRow(self.api_id, rid, parent.resource_id, child_path(parent.path, part),
                          {"id": rid, "parentId": parent.resource_id, "pathPart": part,
                           "path": child_path(parent.path, part)})
        self.resources[row.path] = row
        return row

    def _method(self, op: dict[str, Any], http_method: str, shared: list[Any], global_security: Any,
                default_validator: str | None, resource: ResourceRow) -> dict[str, Any]:
        params: dict[str, Any] = {"authorizationType": "NONE"}
        request_parameters: dict[str, bool] = {}
        for p in [*shared, *(op.get("parameters") or [])]:
            if not isinstance(p, dict):
                continue
            where = {"path": "path", "query": "querystring", "header": "header"}.get(str(p.get("in")))
            if where and p.get("name"):
                request_parameters[f"method.request.{where}.{p['name']}"] = bool(p.get("required", where == "path"))
        if request_parameters:
            params["requestParameters"] = request_parameters
        security = op.get("security", global_security) or []
        schemes = _schemes(self.doc)
        for requirement in security:
            for name in (requirement or {}):
                scheme = schemes.get(name) or {}
                if name in self.authorizers:
                    auth = self.authorizers[name]
                    params["authorizationType"] = "COGNITO_USER_POOLS" if auth["type"] == "COGNITO_USER_POOLS" \
                        else "CUSTOM"
                    params["authorizerId"] = auth["id"]
                elif str(scheme.get(_EXT + "authtype", "")).lower() == "awssigv4":
                    params["authorizationType"] = "AWS_IAM"
                elif scheme.get("type") == "apiKey":
                    params["apiKeyRequired"] = True
        if op.get("operationId"):
            params["operationName"] = str(op["operationId"])
        validator = op.get(_EXT + "request-validator")
        if validator is not None:
            vid = next((o.object_id for o in self.objects if o.kind == "validator" and o.lookup == validator), None)
            if vid is None:
                raise _fail(f"Unknown request validator '{validator}'")
            params["requestValidatorId"] = vid
        elif default_validator:
            params["requestValidatorId"] = default_validator
        method = MethodOps.method_doc(params, http_method)
        responses: dict[str, Any] = {}
        for code, spec in (op.get("responses") or {}).items():
            code = str(code)
            if code == "default" or not code.isdigit():
                continue
            mr: dict[str, Any] = {"statusCode": code}
            headers = (spec or {}).get("headers") or {}
            if headers:
                mr["responseParameters"] = {f"method.response.header.{h}": False for h in headers}
            responses[code] = mr
        if responses:
            method["methodResponses"] = responses
        spec = op.get(_EXT + "integration")
        if isinstance(spec, dict):
            method["methodIntegration"] = self._integration(spec, resource.resource_id)
        return method

    def _integration(self, spec: dict[str, Any], resource_id: str) -> dict[str, Any]:
        params = dict(spec)
        params["type"] = str(spec.get("type", "")).upper()
        if spec.get("passthroughBehavior"):
            params["passthroughBehavior"] = str(spec["passthroughBehavior"]).upper()
        if spec.get("httpMethod"):
            params["integrationHttpMethod"] = str(spec["httpMethod"]).upper()
        for key in ("requestParameters", "requestTemplates"):
            if spec.get(key) is not None:
                params[key] = {str(k): str(v) for k, v in spec[key].items()}
        try:
            doc = integration_doc(params, resource_id)
        except ServiceError as e:
            raise _fail(e.message) from None
        responses = {}
        for pattern, r in (spec.get("responses") or {}).items():
            r = r or {}
            code = str(r.get("statusCode", ""))
            if not code:
                raise _fail(f"Integration response '{pattern}' has no statusCode")
            ir: dict[str, Any] = {"statusCode": code}
            if pattern != "default":
                ir["selectionPattern"] = str(pattern)
            for key in ("responseParameters", "responseTemplates"):
                if r.get(key):
                    ir[key] = {str(k): str(v) for k, v in r[key].items()}
            if r.get("contentHandling"):
                ir["contentHandling"] = r["contentHandling"]
            responses[code] = ir
        if responses:
            doc["integrationResponses"] = responses
        return doc


class ImportOps(ApiGatewayCore):
    def _definition(self, ctx: RequestContext, api_id: str, params: dict[str, Any]) -> Definition:
        doc = load_definition(params.get("body") or b"")
        options = params.get("parameters") or {}
        mode = str(options.get("basepath", "ignore")).lower()
        if mode not in ("ignore", "prepend", "split"):
            raise BadRequest(f"Invalid basepath parameter '{mode}'. Must be one of: [ignore, prepend, split]")
        definition = Definition(doc, api_id, ctx.account, ctx.region, mode)
        definition.build()
        return definition

    async def import_rest_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api_id = new_id()
        definition = self._definition(ctx, api_id, params)
        settings = definition.settings()
        options = params.get("parameters") or {}
        endpoint = str(options.get("endpointConfigurationTypes") or "").upper()
        if endpoint:
            settings["endpointConfiguration"] = {"types": [endpoint]}
        created = now_s()
        doc = api_doc(settings, api_id, definition.root_id, created)
        if definition.warnings:
            doc["warnings"] = definition.warnings
        await self.repo.create_api(ApiRow(api_id, ctx.account, ctx.region, doc["name"], created, doc),
                                   definition.resources.values())
        if definition.objects:
            for o in definition.objects:
                await self.repo.add_object(o)
        return doc

    async def put_rest_api(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        api = await self.api_of(ctx, params["restApiId"])
        mode = params.get("mode") or "merge"
        if mode not in ("merge", "overwrite"):
            raise BadRequest(f"Invalid mode '{mode}'. Must be one of: [merge, overwrite]")
        definition = self._definition(ctx, api.api_id, params)
        settings = definition.settings()
        if mode == "overwrite":
            definition.resources["/"] = root_resource(api.api_id, api.doc["rootResourceId"])
            self._reparent(definition, api.doc["rootResourceId"])
            doc = {**api_doc({**settings, "endpointConfiguration": api.doc.get("endpointConfiguration"),
                              "tags": api.doc.get("tags")}, api.api_id, api.doc["rootResourceId"],
                             api.doc["createdDate"])}
            await self.repo.replace_api(api.api_id, doc["name"], doc, definition.resources.values(),
                                        definition.objects, IMPORTED_KINDS)
            return doc
        # merge: the definition's paths and methods are added to (or replace) the API's
        existing = {r.path: r for r in await self.repo.resources(api.api_id)}
        merged: dict[str, ResourceRow] = dict(existing)
        ids: dict[str, str] = {}
        for path in sorted(definition.resources, key=lambda p: p.count("/") if p != "/" else 0):
            new = definition.resources[path]
            old = existing.get(path)
            if old is not None:
                ids[new.resource_id] = old.resource_id
                methods = {**(old.doc.get("resourceMethods") or {}), **(new.doc.get("resourceMethods") or {})}
                doc = copy.deepcopy(old.doc)
                if methods:
                    doc["resourceMethods"] = methods
                merged[path] = old._replace(doc=doc)
            else:
                parent = ids.get(new.parent_id or "", new.parent_id)
                doc = {**new.doc, "parentId": parent}
                merged[path] = new._replace(parent_id=parent, doc=doc)
                ids[new.resource_id] = new.resource_id
        doc = {**api.doc, **{k: v for k, v in settings.items() if k != "name" or v}}
        keep = [o for o in await self._objects(api.api_id)
                if not any(n.kind == o.kind and n.lookup == o.lookup for n in definition.objects)]
        await self.repo.replace_api(api.api_id, doc["name"], doc, merged.values(), [*keep, *definition.objects],
                                    IMPORTED_KINDS)
        return doc

    async def _objects(self, api_id: str) -> list[ObjectRow]:
        out: list[ObjectRow] = []
        for kind in IMPORTED_KINDS:
            out.extend(await self.repo.objects(api_id, kind))
        return out

    @staticmethod
    def _reparent(definition: Definition, root_id: str) -> None:
        old_root = definition.root_id
        for path, r in list(definition.resources.items()):
            if r.parent_id == old_root:
                definition.resources[path] = r._replace(parent_id=root_id, doc={**r.doc, "parentId": root_id})
        definition.root_id = root_id
