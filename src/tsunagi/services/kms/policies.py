"""Key policies: the default one AWS writes for a key created without one, and AWS managed keys'.

Policies are stored and returned as given (checked by the policy evaluator's parser first, see
``core.check_policy_text``). Evaluating them on each call is the policy evaluator's job
(``KmsCore.authorize`` is where it plugs in); the one policy applied today is that of AWS managed
keys, which users cannot change: :func:`managed_allows` is exactly what it grants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def aws_json(value: Any, level: int = 0) -> str:
    """JSON the way KMS prints the policies it writes (Jackson's pretty printer: ``"Key" : value``,
    two-space indents for objects, arrays on one line)."""
    if isinstance(value, dict):
        if not value:
            return "{ }"
        pad = "  " * (level + 1)
        fields = ",".join(f"\n{pad}{json.dumps(k, ensure_ascii=False)} : {aws_json(v, level + 1)}"
                          for k, v in value.items())
        return "{" + fields + "\n" + "  " * level + "}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        return "[ " + ", ".join(aws_json(v, level) for v in value) + " ]"
    return json.dumps(value, ensure_ascii=False)


def default_policy(account: str) -> str:
    """The key policy of a key created through the API without one: the account may use IAM policies
    to allow any KMS operation on the key."""
    return aws_json({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })


@dataclass(frozen=True, slots=True)
class Managed:
    """An AWS managed key (``alias/aws/<service>``): what AWS writes into its key policy."""

    service: str                      # the botocore name of the service it protects
    policy_id: str
    sid: str
    description: str
    via_actions: tuple[str, ...]      # allowed through the service, for principals of the account
    metadata_actions: tuple[str, ...]  # allowed to the account directly

    @property
    def alias(self) -> str:
        return f"alias/aws/{self.service}"

    def policy(self, account: str, region: str) -> str:
        return aws_json({
            "Version": "2012-10-17",
            "Id": self.policy_id,
            "Statement": [{
                "Sid": self.sid,
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": list(self.via_actions),
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account,
                                               "kms:ViaService": via_service(self.service, region)}},
            }, {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": list(self.metadata_actions),
                "Resource": "*",
            }],
        })


_USE = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey")
_METADATA = ("kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant")

MANAGED: dict[str, Managed] = {m.alias: m for m in (
    Managed("sqs", "auto-sqs-1",
            "Allow access through Simple Queue Service (SQS) for all principals in the account that are "
            "authorized to use SQS",
            "Default key that protects my SQS messages when no other key is defined", _USE, _METADATA),
    Managed("sns", "auto-sns-1",
            "Allow access through SNS for all principals in the account that are authorized to use SNS",
            "Default key that protects my SNS data when no other key is defined",
            ("kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"),
            _METADATA),
    Managed("s3", "auto-s3-2",
            "Allow access through S3 for all principals in the account that are authorized to use S3",
            "Default key that protects my S3 objects when no other key is defined",
            ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"),
            ("kms:Describe*", "kms:Get*", "kms:List*")),
    Managed("lambda", "auto-awslambda",
            "Allow access through AWS Lambda for all principals in the account that are authorized to use "
            "AWS Lambda",
            "Default key that protects my Lambda functions when no other key is defined", _USE, _METADATA),
)}


def via_service(service: str, region: str) -> str:
    """``kms:ViaService`` of a request a service makes for its caller."""
    return f"{service}.{region}.amazonaws.com"


def _matches(patterns: tuple[str, ...], action: str) -> bool:
    return any(action == p or (p.endswith("*") and action.startswith(p[:-1])) for p in patterns)


def managed_allows(managed: Managed, action: str, *, key_account: str, caller_account: str,
                   via: str | None) -> bool:
    """Whether an AWS managed key's policy allows ``action`` (``kms:Encrypt``) to a principal of
    ``caller_account`` calling directly (``via`` None) or through the service ``via`` (``sqs``, in
    the key's region: its ``kms:ViaService`` is ``sqs.<region>.amazonaws.com``)."""
    if caller_account != key_account:
        return False
    if via == managed.service and _matches(managed.via_actions, action):
        return True
    return _matches(managed.metadata_actions, action)
