"""A service tsunagi does not serve answers in that service's own protocol, so its client parses the
error instead of failing on the body (XML clients used to get JSON; JSON services got S3's 404)."""

from __future__ import annotations

import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support.server import TsunagiServer

# (service, a call with its parameters, the protocol its model speaks)
CALLS = [
    ("dynamodb", "list_tables", {}),                                   # json 1.0
    ("kinesis", "list_streams", {}),                                   # json 1.1
    ("ecr", "describe_repositories", {}),                              # json 1.1
    ("events", "list_event_buses", {}),                                # json 1.1
    ("stepfunctions", "list_state_machines", {}),                      # json 1.0
    ("secretsmanager", "list_secrets", {}),                            # json 1.1
    ("ec2", "describe_instances", {}),                                 # ec2
    ("cloudformation", "list_stacks", {}),                             # query
    ("rds", "describe_db_instances", {}),                              # query
    ("route53", "list_hosted_zones", {}),                              # rest-xml
    ("batch", "describe_job_queues", {}),                              # rest-json
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("service", "call", "params"), CALLS, ids=[c[0] for c in CALLS])
def test_an_unserved_service_answers_in_its_own_protocol(server: TsunagiServer, service: str, call: str,
                                                         params: dict) -> None:
    client = server.client(service)
    with pytest.raises(ClientError) as e:
        getattr(client, call)(**params)
    err = e.value.response["Error"]
    assert err["Code"] == "NotImplemented"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
    name = client.meta.service_model.metadata["serviceFullName"]
    assert err["Message"].startswith(f"{name} ({service}) is not served by tsunagi. tsunagi serves: ")
    assert "sqs" in err["Message"]


@pytest.mark.sqlite_only
def test_an_unsigned_query_request_for_an_unknown_action_gets_xml(server: TsunagiServer) -> None:
    req = urllib.request.Request(f"{server.url}/", data=b"Action=DescribeInstances&Version=2016-11-15",
                                 method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    body = e.value.read().decode()
    assert e.value.code == 400
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse')
    assert "<Code>UnrecognizedRequest</Code>" in body


@pytest.mark.sqlite_only
def test_an_unknown_json_target_is_not_s3s(server: TsunagiServer) -> None:
    req = urllib.request.Request(f"{server.url}/", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/x-amz-json-1.0",
                                          "X-Amz-Target": "NoSuchService_20990101.DoThings"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    assert b'"__type":"UnrecognizedRequest"' in e.value.read()
