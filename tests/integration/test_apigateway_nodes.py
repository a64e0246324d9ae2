"""API Gateway across restarts and across servers sharing PostgreSQL: an API deployed on one server answers
on the other, a stage moved to a new deployment on one is served so by the other (the caches drop on the
notification), and a deployed API survives kill -9."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import require_postgres
from tests.integration.apigateway_support import invoke, stage_url
from tests.support import postgres
from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow


def mock_api(server, text: str) -> tuple[str, str]:
    c = server.client("apigateway")
    api = c.create_rest_api(name="shared")
    root = api["rootResourceId"]
    c.put_method(restApiId=api["id"], resourceId=root, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=api["id"], resourceId=root, httpMethod="GET", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    c.put_integration_response(restApiId=api["id"], resourceId=root, httpMethod="GET", statusCode="200",
                               selectionPattern="", responseTemplates={"application/json": text})
    c.create_deployment(restApiId=api["id"], stageName="live")
    return api["id"], root


@pytest.fixture
def database():
    require_postgres()
    url = postgres.create_database("tsunagi_apigw")
    yield url
    postgres.drop_database(url)


def test_servers_sharing_a_database_serve_the_same_stages(database, tmp_path) -> None:
    a = TsunagiServer(database, data_dir=str(tmp_path / "a")).start()
    b = TsunagiServer(database, data_dir=str(tmp_path / "b")).start()
    try:
        api, root = mock_api(a, "first")
        assert invoke(stage_url(b, api, "live"), method="GET")[2] == b"first"
        c = a.client("apigateway")
        c.put_integration_response(restApiId=api, resourceId=root, httpMethod="GET", statusCode="200",
                                   selectionPattern="", responseTemplates={"application/json": "second"})
        c.create_deployment(restApiId=api, stageName="live")
        deadline = time.monotonic() + 10
        while invoke(stage_url(b, api, "live"), method="GET")[2] != b"second":
            assert time.monotonic() < deadline, "server b never served the new deployment"
            time.sleep(0.1)
        b.client("apigateway").delete_stage(restApiId=api, stageName="live")
        deadline = time.monotonic() + 10
        while invoke(stage_url(a, api, "live"), method="GET")[0] != 403:
            assert time.monotonic() < deadline, "server a still serves a deleted stage"
            time.sleep(0.1)
    finally:
        a.stop()
        b.stop()


def test_a_deployed_api_survives_kill_and_restart(tmp_path) -> None:
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path / "data")).start()
    try:
        api, _ = mock_api(srv, '{"ok": true}')
        srv.kill()
        srv.start()
        status, _, body = invoke(stage_url(srv, api, "live"), method="GET")
        assert status == 200 and json.loads(body) == {"ok": True}
        assert srv.client("apigateway").get_stage(restApiId=api, stageName="live")["stageName"] == "live"
    finally:
        srv.stop()
