"""The code under test: an order topic fanned out to a fulfilment queue, an audit function and e-mail.

Plain boto3, clients passed in: the same code runs against AWS and against tsunagi."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

HANDLER = Path(__file__).with_name("audit_handler.py")


def function_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(HANDLER, "audit_handler.py")
    return buf.getvalue()


def deploy(sns: Any, sqs: Any, lam: Any, iam: Any) -> dict[str, str]:
    """The topic ``orders``, the queue ``fulfilment`` subscribed to it (raw delivery) and the function
    ``order-audit`` subscribed too. Returns their ARNs and the queue's URL."""
    topic = sns.create_topic(Name="orders")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="fulfilment")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                       "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})

    role = iam.create_role(RoleName="order-audit", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    fn = lam.create_function(FunctionName="order-audit", Runtime="python3.11", Role=role,
                             Handler="audit_handler.handler", Code={"ZipFile": function_zip()})["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName="order-audit")
    lam.add_permission(FunctionName="order-audit", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)
    return {"topic": topic, "queue_url": queue_url, "queue_arn": queue_arn, "function": fn}


def place_order(sns: Any, topic: str, order_id: str, total: int) -> str:
    return str(sns.publish(TopicArn=topic, Subject=f"order {order_id}",
                           Message=json.dumps({"id": order_id, "total": total}))["MessageId"])
