"""KMS operations on keys themselves: create, describe, list, enable and disable, schedule and cancel
deletion, key policies, rotation, tags, and the import and custom key store operations (answered as
AWS answers them for keys whose material KMS made).
"""

from __future__ import annotations

import uuid
from typing import Any

from tsunagi.services.base import RequestContext
from tsunagi.services.kms import errors, policies
from tsunagi.services.kms.core import (
    CUSTOMER,
    DAY_MS,
    DEFAULT_ROTATION_DAYS,
    DISABLED,
    ENABLED,
    MAX_ON_DEMAND_ROTATIONS,
    MAX_TAGS,
    PENDING_DELETION,
    KmsCore,
    check_policy_text,
    from_marker,
    limit_of,
    page_of,
    seconds,
)
from tsunagi.services.kms.errors import (
    INVALID_MARKER,
    CustomKeyStoreNotFound,
    InvalidMarker,
    InvalidState,
    LimitExceeded,
    NotFound,
    TagError,
    Unsupported,
    Validation,
)
from tsunagi.services.kms.names import key_arn
from tsunagi.services.kms.specs import (
    ENCRYPT_DECRYPT,
    NOT_SERVED,
    SPECS,
    SYMMETRIC_DEFAULT,
)
from tsunagi.store.kms import KeyRow


