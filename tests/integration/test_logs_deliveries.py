"""Vended-log deliveries (sources, destinations, their policies, deliveries) through boto3 and the aws
CLI on both stores."""

from __future__ import annotations

import json

import pytest

ACCOUNT = "000000000000"
DIST = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1ABCDEF"


def test_delivery_sources_destinations_and_deliveries(server):
    logs = server.client("logs")
    src = logs.put_delivery_source(name="cdn", resourceArn=DIST, logType="ACCESS_LOGS", tags={"t": "1"})
    assert src["deliverySource"] == {"name": "cdn", "arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:delivery-source:cdn",
                                     "resourceArns": [DIST], "service": "cloudfront", "logType": "ACCESS_LOGS",
                                     "tags": {"t": "1"}}
    with pytest.raises(logs.exceptions.ConflictException):
        logs.put_delivery_source(name="cdn", resourceArn=DIST, logType="OTHER_LOGS")
    dest = logs.put_delivery_destination(
        name="to-s3", outputFormat="json",
        deliveryDestinationConfiguration={"destinationResourceArn": "arn:aws:s3:::cdn-logs"})["deliveryDestination"]
    assert dest["deliveryDestinationType"] == "S3"
    assert dest["arn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:delivery-destination:to-s3"
    server.aws("logs", "put-delivery-destination", "--name", "to-cwl", "--delivery-destination-configuration",
               f"destinationResourceArn=arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/cdn")
    assert logs.get_delivery_destination(name="to-cwl")["deliveryDestination"]["deliveryDestinationType"] == "CWL"
    assert [d["name"] for d in logs.describe_delivery_destinations()["deliveryDestinations"]] == ["to-cwl", "to-s3"]

    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"},
                                                                  "Action": "logs:CreateDelivery",
                                                                  "Resource": dest["arn"]}]})
    assert logs.put_delivery_destination_policy(deliveryDestinationName="to-s3", deliveryDestinationPolicy=policy)[
        "policy"] == {"deliveryDestinationPolicy": policy}
    assert logs.get_delivery_destination_policy(deliveryDestinationName="to-s3")["policy"] == \
        {"deliveryDestinationPolicy": policy}
    logs.delete_delivery_destination_policy(deliveryDestinationName="to-s3")
    assert logs.get_delivery_destination_policy(deliveryDestinationName="to-s3")["policy"] == {}

    delivery = logs.create_delivery(deliverySourceName="cdn", deliveryDestinationArn=dest["arn"],
                                    recordFields=["date", "time"], fieldDelimiter=",")["delivery"]
    assert len(delivery["id"]) == 16 and delivery["deliveryDestinationType"] == "S3"
    assert delivery["arn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:delivery:{delivery['id']}"
    with pytest.raises(logs.exceptions.ConflictException):
        logs.create_delivery(deliverySourceName="cdn", deliveryDestinationArn=dest["arn"])
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.create_delivery(deliverySourceName="nope", deliveryDestinationArn=dest["arn"])
    logs.update_delivery_configuration(id=delivery["id"], fieldDelimiter="\t")
    assert logs.get_delivery(id=delivery["id"])["delivery"]["fieldDelimiter"] == "\t"
    assert [d["id"] for d in logs.describe_deliveries()["deliveries"]] == [delivery["id"]]
    # in use: neither end can go while the delivery exists
    with pytest.raises(logs.exceptions.ConflictException):
        logs.delete_delivery_source(name="cdn")
    with pytest.raises(logs.exceptions.ConflictException):
        logs.delete_delivery_destination(name="to-s3")
    logs.delete_delivery(id=delivery["id"])
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_delivery(id=delivery["id"])
    logs.delete_delivery_source(name="cdn")
    logs.delete_delivery_destination(name="to-s3")
    assert logs.describe_delivery_sources()["deliverySources"] == []
    # these newer operations answer constraint violations as ValidationException, as their model says
    raw = server.client("logs", parameter_validation=False)
    with pytest.raises(raw.exceptions.ValidationException):
        raw.put_delivery_destination(name="x" * 61, deliveryDestinationConfiguration={
            "destinationResourceArn": "arn:aws:s3:::b"})
