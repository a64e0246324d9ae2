"""S3's errors: code, HTTP status and message as S3 sends them; extra fields land in ``<Error>``."""

from __future__ import annotations

from typing import Any

from tsunagi.protocol.errors import ServiceError


def err(code: str, message: str, status: int = 400, **fields: Any) -> ServiceError:
    return ServiceError(message, code=code, status=status, **fields)


def no_such_bucket(name: str) -> ServiceError:
    return err("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name)


def no_such_key(key: str) -> ServiceError:
    return err("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_version(key: str, version_id: str) -> ServiceError:
    return err("NoSuchVersion", "The specified version does not exist.", 404, Key=key, VersionId=version_id)


def no_such_upload(upload_id: str) -> ServiceError:
    return err("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload "
               "may have been aborted or completed.", 404, UploadId=upload_id)


def invalid_argument(message: str, name: str | None = None, value: Any = None) -> ServiceError:
    fields = {}
    if name is not None:
        fields = {"ArgumentName": name, "ArgumentValue": "" if value is None else str(value)}
    return err("InvalidArgument", message, 400, **fields)


def invalid_request(message: str) -> ServiceError:
    return err("InvalidRequest", message, 400)


def malformed_xml() -> ServiceError:
    return err("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
               "published schema", 400)


def precondition_failed(condition: str) -> ServiceError:
    return err("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
               Condition=condition)


def not_modified() -> ServiceError:
    return err("NotModified", "Not Modified", 304)


def bad_digest(message: str = "The Content-MD5 you specified did not match what we received.") -> ServiceError:
    return err("BadDigest", message, 400)


def access_denied(message: str = "Access Denied") -> ServiceError:
    return err("AccessDenied", message, 403)


def kms_key_not_found(key_id: str) -> ServiceError:
    return err("KMS.NotFoundException", f"Invalid keyId {key_id}", 400)


def from_kms(code: str, message: str) -> ServiceError:
    """A KMS failure while encrypting or decrypting an object (SSE-KMS) as S3 reports it: KMS's code
    with S3's ``KMS.`` prefix (``KMS.DisabledException``, ``KMS.NotFoundException``,
    ``KMS.KMSInvalidStateException``...) and KMS's message; a key policy that does not allow the caller
    is S3's ``AccessDenied``."""
    if code == "AccessDeniedException":
        return err("AccessDenied", message, 403)
    if code in ("ThrottlingException", "KMSThrottlingException"):
        return err(f"KMS.{code}", message, 503)
    return err(f"KMS.{code}", message, 400)
