"""KMS's ARNs."""

from __future__ import annotations

from tsunagi.store.kms import KeyRow


def key_arn(key: KeyRow) -> str:
    return f"arn:aws:kms:{key.region}:{key.account}:key/{key.key_id}"


def alias_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:{name}"
