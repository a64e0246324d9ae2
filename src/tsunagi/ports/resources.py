"""A resource's owner and its resource-based policy, as the gateway's authorize step asks for them.

Each port that guards resources with a policy (SQS queues, SNS topics, Lambda functions, S3 buckets,
KMS keys) answers ``resource_policy(ctx, arn)`` with a :class:`ResourcePolicy`, or None when the ARN
names nothing (the operation then answers its own not-found error).
"""

from __future__ import annotations

from typing import NamedTuple


class ResourcePolicy(NamedTuple):
    arn: str                 # the resource's ARN (a key's ARN for an alias; the bucket's for an object)
    account: str             # the account that owns it
    policy: str | None       # the policy document (JSON), None when it has none