class KeyOps(KmsCore):
    """Key lifecycle, policies, rotation and tags."""

    async def create_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        origin = params.get("Origin") or "AWS_KMS"
        if params.get("CustomKeyStoreId"):
            raise CustomKeyStoreNotFound(f"Custom key store {params['CustomKeyStoreId']} does not exist: tsunagi "
                                         "has no custom key stores.")
        if origin != "AWS_KMS":
            raise Unsupported(f"Origin {origin} is not supported by tsunagi: it makes its own key material "
                              "(Origin AWS_KMS) and neither imports key material nor uses custom key stores.")
        if params.get("XksKeyId"):
            raise Unsupported("XksKeyId is valid only for keys in an external key store, which tsunagi does not have.")
        if params.get("KeySpec") and params.get("CustomerMasterKeySpec"):
            raise Validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                             "CustomerMasterKeySpec is deprecated.")
        spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or SYMMETRIC_DEFAULT
        if spec in NOT_SERVED:
            raise Unsupported(f"KeySpec {spec} is not supported by tsunagi. It makes SYMMETRIC_DEFAULT, RSA_2048, "
                              "RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1 and "
                              "HMAC_224/256/384/512 keys.")
        usage = params.get("KeyUsage")
        if usage is None:
            if spec != SYMMETRIC_DEFAULT:
                raise Validation("You must specify a KeyUsage value for all KMS keys except for symmetric "
                                 "encryption keys.")
            usage = ENCRYPT_DECRYPT
        if usage not in SPECS[spec].usages:
            raise Validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        policy = params.get("Policy")
        if policy is not None:
            check_policy_text(policy)
        else:
            policy = policies.default_policy(ctx.account)
        tags = self._check_tags(params.get("Tags") or [])
        if len(tags) > MAX_TAGS:
            raise TagError("Too many tags")
        multi = bool(params.get("MultiRegion"))
        key_id = f"mrk-{uuid.uuid4().hex}" if multi else str(uuid.uuid4())
        now = self.clock.now_ms()
        key = KeyRow(key_id, ctx.account, ctx.region, now, params.get("Description") or "", usage, spec, CUSTOMER,
                     ENABLED, None, None, int(multi), policy, None, None, 1)
        material = await self._sealed(key, 1, await self._new_material(spec))
        await self.repo.create_key(key, material, tags.items())
        return {"KeyMetadata": self._metadata(key)}

    def _metadata(self, key: KeyRow) -> dict[str, Any]:
        spec = SPECS[key.key_spec]
        arn = key_arn(key)
        out: dict[str, Any] = {
            "AWSAccountId": key.account, "KeyId": key.key_id, "Arn": arn,
            "CreationDate": seconds(key.created_at), "Enabled": key.state == ENABLED,
            "Description": key.description, "KeyUsage": key.key_usage, "KeyState": key.state,
            "Origin": "AWS_KMS", "KeyManager": key.key_manager, "CustomerMasterKeySpec": key.key_spec,
            "KeySpec": key.key_spec, "MultiRegion": bool(key.multi_region),
        }
        if key.deletion_at is not None:
            out["DeletionDate"] = seconds(key.deletion_at)
        if spec.encryption_algorithms(key.key_usage):
            out["EncryptionAlgorithms"] = list(spec.encryption_algorithms(key.key_usage))
        if spec.signing_algorithms(key.key_usage):
            out["SigningAlgorithms"] = list(spec.signing_algorithms(key.key_usage))
        if spec.mac:
            out["MacAlgorithms"] = list(spec.mac)
        if key.multi_region:
            out["MultiRegionConfiguration"] = {"MultiRegionKeyType": "PRIMARY",
                                               "PrimaryKey": {"Arn": arn, "Region": key.region}, "ReplicaKeys": []}
        if key.key_spec == SYMMETRIC_DEFAULT:
            out["CurrentKeyMaterialId"] = self._material_id(key)
        return out

    async def describe_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), cross_account=True)
        self._grant_tokens(params)
        await self.authorize(ctx, key, "kms:DescribeKey")
        return {"KeyMetadata": self._metadata(key)}

    async def list_keys(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        limit = limit_of(params, 100, 1000)
        ids = await self.repo.key_ids(ctx.account, ctx.region, from_marker(params.get("Marker")), limit + 1)
        items = [{"KeyId": k, "KeyArn": f"arn:aws:kms:{ctx.region}:{ctx.account}:key/{k}"} for k in ids]
        return page_of(items, limit, ids[limit - 1] if len(ids) > limit else None, "Keys")

    async def update_key_description(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:UpdateKeyDescription")
        await self.repo.set_description(key.key_id, params.get("Description") or "")
        self._drop(key.key_id)
        return {}

    async def enable_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:EnableKey")
        await self.repo.set_state(key.key_id, ENABLED)
        self._drop(key.key_id)
        return {}

    async def disable_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:DisableKey")
        await self.repo.set_state(key.key_id, DISABLED)
        self._drop(key.key_id)
        return {}

    async def schedule_key_deletion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        days = params.get("PendingWindowInDays")
        days = 30 if days is None else int(days)
        if not 7 <= days <= 30:
            raise Validation(f"PendingWindowInDays should be between 7 and 30, but it is {days}")
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:ScheduleKeyDeletion")
        deletion_at = self.clock.now_ms() + days * DAY_MS
        await self.repo.set_state(key.key_id, PENDING_DELETION, deletion_at, days)
        self._drop(key.key_id)
        return {"KeyId": key_arn(key), "DeletionDate": seconds(deletion_at), "KeyState": PENDING_DELETION,
                "PendingWindowInDays": days}

    async def cancel_key_deletion(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        await self.authorize(ctx, key, "kms:CancelKeyDeletion")
        if key.state != PENDING_DELETION:
            raise InvalidState(f"{key_arn(key)} is not pending deletion.")
        await self.repo.set_state(key.key_id, DISABLED)
        self._drop(key.key_id)
        return {"KeyId": key_arn(key)}

    async def replicate_key(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        if not key.multi_region:
            raise Unsupported(f"Unable to replicate a non-MultiRegion key {key.key_id}")
        raise Unsupported(f"tsunagi keeps each multi-Region key in the Region it was created in "
                          f"({key.region}); replicating {key.key_id} to {params.get('ReplicaRegion')} is not "
                          "supported. Create a key in that Region instead.")

    async def get_key_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise NotFound("No such policy exists")
        await self.authorize(ctx, key, "kms:GetKeyPolicy")
        return {"Policy": key.policy, "PolicyName": "default"}

    async def put_key_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise NotFound("No such policy exists")
        policy: str = params["Policy"]
        check_policy_text(policy)
        await self.authorize(ctx, key, "kms:PutKeyPolicy")
        await self.repo.set_policy(key.key_id, policy)
        self._drop(key.key_id)
        return {}

    async def list_key_policies(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        limit_of(params, 100, 1000)
        await self.authorize(ctx, key, "kms:ListKeyPolicies")
        return {"PolicyNames": ["default"], "Truncated": False}

    def _rotatable(self, key: KeyRow) -> None:
        if key.key_spec != SYMMETRIC_DEFAULT:
            raise Unsupported(f"{key_arn(key)} key spec is {key.key_spec}: only symmetric encryption keys "
                              "(SYMMETRIC_DEFAULT) have their key material rotated.")

    async def enable_key_rotation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._usable(key)
        await self.authorize(ctx, key, "kms:EnableKeyRotation")
        self._rotatable(key)
        days = int(params.get("RotationPeriodInDays") or DEFAULT_ROTATION_DAYS)
        await self.repo.set_rotation(key.key_id, days, self.clock.now_ms() + days * DAY_MS)
        self._drop(key.key_id)
        return {}

    async def disable_key_rotation(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._usable(key)
        await self.authorize(ctx, key, "kms:DisableKeyRotation")
        self._rotatable(key)
        await self.repo.set_rotation(key.key_id, None, None)
        self._drop(key.key_id)
        return {}

    async def get_key_rotation_status(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False, cross_account=True)
        await self.authorize(ctx, key, "kms:GetKeyRotationStatus")
        self._rotatable(key)
        out: dict[str, Any] = {"KeyId": key.key_id, "KeyRotationEnabled": key.rotation_days is not None}
        if key.rotation_days is not None and key.next_rotation_at is not None:
            out["RotationPeriodInDays"] = key.rotation_days
            out["NextRotationDate"] = seconds(key.next_rotation_at)
        return out

    async def rotate_key_on_demand(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._usable(key)
        await self.authorize(ctx, key, "kms:RotateKeyOnDemand")
        self._rotatable(key)
        rotations = [m for m in await self.repo.materials(key.key_id) if m.rotation_type == "ON_DEMAND"]
        if len(rotations) >= MAX_ON_DEMAND_ROTATIONS:
            raise LimitExceeded("The on-demand rotations limit has been reached for the given keyId. No more "
                                f"on-demand rotations can be performed for this key: {key_arn(key)}")
        if not await self._rotate(key, "ON_DEMAND"):
            raise errors.Conflict(f"{key_arn(key)} is being rotated; try again.")
        return {"KeyId": key.key_id}

    async def list_key_rotations(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        await self.authorize(ctx, key, "kms:ListKeyRotations")
        self._rotatable(key)
        limit = limit_of(params, 100, 1000)
        try:
            after = int(from_marker(params.get("Marker")) or 0)
        except ValueError:
            raise InvalidMarker(INVALID_MARKER) from None
        every = params.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
        rows = [m for m in await self.repo.materials(key.key_id)
                if m.version > after and (every or m.rotation_type is not None)]
        items = []
        for m in rows[:limit + 1]:
            entry: dict[str, Any] = {"KeyId": key.key_id, "KeyMaterialId": self._material_id(key, m.version),
                                     "KeyMaterialState": "CURRENT" if m.version == key.material_version
                                     else "NON_CURRENT",
                                     "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
            if m.rotation_type is not None:
                entry["RotationDate"] = seconds(m.created_at)
                entry["RotationType"] = m.rotation_type
            items.append(entry)
        last = str(rows[limit - 1].version) if len(rows) > limit else None
        return page_of(items, limit, last, "Rotations")

    @staticmethod
    def _check_tags(tags: list[dict[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for tag in tags:
            k = tag["TagKey"]
            if k.lower().startswith("aws:"):
                raise TagError("Tags beginning with aws: are reserved")
            if k in out:
                raise TagError("Duplicate tag keys")
            out[k] = tag["TagValue"]
        return out

    async def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        tags = self._check_tags(params["Tags"])
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:TagResource")
        existing = dict(await self.repo.tags(key.key_id))
        if len(existing | tags) > MAX_TAGS:
            raise LimitExceeded(f"A KMS key can have at most {MAX_TAGS} tags; {key_arn(key)} would have "
                                f"{len(existing | tags)}.")
        await self.repo.put_tags(key.key_id, tags.items())
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        self._not_pending(key)
        await self.authorize(ctx, key, "kms:UntagResource")
        await self.repo.delete_tags(key.key_id, list(dict.fromkeys(params["TagKeys"])))
        return {}

    async def list_resource_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        await self.authorize(ctx, key, "kms:ListResourceTags")
        limit = limit_of(params, 50, 50)
        tags = await self.repo.tags(key.key_id, from_marker(params.get("Marker")), limit + 1)
        return page_of([{"TagKey": k, "TagValue": v} for k, v in tags], limit,
                     tags[limit - 1][0] if len(tags) > limit else None, "Tags")

    async def _aws_kms_origin(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The import operations need a key with Origin EXTERNAL; every tsunagi key has AWS_KMS."""
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        raise Unsupported(f"{key_arn(key)} origin is AWS_KMS which is not valid for this operation.")

    get_parameters_for_import = _aws_kms_origin

    import_key_material = _aws_kms_origin

    delete_imported_key_material = _aws_kms_origin

    async def update_primary_region(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = await self.find_key(ctx, params.get("KeyId"), aliases=False)
        if not key.multi_region:
            raise Unsupported(f"{key_arn(key)} is not a multi-Region key.")
        raise Unsupported(f"{key_arn(key)} has no replica in {params.get('PrimaryRegion')}: tsunagi does not "
                          "replicate multi-Region keys.")

    async def describe_custom_key_stores(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        ident = params.get("CustomKeyStoreId") or params.get("CustomKeyStoreName")
        if ident:
            raise CustomKeyStoreNotFound(f"Custom key store {ident} does not exist: tsunagi has no custom key "
                                         "stores.")
        return {"CustomKeyStores": [], "Truncated": False}

    async def create_custom_key_store(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise Unsupported("tsunagi keeps key material itself: custom key stores (AWS CloudHSM, external key "
                          "stores) are not supported.")

    async def _no_custom_key_store(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise CustomKeyStoreNotFound(f"Custom key store {params.get('CustomKeyStoreId')} does not exist: tsunagi "
                                     "has no custom key stores.")

    connect_custom_key_store = _no_custom_key_store

    disconnect_custom_key_store = _no_custom_key_store

    delete_custom_key_store = _no_custom_key_store

    update_custom_key_store = _no_custom_key_store
