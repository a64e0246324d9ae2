"""The errors KMS returns, with its exact codes, and the messages AWS words them with.

Every class is a :class:`~tsunagi.ports.kms.KmsError`, so the other services calling through the KMS
port catch one type and read KMS's code. All are HTTP 400 except KMSInternalException (500).
"""

from __future__ import annotations

from typing import Any

from tsunagi.ports.kms import KmsError


def _error(code: str, status: int = 400) -> type[KmsError]:
    def __init__(self: KmsError, message: str = "", **kw: Any) -> None:
        KmsError.__init__(self, message, **kw)

    return type(code, (KmsError,), {"code": code, "status": status, "sender_fault": status < 500,
                                    "__init__": __init__})


NotFound = _error("NotFoundException")
AlreadyExists = _error("AlreadyExistsException")
Disabled = _error("DisabledException")
InvalidState = _error("KMSInvalidStateException")
InvalidCiphertext = _error("InvalidCiphertextException")
IncorrectKey = _error("IncorrectKeyException")
InvalidKeyUsage = _error("InvalidKeyUsageException")
InvalidSignature = _error("KMSInvalidSignatureException")
InvalidMac = _error("KMSInvalidMacException")
InvalidAliasName = _error("InvalidAliasNameException")
InvalidArn = _error("InvalidArnException")
InvalidMarker = _error("InvalidMarkerException")
InvalidGrantId = _error("InvalidGrantIdException")
InvalidGrantToken = _error("InvalidGrantTokenException")
MalformedPolicy = _error("MalformedPolicyDocumentException")
LimitExceeded = _error("LimitExceededException")
TagError = _error("TagException")
Unsupported = _error("UnsupportedOperationException")
DryRun = _error("DryRunOperationException")
CustomKeyStoreNotFound = _error("CustomKeyStoreNotFoundException")
NotAuthorized = _error("NotAuthorizedException")
AccessDenied = _error("AccessDeniedException")
Validation = _error("ValidationException")
Conflict = _error("ConflictException")
Internal = _error("KMSInternalException", 500)

# Messages AWS gives (the key's ARN where it names one).
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
UNKNOWN_CIPHERTEXT_KEY = ("The ciphertext refers to a customer master key that does not exist, does not exist "
                          "in this region, or you are not allowed to access.")
ALIAS_PREFIX = ('Alias must start with the prefix "alias/". Please see '
                "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
DRY_RUN = "The request would have succeeded, but the DryRun option is set."
SYNTAX_ERRORS = "Syntax errors in policy."     # the policy evaluator's wording for a document it cannot read
INVALID_MARKER = "The marker that specifies where pagination should next begin is not valid."


def key_not_found(arn: str) -> KmsError:
    return NotFound(f"Key '{arn}' does not exist")


def alias_not_found(alias_arn: str) -> KmsError:
    return NotFound(f"Alias {alias_arn} is not found.")


def invalid_key_id(value: str) -> KmsError:
    return NotFound(f"Invalid keyId '{value}'")


def disabled(arn: str) -> KmsError:
    return Disabled(f"{arn} is disabled.")


def pending_deletion(arn: str) -> KmsError:
    return InvalidState(f"{arn} is pending deletion.")


def wrong_usage(arn: str, usage: str, operation: str) -> KmsError:
    return InvalidKeyUsage(f"{arn} key usage is {usage} which is not valid for {operation}.")


def incompatible(algorithm: str, key_spec: str) -> KmsError:
    return InvalidKeyUsage(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")


def access_denied(principal: str, action: str, resource: str) -> KmsError:
    return AccessDenied(f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
                        f"because no resource-based policy allows the {action} action")


def constraint(value: object, member: str, rule: str, *, show: bool = True) -> KmsError:
    """AWS's wording for a value that breaks a model constraint (sensitive values are not echoed)."""
    shown = f"Value '{value}' at" if show else "Value at"
    return Validation(f"1 validation error detected: {shown} '{member}' failed to satisfy constraint: {rule}")


def missing(member: str) -> KmsError:
    return Validation(f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: "
                      "Member must not be null")
