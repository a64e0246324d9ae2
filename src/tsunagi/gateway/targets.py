"""What an API call asks for, in IAM's terms: the action (``sqs:SendMessage``) and the resource it
acts on (the queue of a QueueUrl, the topic, the function, the bucket or object, the key), with the
account that owns the resource when the request names it.

The action is the service's IAM prefix and the operation's name, except where IAM names the
permission differently (batch calls, S3's listing and configuration calls, Lambda's Invoke). The
resource's account comes from its URL or ARN; an S3 bucket's owner and a KMS alias's key are not in
the request, so the authorizer asks the service's port (``lookup``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import unquote


class Target(NamedTuple):
    action: str                 # "sqs:SendMessage"
    resource: str               # an ARN, or "*" when the call names no resource
    account: str | None         # the resource's account when the request says it
    lookup: str | None          # the port to ask for the resource's owner and policy: sqs, sns, lambda, s3, kms
    creates: bool = False       # the call makes the resource (nothing to look up; only its own account may)


# -- actions ------------------------------------------------------------------------------------------

PREFIX = {"lambda": "lambda", "s3": "s3", "sqs": "sqs", "sns": "sns", "kms": "kms", "logs": "logs", "iam": "iam",
          "sts": "sts"}

_RENAMED: dict[str, dict[str, str]] = {
    "sqs": {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"},
    "sns": {"PublishBatch": "Publish"},
    "lambda": {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction",
               "InvokeWithResponseStream": "InvokeFunction"},
    "s3": {
        "HeadObject": "GetObject", "GetObjectAttributes": "GetObject", "ListObjects": "ListBucket",
        "ListObjectsV2": "ListBucket", "HeadBucket": "ListBucket", "ListObjectVersions": "ListBucketVersions",
        "CopyObject": "PutObject", "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
        "UploadPartCopy": "PutObject", "CompleteMultipartUpload": "PutObject", "PostObject": "PutObject",
        "ListParts": "ListMultipartUploadParts", "ListMultipartUploads": "ListBucketMultipartUploads",
        "DeleteObjects": "DeleteObject", "ListBuckets": "ListAllMyBuckets",
        "GetBucketNotificationConfiguration": "GetBucketNotification",
        "PutBucketNotificationConfiguration": "PutBucketNotification",
        "GetBucketEncryption": "GetEncryptionConfiguration", "PutBucketEncryption": "PutEncryptionConfiguration",
        "DeleteBucketEncryption": "PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration", "DeleteBucketLifecycle":
            "PutLifecycleConfiguration",
        "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS", "DeleteBucketCors": "PutBucketCORS",
        "DeleteBucketTagging": "PutBucketTagging", "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "PutBucketPublicAccessBlock", "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls": "PutBucketOwnershipControls", "DeleteBucketWebsite": "DeleteBucketWebsite",
        "GetBucketAcl": "GetBucketAcl", "GetObjectAcl": "GetObjectAcl",
    },
}


def action_of(service: str, operation: str) -> str:
    """The IAM action of an operation: ``sqs:SendMessage``, ``s3:ListBucket`` for ListObjectsV2, …"""
    renamed = _RENAMED.get(service)
    name = renamed.get(operation, operation) if renamed else operation
    return f"{PREFIX.get(service, service)}:{name}"


# -- resources ----------------------------------------------------------------------------------------

Extract = Callable[[str, str, dict[str, Any], str, str, str | None], list[Target]]

_SQS_HOST_REGION = re.compile(r"(?:^|\.)sqs\.([a-z0-9-]+)\.")


def _sqs(service: str, op: str, params: dict[str, Any], account: str, region: str, bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    url = params.get("QueueUrl")
    if isinstance(url, str) and url:
        path = url.split("?", 1)[0].rstrip("/")
        host = ""
        if "://" in path:
            host, _, path = path.split("://", 1)[1].partition("/")
        parts = [p for p in path.split("/") if p]
        m = _SQS_HOST_REGION.search(host) if host and "sqs." in host else None
        if m:
            region = m.group(1)
        if len(parts) >= 2:
            owner, name = parts[-2], parts[-1]
        elif len(parts) == 1 and not host:
            owner, name = account, parts[0]
        else:
            return []
        return [Target(action, f"arn:aws:sqs:{region}:{owner}:{name}", owner, "sqs")]
    queue_name = params.get("QueueName")
    if op == "GetQueueUrl":
        owner_id = str(params.get("QueueOwnerAWSAccountId") or account)
        if isinstance(queue_name, str) and queue_name:
            return [Target(action, f"arn:aws:sqs:{region}:{owner_id}:{queue_name}", owner_id, "sqs")]
        return []
    if op == "CreateQueue" and isinstance(queue_name, str) and queue_name:
        return [Target(action, f"arn:aws:sqs:{region}:{account}:{queue_name}", account, None, creates=True)]
    source = params.get("SourceArn")
    if isinstance(source, str) and source.startswith("arn:"):
        return [Target(action, source, _arn_account(source), "sqs")]
    return [Target(action, "*", None, None)]


def _arn_account(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] if len(parts) >= 6 and parts[4] else None


def _sns(service: str, op: str, params: dict[str, Any], account: str, region: str, bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    arn = params.get("TopicArn") or params.get("ResourceArn")
    if not arn and op == "Publish":
        arn = params.get("TargetArn")
    if not arn:
        sub = params.get("SubscriptionArn")
        if isinstance(sub, str) and sub.count(":") >= 6:
            arn = sub.rsplit(":", 1)[0]          # a subscription is checked against its topic
    if isinstance(arn, str) and arn.startswith("arn:") and ":sns:" in arn:
        if ":endpoint/" in arn or ":app/" in arn:
            return [Target(action, arn, _arn_account(arn), None)]
        return [Target(action, arn, _arn_account(arn), "sns")]
    if op == "CreateTopic":
        name = params.get("Name")
        if isinstance(name, str) and name:
            return [Target(action, f"arn:aws:sns:{region}:{account}:{name}", account, None, creates=True)]
    return [Target(action, "*", None, None)]


_FN_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9_-]+)(?::([^:]+))?$")
_FN_PARTIAL = re.compile(r"^(\d{12}):function:([a-zA-Z0-9_-]+)(?::([^:]+))?$")


def _lambda(service: str, op: str, params: dict[str, Any], account: str, region: str,
            bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    value = params.get("FunctionName")
    if not isinstance(value, str) or not value:
        arn = params.get("Resource")
        if isinstance(arn, str) and arn.startswith("arn:"):
            return [Target(action, arn, _arn_account(arn), "lambda")]
        return [Target(action, "*", None, None)]
    m = _FN_ARN.match(value)
    if m:
        region, owner, name = m.group(1), m.group(2), m.group(3)
    else:
        m = _FN_PARTIAL.match(value)
        if m:
            owner, name = m.group(1), m.group(2)
        else:
            owner, name = account, value.split(":", 1)[0]
    arn = f"arn:aws:lambda:{region}:{owner}:function:{name}"
    creates = op == "CreateFunction"
    return [Target(action, arn, owner, None if creates else "lambda", creates)]


def _s3_object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3(service: str, op: str, params: dict[str, Any], account: str, region: str, bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    name = params.get("Bucket") or bucket
    if not isinstance(name, str) or not name:
        return [Target(action, "*", None, None)]
    if op == "CreateBucket":
        return [Target(action, f"arn:aws:s3:::{name}", account, None, creates=True)]
    out: list[Target] = []
    key = params.get("Key")
    if op == "DeleteObjects":
        objects = (params.get("Delete") or {}).get("Objects") or []
        for item in objects[:1000]:
            k = item.get("Key") if isinstance(item, dict) else None
            if isinstance(k, str):
                out.append(Target(action, _s3_object(name, k), None, "s3"))
        if not out:
            out.append(Target(action, f"arn:aws:s3:::{name}/*", None, "s3"))
    elif isinstance(key, str) and key:
        out.append(Target(action, _s3_object(name, key), None, "s3"))
    else:
        out.append(Target(action, f"arn:aws:s3:::{name}", None, "s3"))
    source = params.get("CopySource")
    if op in ("CopyObject", "UploadPartCopy") and isinstance(source, str) and source:
        src = unquote(source.split("?", 1)[0]).lstrip("/")
        if "/" in src:
            out.append(Target("s3:GetObject", f"arn:aws:s3:::{src}", None, "s3"))
    return out


def _kms(service: str, op: str, params: dict[str, Any], account: str, region: str, bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    out: list[Target] = []
    for member in ("KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"):
        ident = params.get(member)
        if not isinstance(ident, str) or not ident:
            continue
        if member == "DestinationKeyId":
            member_action = "kms:ReEncryptTo"
        elif member == "SourceKeyId" or (op == "ReEncrypt" and member == "KeyId"):
            member_action = "kms:ReEncryptFrom"
        else:
            member_action = action
        if ident.startswith("arn:"):
            out.append(Target(member_action, ident, _arn_account(ident), "kms"))
        else:
            out.append(Target(member_action, ident, account, "kms"))
    return out or [Target(action, "*", None, None)]


_LOG_GROUP_ARN = re.compile(r"arn:[^:]+:logs:([^:]*):(\d{12}):log-group:([^:]+)(?::.*)?")


def _logs(service: str, op: str, params: dict[str, Any], account: str, region: str,
          bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    ident = params.get("logGroupIdentifier") or params.get("resourceArn")
    if isinstance(ident, str) and ident.startswith("arn:"):
        m = _LOG_GROUP_ARN.fullmatch(ident)
        if m:
            return [Target(action, f"arn:aws:logs:{m.group(1)}:{m.group(2)}:log-group:{m.group(3)}:*", m.group(2),
                           None)]
        return [Target(action, ident, _arn_account(ident), None)]
    name = params.get("logGroupName") or ident
    if isinstance(name, str) and name:
        return [Target(action, f"arn:aws:logs:{region}:{account}:log-group:{name}:*", account, None)]
    return [Target(action, "*", None, None)]


_IAM_KINDS = (("UserName", "user"), ("RoleName", "role"), ("GroupName", "group"))


def _iam(service: str, op: str, params: dict[str, Any], account: str, region: str, bucket: str | None) -> list[Target]:
    action = action_of(service, op)
    for member, kind in _IAM_KINDS:
        name = params.get(member)
        if isinstance(name, str) and name:
            path = params.get("Path") if op.startswith("Create") else None
            return [Target(action, f"arn:aws:iam::{account}:{kind}{path or '/'}{name}", account, None)]
    arn = params.get("PolicyArn")
    if isinstance(arn, str) and arn.startswith("arn:"):
        return [Target(action, arn, _arn_account(arn), None)]
    return [Target(action, "*", None, None)]


def _generic(service: str, op: str, params: dict[str, Any], account: str, region: str,
             bucket: str | None) -> list[Target]:
    return [Target(action_of(service, op), "*", None, None)]


EXTRACT: dict[str, Extract] = {"sqs": _sqs, "sns": _sns, "lambda": _lambda, "s3": _s3, "kms": _kms, "logs": _logs,
                               "iam": _iam}


def targets(service: str, operation: str, params: dict[str, Any], account: str, region: str,
            bucket: str | None = None) -> list[Target]:
    """What the call acts on: one target, or more (S3's DeleteObjects' keys, a copy's source, ReEncrypt's
    two keys). Nothing is validated here: a malformed name is left to the operation to refuse."""
    return EXTRACT.get(service, _generic)(service, operation, params, account, region, bucket)
