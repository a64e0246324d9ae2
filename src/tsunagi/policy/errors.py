"""A policy document AWS would refuse: which rule it breaks, and the error each service returns for it.

The validator in :mod:`tsunagi.policy.document` finds a :class:`Problem`; the service that was handed
the document (its :class:`Dialect`) decides the error code and the message, because AWS's services
word the same mistake differently. IAM's messages are the most detailed and are the default.

Where the messages come from (AWS documents the error codes, rarely the messages):

* IAM ``MalformedPolicyDocument``: the messages IAM returns, as users quote them in public issue threads
  ("Syntax errors in policy." boto/boto3#180 and aws-cloudformation/cfn-lint#3751 (a Condition with no
  operator); "Policy document should not specify a principal." hashicorp/terraform#13449; "Policy
  statement must contain actions." aws/aws-cdk#7615; "Policy statement must contain resources."
  trussworks/terraform-aws-s3-anti-virus#22; "Statement IDs (SID) in a single policy must be unique."
  kubernetes/kops#4951; "Actions/Condition can contain only one colon." garnaat/kappa#111; "Resource X
  must be in ARN format or \"*\"." felipefrizzo/terraform-aws-transfer-server#6; "The policy failed
  legacy parsing" Graylog2/graylog-plugin-aws#172 (an ARN with too few parts); "Invalid principal in
  policy: \"AWS\":\"arn:...\"" aws-samples/aws-iam-access-key-auto-rotation#26; "IAM resource <arn>
  cannot contain region information." cloud-gov/terraform-provision#1838; "Action vendors (e.g., aws,
  ec2, etc.) must not contain wildcards" boogy/iam-policy-validator#172; "Has prohibited field Resource"
  for a trust policy with a Resource, same family as hashicorp/terraform#4730's "Has prohibited field
  Principal"). "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc." is the
  companion of the one-colon message.
* KMS ``MalformedPolicyDocumentException``: "Policy contains a statement with one or more invalid
  principals." (aws-samples/siem-on-amazon-opensearch-service#32); the OverlyPermissiveCondition
  messages for ``ForAllValues`` with ``kms:EncryptionContext:k`` or ``aws:RequestTag/k`` are from the
  KMS Developer Guide (condition keys page). For other mistakes only the code is documented; the IAM
  wording is used.
* S3 ``MalformedPolicy``: "Missing required field Principal" (hashicorp/terraform#28688), "Invalid
  principal in policy" (cloud-custodian/cloud-custodian#4948), "Policy has invalid resource"
  (aws-samples/aws-serverless-appsync-app#4), "Policies must be valid JSON and the first byte must be
  '{'" (aws/aws-sdk-js-v3#1349). "Policy has invalid action", "Invalid effect: X", "Missing required
  field Statement" and "The policy must contain a valid version string" are as versity/versitygw
  (an S3-compatible server) reproduces them (#650, #647, #1176, #1536); "Unknown field X" and
  "Missing required field Effect/Action" follow the same "Missing required field" family and are not
  confirmed against S3.
* SQS ``InvalidAttributeValue``: one message for every mistake, "Invalid value for the parameter
  Policy." (hashicorp/terraform-provider-aws#42209, cloud-custodian/cloud-custodian#1816).
* SNS ``InvalidParameter``: "Invalid parameter: Policy Error: ..." (aws/serverless-application-model#1591,
  hashicorp/terraform#31538 "PrincipalNotFound"), "Invalid parameter: Policy statement action out of
  service scope!" (aws/aws-cli#3143), "Invalid parameter: Every policy statement must have a unique
  ID." (Bayer-Group/cloudformation-template-generator#138). Others: only the code is known; the detail
  after "Policy Error: " is IAM's wording.
* Lambda: its policies are written by AddPermission, not by users; ``InvalidParameterValueException``
  with IAM's wording.
"""

from __future__ import annotations

from enum import StrEnum


class Dialect(StrEnum):
    """Which service was handed the document (and so which error it answers with)."""

    IAM = "iam"
    KMS = "kms"
    S3 = "s3"
    SQS = "sqs"
    SNS = "sns"
    LAMBDA = "lambda"


class Problem(StrEnum):
    """The rule a document breaks."""

    SYNTAX = "syntax"                          # not JSON, wrong types, unknown operator, both X and NotX
    NOT_JSON = "not-json"
    UNKNOWN_FIELD = "unknown-field"
    VERSION = "version"
    NO_STATEMENT = "no-statement"
    NO_EFFECT = "no-effect"
    EFFECT = "effect"
    DUPLICATE_SID = "duplicate-sid"
    PRINCIPAL_PROHIBITED = "principal-prohibited"   # identity policies name no principal
    PRINCIPAL_MISSING = "principal-missing"         # resource, trust and key policies must
    PRINCIPAL_INVALID = "principal-invalid"
    NO_ACTION = "no-action"
    ACTION_VENDOR = "action-vendor"                 # "GetObject": no "s3:" in front
    ACTION_COLONS = "action-colons"
    ACTION_VENDOR_WILDCARD = "action-vendor-wildcard"
    ACTION_SCOPE = "action-scope"                   # an sqs: action in an SNS topic policy
    NO_RESOURCE = "no-resource"
    RESOURCE_PROHIBITED = "resource-prohibited"     # trust policies name no resource
    RESOURCE_FORMAT = "resource-format"
    RESOURCE_LEGACY = "resource-legacy"             # "arn:" with too few parts
    RESOURCE_REGION = "resource-region"             # IAM resources have no region
    CONDITION_KEY_VENDOR = "condition-key-vendor"
    TOO_LARGE = "too-large"
    TOO_MANY = "too-many"                           # SQS: statements, principals, conditions, actions
    OVERLY_PERMISSIVE = "overly-permissive"         # KMS: ForAllValues with a single-valued key


