"""KMS service behaviour that needs time to pass or a second server: the end of a deletion's waiting
period, automatic rotation, the on-demand rotation limit, the master key check, and the port that
other services use (with its data key cache). Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.unit.kms.conftest import ACCOUNT, DAY, Harness
from tsunagi.config import Config, ConfigError
from tsunagi.ports.kms import DataKey, DataKeyCache, Decrypted, Encrypted, KmsError, KmsKey
from tsunagi.services.kms.service import KmsService


async def _encrypt(h: Harness, key_id: str, plaintext: bytes = b"secret", **params: Any) -> bytes:
    blob: bytes = (await h.call("encrypt", KeyId=key_id, Plaintext=plaintext, **params))["CiphertextBlob"]
    return blob


# == deletion ====================================================================================
def test_a_key_is_gone_at_the_end_of_its_waiting_period(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        await h.call("create_alias", AliasName="alias/doomed", TargetKeyId=key["KeyId"])
        out = await h.call("schedule_key_deletion", KeyId=key["KeyId"], PendingWindowInDays=7)
        assert out["DeletionDate"] == h.clock.now() + 7 * DAY
        h.clock.advance(7 * DAY - 1)
        assert (await h.call("describe_key", KeyId=key["KeyId"]))["KeyMetadata"]["KeyState"] == "PendingDeletion"
        await h.fails(h.call("encrypt", KeyId=key["KeyId"], Plaintext=b"x"), "KMSInvalidStateException",
                      f"{key['Arn']} is pending deletion.")
        h.clock.advance(1)
        await h.svc.sweep()
        assert await h.svc.repo.key(key["KeyId"]) is None
        assert await h.svc.repo.materials(key["KeyId"]) == []
        await h.fails(h.call("describe_key", KeyId=key["KeyId"]), "NotFoundException",
                      f"Key '{key['Arn']}' does not exist")
        await h.fails(h.call("describe_key", KeyId="alias/doomed"), "NotFoundException",
                      f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/doomed is not found.")
    kms(body)


def test_a_key_past_its_deletion_date_is_not_found_before_the_sweep_runs(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        blob = await _encrypt(h, key["KeyId"])
        await h.call("schedule_key_deletion", KeyId=key["KeyId"], PendingWindowInDays=7)
        h.clock.advance(8 * DAY)
        await h.fails(h.call("describe_key", KeyId=key["KeyId"]), "NotFoundException")
        await h.fails(h.call("decrypt", CiphertextBlob=blob), "AccessDeniedException",
                      "The ciphertext refers to a customer master key that does not exist")
    kms(body)


def test_cancelling_deletion_leaves_the_key_disabled_and_never_deleted(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        await h.call("schedule_key_deletion", KeyId=key["KeyId"], PendingWindowInDays=7)
        assert (await h.call("cancel_key_deletion", KeyId=key["KeyId"]))["KeyId"] == key["Arn"]
        h.clock.advance(30 * DAY)
        await h.svc.sweep()
        md = (await h.call("describe_key", KeyId=key["KeyId"]))["KeyMetadata"]
        assert (md["KeyState"], md["Enabled"], "DeletionDate" in md) == ("Disabled", False, False)
    kms(body)


# == rotation ====================================================================================
def test_automatic_rotation_makes_a_new_version_and_old_ciphertexts_still_decrypt(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        old = await _encrypt(h, key["KeyId"], b"before", EncryptionContext={"k": "v"})
        await h.call("enable_key_rotation", KeyId=key["KeyId"], RotationPeriodInDays=90)
        status = await h.call("get_key_rotation_status", KeyId=key["KeyId"])
        assert status == {"KeyId": key["KeyId"], "KeyRotationEnabled": True, "RotationPeriodInDays": 90,
                          "NextRotationDate": h.clock.now() + 90 * DAY}
        h.clock.advance(89 * DAY)
        await h.svc.sweep()
        assert (await h.call("list_key_rotations", KeyId=key["KeyId"]))["Rotations"] == []
        h.clock.advance(2 * DAY)
        await h.svc.sweep()
        rotations = (await h.call("list_key_rotations", KeyId=key["KeyId"]))["Rotations"]
        assert [(r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [("AUTOMATIC", "CURRENT")]
        assert rotations[0]["RotationDate"] == h.clock.now()
        status = await h.call("get_key_rotation_status", KeyId=key["KeyId"])
        assert status["NextRotationDate"] == h.clock.now() - 1 * DAY + 90 * DAY
        new = await _encrypt(h, key["KeyId"], b"after")
        assert old[5 + 36:5 + 36 + 4] == b"\x00\x00\x00\x01" and new[5 + 36:5 + 36 + 4] == b"\x00\x00\x00\x02"
        assert (await h.call("decrypt", CiphertextBlob=old, EncryptionContext={"k": "v"}))["Plaintext"] == b"before"
        assert (await h.call("decrypt", CiphertextBlob=new))["Plaintext"] == b"after"
        described = (await h.call("describe_key", KeyId=key["KeyId"]))["KeyMetadata"]
        assert described["CurrentKeyMaterialId"] == rotations[0]["KeyMaterialId"] != key["CurrentKeyMaterialId"]
    kms(body)


def test_on_demand_rotation_stops_at_awss_limit(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        for _ in range(25):
            await h.call("rotate_key_on_demand", KeyId=key["KeyId"])
        await h.fails(h.call("rotate_key_on_demand", KeyId=key["KeyId"]), "LimitExceededException",
                      f"No more on-demand rotations can be performed for this key: {key['Arn']}")
        every = await h.call("list_key_rotations", KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL",
                             Limit=10)
        assert every["Truncated"] and len(every["Rotations"]) == 10 and "RotationType" not in every["Rotations"][0]
        rest = await h.call("list_key_rotations", KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL",
                            Marker=every["NextMarker"], Limit=100)
        assert len(rest["Rotations"]) == 16 and not rest["Truncated"]
    kms(body)


# == the master key ==============================================================================
def test_a_server_with_another_master_key_refuses_to_start_on_the_same_database(kms, tmp_path) -> None:
    async def body(h: Harness) -> None:
        await h.key()
        other = KmsService.__new__(KmsService)
        platform = h.svc.platform
        platform.config = Config(data_dir=str(tmp_path / "other"), master_key=_b64key())
        KmsService.__init__(other, platform)
        with pytest.raises(ConfigError, match="another master key"):
            await other.start()
    kms(body)


def test_a_server_with_another_master_key_cannot_open_the_keys_made_meanwhile(kms, tmp_path) -> None:
    async def body(h: Harness) -> None:
        platform = h.svc.platform
        first_config = platform.config
        platform.config = Config(data_dir=str(tmp_path / "other"), master_key=_b64key())
        other = KmsService(platform)
        await other.start()                            # nothing sealed yet: nothing to compare with
        platform.config = first_config
        key = await h.key()                            # the first server records its check value
        blob = await _encrypt(h, key["KeyId"])
        await h.fails(other.create_key(h.ctx, {}), "KMSInternalException", "TSUNAGI_MASTER_KEY")
        await h.fails(other.decrypt(h.ctx, {"CiphertextBlob": blob}), "KMSInternalException", "another master key")
        await other.stop()
    kms(body)


def _b64key() -> str:
    import base64

    return base64.b64encode(os.urandom(32)).decode()


# == the port ====================================================================================
def test_the_port_makes_and_opens_data_keys_bound_to_their_context(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        made = await h.port.generate_data_key(h.ctx, key["KeyId"], {"queue": "q1"}, service="sqs")
        assert isinstance(made, DataKey) and made.key_arn == key["Arn"] and len(made.plaintext) == 32
        opened = await h.port.decrypt(h.ctx, made.ciphertext, {"queue": "q1"}, service="sqs")
        assert opened == Decrypted(key["Arn"], made.plaintext)
        e = await h.fails(h.port.decrypt(h.ctx, made.ciphertext, {"queue": "q2"}, service="sqs"),
                          "InvalidCiphertextException")
        assert isinstance(e, KmsError)
        small = await h.port.encrypt(h.ctx, key["Arn"], b"payload", {}, service="sns")
        assert isinstance(small, Encrypted)
        assert (await h.port.decrypt(h.ctx, small.ciphertext, {}, service="sns", key_id=key["KeyId"])).plaintext \
            == b"payload"
        other = await h.key()
        await h.fails(h.port.decrypt(h.ctx, small.ciphertext, {}, service="sns", key_id=other["KeyId"]),
                      "IncorrectKeyException")
        await h.call("disable_key", KeyId=key["KeyId"])
        await h.fails(h.port.generate_data_key(h.ctx, key["KeyId"], {}, service="sqs"), "DisabledException",
                      f"{key['Arn']} is disabled.")
        await h.fails(h.port.resolve(h.ctx, "alias/nope", service="sqs"), "NotFoundException",
                      f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope is not found.")
        found = await h.port.resolve(h.ctx, key["KeyId"], service="sqs")
        assert found == KmsKey(key["KeyId"], key["Arn"], ACCOUNT, "us-east-1", "CUSTOMER", "Disabled",
                               "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT")
    kms(body)


def test_aws_managed_keys_are_made_on_first_use_and_serve_only_their_service(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.port.resolve(h.ctx, "alias/aws/sqs", service="sqs")
        assert key.key_manager == "AWS"
        assert await h.port.resolve(h.ctx, "alias/aws/sqs", service="sqs") == key      # made once
        made = await h.port.generate_data_key(h.ctx, "alias/aws/sqs", {}, service="sqs")
        assert (await h.port.decrypt(h.ctx, made.ciphertext, {}, service="sqs")).plaintext == made.plaintext
        denied = (f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: kms:GenerateDataKey on "
                  f"resource: {key.arn} because no resource-based policy allows the kms:GenerateDataKey action")
        await h.fails(h.port.generate_data_key(h.ctx, "alias/aws/sqs", {}, service="s3"), "AccessDeniedException",
                      denied)
        await h.fails(h.call("generate_data_key", KeyId="alias/aws/sqs", NumberOfBytes=32),
                      "AccessDeniedException", denied)                # directly, not through SQS
        await h.fails(h.call("decrypt", CiphertextBlob=made.ciphertext), "AccessDeniedException", "kms:Decrypt")
        # SNS's managed key may make data keys but not Encrypt, as AWS's policy for it says
        await h.port.generate_data_key(h.ctx, "alias/aws/sns", {}, service="sns")
        await h.fails(h.port.encrypt(h.ctx, "alias/aws/sns", b"x", {}, service="sns"), "AccessDeniedException")
        # what the account may do with it directly: read it
        policy = (await h.call("get_key_policy", KeyId=key.key_id))["Policy"]
        assert '"kms:ViaService" : "sqs.us-east-1.amazonaws.com"' in policy
        assert (await h.call("get_key_rotation_status", KeyId=key.key_id))["KeyRotationEnabled"] is True
        for op, params in [("disable_key", {}), ("schedule_key_deletion", {}), ("enable_key_rotation", {}),
                           ("put_key_policy", {"Policy": policy}), ("update_key_description", {"Description": "x"}),
                           ("tag_resource", {"Tags": [{"TagKey": "a", "TagValue": "b"}]})]:
            await h.fails(h.call(op, KeyId=key.key_id, **params), "AccessDeniedException", "is not authorized")
        await h.fails(h.call("delete_alias", AliasName="alias/aws/sqs"), "NotAuthorizedException")
    kms(body)


def test_the_data_key_cache_reuses_keys_for_their_period(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        calls: list[str] = []

        class Counting:
            async def generate_data_key(self, ctx: Any, key_id: str, context: Any, *, service: str,
                                        number_of_bytes: int = 32) -> DataKey:
                calls.append("generate")
                return await h.port.generate_data_key(ctx, key_id, context, service=service)

            async def decrypt(self, ctx: Any, ciphertext: bytes, context: Any, *, service: str,
                              key_id: str | None = None) -> Decrypted:
                calls.append("decrypt")
                return await h.port.decrypt(ctx, ciphertext, context, service=service)

        port: Any = Counting()
        cache = DataKeyCache(h.clock, max_entries=2)
        a = await cache.data_key(port, h.ctx, key["KeyId"], {"q": "1"}, service="sqs", reuse_seconds=300)
        assert await cache.data_key(port, h.ctx, key["KeyId"], {"q": "1"}, service="sqs", reuse_seconds=300) == a
        b = await cache.data_key(port, h.ctx, key["KeyId"], {"q": "2"}, service="sqs", reuse_seconds=300)
        assert b != a and calls == ["generate", "generate"]
        assert await cache.plaintext(port, h.ctx, a.ciphertext, {"q": "1"}, service="sqs", reuse_seconds=300) == a
        assert calls == ["generate", "generate"]                     # made here: known without a Decrypt
        h.clock.advance(301)
        c = await cache.data_key(port, h.ctx, key["KeyId"], {"q": "1"}, service="sqs", reuse_seconds=300)
        assert c.plaintext != a.plaintext
        opened = await cache.plaintext(port, h.ctx, a.ciphertext, {"q": "1"}, service="sqs", reuse_seconds=300)
        assert opened.plaintext == a.plaintext and calls[-1] == "decrypt"
        cache.clear()
        await cache.plaintext(port, h.ctx, a.ciphertext, {"q": "1"}, service="sqs", reuse_seconds=300)
        assert calls.count("decrypt") == 2
    kms(body)


# == accounts ====================================================================================
def test_another_account_cannot_use_or_see_a_key(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        blob = await _encrypt(h, key["KeyId"])
        other = h.context("111111111111")
        await h.fails(h.call("describe_key", other, KeyId=key["KeyId"]), "NotFoundException",
                      f"Key 'arn:aws:kms:us-east-1:111111111111:key/{key['KeyId']}' does not exist")
        await h.fails(h.call("encrypt", other, KeyId=key["Arn"], Plaintext=b"x"), "AccessDeniedException",
                      "User: arn:aws:iam::111111111111:root is not authorized to perform: kms:Encrypt")
        await h.fails(h.call("decrypt", other, CiphertextBlob=blob), "AccessDeniedException",
                      "The ciphertext refers to a customer master key that does not exist")
        await h.fails(h.call("disable_key", other, KeyId=key["Arn"]), "NotFoundException")
        assert (await h.call("list_keys", other))["Keys"] == []
        await h.fails(h.call("describe_key", h.context(region="eu-west-1"), KeyId=key["Arn"]), "NotFoundException",
                      "Invalid arn us-east-1")
    kms(body)


# == grants ======================================================================================
def test_grant_tokens_are_checked_and_retire_their_grant(kms) -> None:
    async def body(h: Harness) -> None:
        key = await h.key()
        grant = await h.call("create_grant", KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::000000000000:role/r",
                             Operations=["Encrypt", "Decrypt"])
        await _encrypt(h, key["KeyId"], GrantTokens=[grant["GrantToken"]])
        forged = grant["GrantToken"][:-4] + ("AAAA" if not grant["GrantToken"].endswith("AAAA") else "BBBB")
        await h.fails(h.call("encrypt", KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[forged]),
                      "InvalidGrantTokenException")
        again = await h.call("create_grant", KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::000000000000:role/r",
                             Operations=["Encrypt", "Decrypt"])
        assert again["GrantId"] != grant["GrantId"]
        await h.call("retire_grant", GrantToken=grant["GrantToken"])
        ids = [g["GrantId"] for g in (await h.call("list_grants", KeyId=key["KeyId"]))["Grants"]]
        assert ids == [again["GrantId"]]
        await h.fails(h.call("retire_grant", GrantToken=grant["GrantToken"]), "NotFoundException")
    kms(body)
