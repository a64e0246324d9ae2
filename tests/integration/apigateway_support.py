"""Helpers for the API Gateway tests: seed 002's SAM template read from the user's files, with its
CloudFormation references filled in; invoking a deployed stage with urllib or the real curl."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

# shared/ lies beside the repository (the developers' worktrees and CI's clone alike)
SEED_002 = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / "002-sam-project"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !GetAtt) as {"Fn::…": …} maps."""


def _tag(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}
    return construct


for _short, _long in (("!Ref", "Ref"), ("!Sub", "Fn::Sub"), ("!GetAtt", "Fn::GetAtt")):
    _CfnLoader.add_constructor(_short, _tag(_long))


def seed_template() -> dict[str, Any]:
    return yaml.load((SEED_002 / "template.yaml").read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506


def resolve(value: Any, refs: dict[str, str], attrs: dict[str, str]) -> Any:
    """The template's references filled in (what CloudFormation does before API Gateway sees the body)."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return refs[value["Ref"]]
        if set(value) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], value["Fn::Sub"])
        if set(value) == {"Fn::GetAtt"}:
            return attrs[".".join(value["Fn::GetAtt"])]
        return {k: resolve(v, refs, attrs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs, attrs) for v in value]
    return value


def seed_definition(account: str, region: str) -> dict[str, Any]:
    """Seed 002's OpenAPI DefinitionBody with the template's references filled in (defaults: sample, dev)."""
    template = seed_template()
    refs = {"pServiceName": "sample", "pEnvironment": "dev", "AWS::Region": region, "AWS::AccountId": account}
    attrs = {"ApiGatewayRole.Arn": f"arn:aws:iam::{account}:role/sample-dev-api-gateway-role"}
    body = template["Resources"]["ApiGateway"]["Properties"]["DefinitionBody"]
    return resolve(body, refs, attrs)


def invoke(url: str, body: bytes | None = None, *, method: str = "POST", headers: dict[str, str] | None = None,
           timeout: float = 35) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers.items()), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers.items()), e.read()


def curl(*args: str) -> tuple[int, str]:
    """Run the real curl (``-i``: status line and headers, then the body); returns (status, output)."""
    exe = shutil.which("curl")
    assert exe, "curl is not installed"
    out = subprocess.run([exe, "-s", *args], capture_output=True, timeout=60, check=True).stdout.decode()
    status = int(out.split(" ", 2)[1]) if out.startswith("HTTP/") else 0
    return status, out


def stage_url(server: Any, api_id: str, stage: str, path: str = "/") -> str:
    return f"{server.url}/restapis/{api_id}/{stage}/_user_request_{path}"


def host_url(server: Any, api_id: str, stage: str, path: str = "/") -> str:
    return f"http://{api_id}.execute-api.localhost:{server.port}/{stage}{path}"


def as_json(data: bytes) -> Any:
    return json.loads(data)