class PolicyError(ValueError):
    """A policy document AWS would refuse, with the code and message the service returns.

    ``problem`` says which rule was broken, ``detail`` what exactly (the field, the value);
    ``code`` and ``message`` are what the service that was handed the document answers, ready for
    a ``ServiceError``: the policy package does not import the protocol layer, its callers wrap it.
    """

    def __init__(self, problem: Problem, detail: str = "", *, dialect: Dialect = Dialect.IAM,
                 code: str | None = None, message: str | None = None) -> None:
        self.problem = problem
        self.detail = detail
        self.dialect = dialect
        self.code = code or CODES[dialect]
        self.message = message if message is not None else _message(problem, detail, dialect)
        self.status = 400
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"PolicyError({self.code}: {self.message!r})"


CODES: dict[Dialect, str] = {
    Dialect.IAM: "MalformedPolicyDocument",
    Dialect.KMS: "MalformedPolicyDocumentException",
    Dialect.S3: "MalformedPolicy",
    Dialect.SQS: "InvalidAttributeValue",
    Dialect.SNS: "InvalidParameter",
    Dialect.LAMBDA: "InvalidParameterValueException",
}

SYNTAX = "Syntax errors in policy."


def _iam(problem: Problem, detail: str) -> str:
    if problem is Problem.PRINCIPAL_PROHIBITED:
        return "Policy document should not specify a principal."
    if problem is Problem.PRINCIPAL_MISSING:
        return "Missing required field Principal"
    if problem is Problem.PRINCIPAL_INVALID:
        return f"Invalid principal in policy: {detail}" if detail else "Invalid principal in policy"
    if problem is Problem.NO_ACTION:
        return "Policy statement must contain actions."
    if problem is Problem.NO_RESOURCE:
        return "Policy statement must contain resources."
    if problem is Problem.RESOURCE_PROHIBITED:
        return "Has prohibited field Resource"
    if problem is Problem.DUPLICATE_SID:
        return "Statement IDs (SID) in a single policy must be unique."
    if problem is Problem.ACTION_VENDOR or problem is Problem.CONDITION_KEY_VENDOR:
        return "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
    if problem is Problem.ACTION_COLONS:
        return "Actions/Condition can contain only one colon."
    if problem is Problem.ACTION_VENDOR_WILDCARD:
        return "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards"
    if problem is Problem.RESOURCE_FORMAT:
        return f'Resource {detail} must be in ARN format or "*".'
    if problem is Problem.RESOURCE_LEGACY:
        return "The policy failed legacy parsing"
    if problem is Problem.RESOURCE_REGION:
        return f"IAM resource {detail} cannot contain region information."
    if problem is Problem.TOO_LARGE or problem is Problem.TOO_MANY:
        return detail or SYNTAX
    # NOT_JSON, SYNTAX, UNKNOWN_FIELD, VERSION, NO_STATEMENT, NO_EFFECT, EFFECT, ACTION_SCOPE: IAM
    # answers these with its generic message (only "Syntax errors in policy." is seen for them).
    return SYNTAX


def _s3(problem: Problem, detail: str) -> str:
    table = {
        Problem.NOT_JSON: "Policies must be valid JSON and the first byte must be '{'",
        Problem.PRINCIPAL_MISSING: "Missing required field Principal",
        Problem.PRINCIPAL_INVALID: "Invalid principal in policy",
        Problem.NO_STATEMENT: "Missing required field Statement",
        Problem.NO_EFFECT: "Missing required field Effect",
        Problem.EFFECT: f"Invalid effect: {detail}",
        Problem.NO_ACTION: "Missing required field Action",
        Problem.ACTION_SCOPE: "Policy has invalid action",
        Problem.ACTION_VENDOR: "Policy has invalid action",
        Problem.ACTION_COLONS: "Policy has invalid action",
        Problem.ACTION_VENDOR_WILDCARD: "Policy has invalid action",
        Problem.NO_RESOURCE: "Missing required field Resource",
        Problem.RESOURCE_FORMAT: "Policy has invalid resource",
        Problem.RESOURCE_LEGACY: "Policy has invalid resource",
        Problem.VERSION: "The policy must contain a valid version string",
        Problem.UNKNOWN_FIELD: f"Unknown field {detail}",
    }
    return table.get(problem) or _iam(problem, detail)


def _message(problem: Problem, detail: str, dialect: Dialect) -> str:
    if dialect is Dialect.SQS:
        return "Invalid value for the parameter Policy."
    if dialect is Dialect.S3:
        return _s3(problem, detail)
    if dialect is Dialect.KMS:
        if problem is Problem.PRINCIPAL_INVALID:
            return "Policy contains a statement with one or more invalid principals."
        if problem is Problem.OVERLY_PERMISSIVE:
            # KMS condition keys page, kms:EncryptionContext:context-key and "Using set operators"
            if detail == "EncryptionContext":
                return ("OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a "
                        "single-valued condition key matches requests without the specified encryption context or "
                        "with an unspecified encryption context. To fix, remove ForAllValues.")
            return ("OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition "
                    "key matches requests without the specified tag or with an unspecified tag. "
                    "To fix, remove ForAllValues.")
        return _iam(problem, detail)
    if dialect is Dialect.SNS:
        if problem is Problem.ACTION_SCOPE:
            return "Invalid parameter: Policy statement action out of service scope!"
        if problem is Problem.DUPLICATE_SID:
            return "Invalid parameter: Every policy statement must have a unique ID."
        if problem is Problem.PRINCIPAL_INVALID:
            return "Invalid parameter: Policy Error: PrincipalNotFound"
        return f"Invalid parameter: Policy Error: {_iam(problem, detail)}"
    return _iam(problem, detail)
