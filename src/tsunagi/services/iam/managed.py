"""AWS managed policies: the ones templates and scripts attach most, as documents written here.

Each is what AWS's policy of that name grants, in the grant's essentials (the action families it
allows); tsunagi keeps one version (``v1``) of each. Their ARNs are ``arn:aws:iam::aws:policy/<path><name>``;
an AWS managed ARN not in this list is NoSuchEntity, as an ARN AWS does not have would be.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tsunagi.services.iam.names import AWS_POLICY_PREFIX, POLICY_ID, stable_id

# The date AWS gives the first generation of its managed policies; kept for all of these.
CREATED_MS = 1423248000000          # 2015-02-06T18:40:00Z


@dataclass(frozen=True, slots=True)
class AwsPolicy:
    name: str
    path: str
    description: str
    document: str

    @property
    def arn(self) -> str:
        return f"{AWS_POLICY_PREFIX}{self.path[1:]}{self.name}"

    @property
    def policy_id(self) -> str:
        return stable_id(POLICY_ID, self.arn)


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=4)


def _allow(actions: list[str] | str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

_ALL = (
    AwsPolicy("AdministratorAccess", "/", "Provides full access to AWS services and resources.",
              _doc(_allow("*"))),
    AwsPolicy("PowerUserAccess", "/",
              "Provides full access to AWS services and resources, but does not allow management of Users "
              "and groups.",
              _doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
                   _allow(["iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                           "organizations:DescribeOrganization", "account:ListRegions", "account:GetAccountInformation"]))),
    AwsPolicy("ReadOnlyAccess", "/", "Provides read-only access to AWS services and resources.",
              _doc(_allow(["sqs:Get*", "sqs:List*", "sns:Get*", "sns:List*", "s3:Get*", "s3:List*",
                           "lambda:Get*", "lambda:List*", "logs:Describe*", "logs:Get*", "logs:FilterLogEvents",
                           "kms:Describe*", "kms:Get*", "kms:List*", "iam:Get*", "iam:List*",
                           "cloudformation:Describe*", "cloudformation:Get*", "cloudformation:List*",
                           "apigateway:GET", "ecs:Describe*", "ecs:List*"]))),
    AwsPolicy("IAMFullAccess", "/", "Provides full access to IAM via the AWS Management Console.",
              _doc(_allow(["iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
                           "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
                           "organizations:ListChildren", "organizations:ListParents",
                           "organizations:ListPoliciesForTarget", "organizations:ListRoots",
                           "organizations:ListPolicies", "organizations:ListTargetsForPolicy"]))),
    AwsPolicy("IAMReadOnlyAccess", "/", "Provides read only access to IAM via the AWS Management Console.",
              _doc(_allow(["iam:GenerateCredentialReport", "iam:GenerateServiceLastAccessedDetails", "iam:Get*",
                           "iam:List*", "iam:SimulateCustomPolicy", "iam:SimulatePrincipalPolicy"]))),
    AwsPolicy("AmazonSQSFullAccess", "/", "Provides full access to Amazon SQS via the AWS Management Console.",
              _doc(_allow("sqs:*"))),
    AwsPolicy("AmazonSQSReadOnlyAccess", "/",
              "Provides read only access to Amazon SQS via the AWS Management Console.",
              _doc(_allow(["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListDeadLetterSourceQueues",
                           "sqs:ListQueues", "sqs:ListMessageMoveTasks", "sqs:ListQueueTags"]))),
    AwsPolicy("AmazonSNSFullAccess", "/", "Provides full access to Amazon SNS via the AWS Management Console.",
              _doc(_allow("sns:*"))),
    AwsPolicy("AmazonSNSReadOnlyAccess", "/",
              "Provides read only access to Amazon SNS via the AWS Management Console.",
              _doc(_allow(["sns:GetTopicAttributes", "sns:List*", "sns:CheckIfPhoneNumberIsOptedOut",
                           "sns:GetEndpointAttributes", "sns:GetDataProtectionPolicy", "sns:GetPlatformApplicationAttributes",
                           "sns:GetSMSAttributes", "sns:GetSMSSandboxAccountStatus", "sns:GetSubscriptionAttributes"]))),
    AwsPolicy("AmazonS3FullAccess", "/", "Provides full access to all buckets via the AWS Management Console.",
              _doc(_allow(["s3:*", "s3-object-lambda:*"]))),
    AwsPolicy("AmazonS3ReadOnlyAccess", "/",
              "Provides read only access to all buckets via the AWS Management Console.",
              _doc(_allow(["s3:Get*", "s3:List*", "s3:Describe*", "s3-object-lambda:Get*", "s3-object-lambda:List*"]))),
    AwsPolicy("CloudWatchLogsFullAccess", "/", "Provides full access to CloudWatch Logs",
              _doc(_allow(["logs:*", "cloudwatch:GenerateQuery"]))),
    AwsPolicy("CloudWatchLogsReadOnlyAccess", "/", "Provides read only access to CloudWatch Logs",
              _doc(_allow(["logs:Describe*", "logs:Get*", "logs:List*", "logs:StartQuery", "logs:StopQuery",
                           "logs:TestMetricFilter", "logs:FilterLogEvents", "logs:StartLiveTail",
                           "logs:StopLiveTail", "cloudwatch:GenerateQuery"]))),
    AwsPolicy("AWSLambda_FullAccess", "/", "Grants full access to AWS Lambda service, AWS Lambda console features, "
              "and other related AWS services.",
              _doc(_allow(["cloudformation:DescribeStacks", "cloudformation:ListStackResources", "ec2:Describe*",
                           "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
                           "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListRoles", "kms:ListAliases",
                           "lambda:*", "logs:DescribeLogGroups", "s3:GetBucketLocation", "s3:ListAllMyBuckets",
                           "sns:ListSubscriptions", "sns:ListSubscriptionsByTopic", "sns:ListTopics",
                           "sqs:ListQueues", "sqs:SendMessage", "tag:GetResources"]),
                   _allow("iam:PassRole", Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
                   _allow(["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents",
                           "logs:StartLiveTail", "logs:StopLiveTail"],
                          "arn:aws:logs:*:*:log-group:/aws/lambda/*"))),
    AwsPolicy("AWSLambda_ReadOnlyAccess", "/", "Grants read-only access to AWS Lambda service, AWS Lambda console "
              "features, and other related AWS services.",
              _doc(_allow(["lambda:Get*", "lambda:List*", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole",
                           "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies",
                           "iam:ListRoles", "logs:DescribeLogGroups", "s3:GetBucketLocation", "s3:ListAllMyBuckets",
                           "sns:ListTopics", "sqs:ListQueues"]))),
    AwsPolicy("AWSLambdaRole", "/service-role/", "Default policy for AWS Lambda service role.",
              _doc(_allow(["lambda:InvokeFunction"]))),
    AwsPolicy("AWSLambdaBasicExecutionRole", "/service-role/", "Provides write permissions to CloudWatch Logs.",
              _doc(_allow(_LOGS))),
    AwsPolicy("AWSLambdaSQSQueueExecutionRole", "/service-role/",
              "Provides receive message, delete message, and read attribute access to SQS queues, and write "
              "permissions to CloudWatch logs.",
              _doc(_allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS]))),
    AwsPolicy("AWSLambdaVPCAccessExecutionRole", "/service-role/",
              "Provides minimum permissions for a Lambda function to execute while accessing a resource within "
              "a VPC - create, describe, delete network interfaces and write permissions to CloudWatch Logs. ",
              _doc(_allow([*_LOGS, "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                           "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                           "ec2:UnassignPrivateIpAddresses"]))),
    AwsPolicy("AmazonECSTaskExecutionRolePolicy", "/service-role/",
              "Provides access to other AWS service resources that are required to run Amazon ECS tasks",
              _doc(_allow(["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                           "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "logs:CreateLogStream",
                           "logs:PutLogEvents"]))),
    AwsPolicy("AmazonAPIGatewayPushToCloudWatchLogs", "/service-role/",
              "Allows API Gateway to push logs to user's account.",
              _doc(_allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
                           "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents",
                           "logs:FilterLogEvents"]))),
    AwsPolicy("AWSKeyManagementServicePowerUser", "/", "Provides access to AWS Key Management Service (KMS).",
              _doc(_allow(["kms:CreateAlias", "kms:CreateKey", "kms:DeleteAlias", "kms:Describe*", "kms:GenerateRandom",
                           "kms:Get*", "kms:List*", "kms:TagResource", "kms:UntagResource", "iam:ListGroups",
                           "iam:ListRoles", "iam:ListUsers"]))),
    AwsPolicy("AWSCloudFormationFullAccess", "/", "Provides full access to AWS CloudFormation.",
              _doc(_allow(["cloudformation:*"]))),
)

BY_ARN: dict[str, AwsPolicy] = {p.arn: p for p in _ALL}
ALL: tuple[AwsPolicy, ...] = tuple(sorted(_ALL, key=lambda p: p.name.lower()))
