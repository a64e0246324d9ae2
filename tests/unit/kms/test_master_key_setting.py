"""TSUNAGI_MASTER_KEY: read in Config, checked by validate(), never shown."""

from __future__ import annotations

import base64
import os

import pytest

from tsunagi.config import Config


def test_the_master_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = os.urandom(32)
    monkeypatch.setenv("TSUNAGI_MASTER_KEY", base64.b64encode(raw).decode())
    config = Config()
    config.validate()
    assert config.master_key_bytes() == raw
    assert base64.b64encode(raw).decode() not in repr(config)


def test_unset_means_the_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TSUNAGI_MASTER_KEY", raising=False)
    assert Config().master_key_bytes() is None


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!", "TSUNAGI_MASTER_KEY is not base64"),
    (base64.b64encode(b"sixteen bytes!!!").decode(), "TSUNAGI_MASTER_KEY must be the base64 of 32 bytes, it decodes to 16"),
])
def test_a_master_key_that_is_not_32_bytes_of_base64_fails_validation(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as e:
        Config(master_key=value).validate()
    assert value not in str(e.value)
