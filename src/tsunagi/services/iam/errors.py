"""IAM's errors, with the codes and HTTP statuses of its model and the messages AWS words them with
(as IAM answers them and users quote them: "The role with name X cannot be found.", "Cannot delete
entity, must delete policies first.", "A managed policy can have up to 5 versions. …")."""

from __future__ import annotations

from tsunagi.protocol.errors import ServiceError, ValidationError, error_class

NoSuchEntity = error_class("NoSuchEntity", status=404)
EntityAlreadyExists = error_class("EntityAlreadyExists", status=409)
DeleteConflict = error_class("DeleteConflict", status=409)
LimitExceeded = error_class("LimitExceeded", status=409)
MalformedPolicyDocument = error_class("MalformedPolicyDocument")
InvalidInput = error_class("InvalidInput")
UnmodifiableEntity = error_class("UnmodifiableEntity")
PolicyNotAttachable = error_class("PolicyNotAttachable")
PasswordPolicyViolation = error_class("PasswordPolicyViolation")
ServiceFailure = error_class("ServiceFailure", status=500)

__all__ = ["DeleteConflict", "EntityAlreadyExists", "InvalidInput", "LimitExceeded", "MalformedPolicyDocument",
           "NoSuchEntity", "PasswordPolicyViolation", "PolicyNotAttachable", "ServiceError", "UnmodifiableEntity",
           "ValidationError"]

# what each kind of entity is called in NoSuchEntity / EntityAlreadyExists
_KIND = {"user": "user", "group": "group", "role": "role"}


def service_failure(message: str) -> ServiceError:
    """IAM's ``ServiceFailure`` (500): the server cannot do what it should (a secret it cannot open)."""
    return ServiceFailure(message)


def no_such(kind: str, name: str) -> ServiceError:
    """``The user with name X cannot be found.`` (users, groups, roles)."""
    return NoSuchEntity(f"The {_KIND[kind]} with name {name} cannot be found.")


def exists(kind: str, name: str) -> ServiceError:
    return EntityAlreadyExists(f"{kind.capitalize()} with name {name} already exists.")


def no_such_inline(kind: str, name: str) -> ServiceError:
    return NoSuchEntity(f"The {kind} policy with name {name} cannot be found.")


def no_such_policy(arn: str) -> ServiceError:
    return NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")


def no_such_version(arn: str, version: str) -> ServiceError:
    return NoSuchEntity(f"Policy {arn} version {version} does not exist or is not attachable.")


def not_attached(arn: str) -> ServiceError:
    return NoSuchEntity(f"Policy {arn} was not found.")


def no_such_profile(name: str) -> ServiceError:
    return NoSuchEntity(f"Instance Profile {name} cannot be found.")


def no_such_key(key_id: str) -> ServiceError:
    return NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")


def no_such_login(user: str) -> ServiceError:
    return NoSuchEntity(f"Login Profile for User {user} cannot be found.")


def delete_conflict(what: str) -> ServiceError:
    """``Cannot delete entity, must <what> first.``"""
    return DeleteConflict(f"Cannot delete entity, must {what} first.")


def quota(name: str, limit: int) -> ServiceError:
    return LimitExceeded(f"Cannot exceed quota for {name}: {limit}")


def protected_role(name: str) -> ServiceError:
    return UnmodifiableEntity(f"Cannot perform the operation on the protected role '{name}' - "
                              "this role is only modifiable by AWS")


def invalid_marker() -> ServiceError:
    return ValidationError("Invalid Marker.")


def constraint(value: object, member: str, rule: str) -> ServiceError:
    return ValidationError(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
                           f"constraint: {rule}")
