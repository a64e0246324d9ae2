"""KMS keys across restarts and across servers: the master key file survives a kill -9 with the data,
servers sharing a PostgreSQL database with the same TSUNAGI_MASTER_KEY share keys, and a server
given another master key says so instead of failing every call."""

from __future__ import annotations

import base64
import os
import stat
import time

import pytest
from botocore.exceptions import ClientError

from tests.conftest import require_postgres
from tests.support import postgres
from tests.support.server import TsunagiServer

pytestmark = pytest.mark.slow


def master() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_keys_survive_kill_and_restart_and_another_master_key_is_refused(tmp_path) -> None:
    srv = TsunagiServer("sqlite", data_dir=str(tmp_path / "data")).start()
    try:
        kms = srv.client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.rotate_key_on_demand(KeyId=key)
        signer = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"durable", EncryptionContext={"a": "b"})["CiphertextBlob"]
        signature = kms.sign(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        path = tmp_path / "data" / "kms-master.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes() not in srv.log_path.read_bytes()
        srv.kill()
        srv.start()
        kms = srv.client("kms")
        assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"durable"
        assert kms.verify(KeyId=signer, Message=b"m", Signature=signature,
                          SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
        srv.stop()
        srv.env = {"TSUNAGI_MASTER_KEY": master()}
        with pytest.raises(RuntimeError, match="another master key"):
            srv.start()
        srv.env = {"TSUNAGI_MASTER_KEY": "not base64 at all"}
        with pytest.raises(RuntimeError, match="TSUNAGI_MASTER_KEY is not base64"):
            srv.start()
    finally:
        srv.stop()


@pytest.fixture
def database():
    require_postgres()
    url = postgres.create_database("tsunagi_kms")
    yield url
    postgres.drop_database(url)


def test_servers_with_one_master_key_share_keys(database, tmp_path) -> None:
    key_env = {"TSUNAGI_MASTER_KEY": master()}
    a = TsunagiServer(database, data_dir=str(tmp_path / "a"), env=key_env).start()
    b = TsunagiServer(database, data_dir=str(tmp_path / "b"), env=key_env).start()
    try:
        ka, kb = a.client("kms"), b.client("kms")
        key = ka.create_key()["KeyMetadata"]["KeyId"]
        ka.create_alias(AliasName="alias/shared", TargetKeyId=key)
        blob = ka.encrypt(KeyId="alias/shared", Plaintext=b"shared")["CiphertextBlob"]
        assert kb.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
        assert kb.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]["KeyId"] == \
            ka.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]["KeyId"]      # one managed key, made once
        ka.disable_key(KeyId=key)
        deadline = time.monotonic() + 10
        while True:                                     # the other server drops its cached row on the notification
            try:
                kb.decrypt(CiphertextBlob=blob)
            except ClientError as e:
                assert e.response["Error"]["Code"] == "DisabledException"
                break
            assert time.monotonic() < deadline, "server b never saw the key disabled"
            time.sleep(0.1)
        kb.enable_key(KeyId=key)
        kb.rotate_key_on_demand(KeyId=key)
        newer = kb.encrypt(KeyId=key, Plaintext=b"v2")["CiphertextBlob"]
        deadline = time.monotonic() + 10
        while True:
            try:
                assert ka.decrypt(CiphertextBlob=newer)["Plaintext"] == b"v2"
                break
            except ClientError as e:
                assert e.response["Error"]["Code"] == "DisabledException" and time.monotonic() < deadline
                time.sleep(0.1)
        assert ka.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    finally:
        a.stop()
        b.stop()


def test_a_server_with_its_own_master_key_file_cannot_share_keys(database, tmp_path) -> None:
    a = TsunagiServer(database, data_dir=str(tmp_path / "a")).start()
    b = TsunagiServer(database, data_dir=str(tmp_path / "b")).start()       # each made its own key file
    try:
        blob = a.client("kms").encrypt(KeyId=a.client("kms").create_key()["KeyMetadata"]["KeyId"],
                                       Plaintext=b"x")["CiphertextBlob"]
        with pytest.raises(ClientError) as e:
            b.client("kms").decrypt(CiphertextBlob=blob)
        assert e.value.response["Error"]["Code"] == "KMSInternalException", \
            f"{e.value.response['Error']}\n--- a's log:\n{a.log()[-4000:]}\n--- b's log:\n{b.log()[-4000:]}"
        assert "TSUNAGI_MASTER_KEY" in e.value.response["Error"]["Message"]
        b.stop()
        with pytest.raises(RuntimeError, match="give every server sharing the database the same TSUNAGI_MASTER_KEY"):
            b.start()
    finally:
        a.stop()
        b.stop()
