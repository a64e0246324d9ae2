"""Settings from flags, TSUNAGI_* variables and tsunagi.toml, and where `tsunagi config` says each came from."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tsunagi.cli import main
from tsunagi.config import ENV_NAMES, Config, load_config


def test_every_setting_names_the_variable_its_default_reads() -> None:
    fields = {f.name: f for f in dataclasses.fields(Config)}
    assert set(ENV_NAMES) == set(fields)
    for name, env in ENV_NAMES.items():
        factory = fields[name].default_factory
        assert env in factory.__code__.co_consts, f"{name}'s default does not read {env}"  # type: ignore[union-attr]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for env in [*ENV_NAMES.values(), "TSUNAGI_CONFIG"]:
        monkeypatch.delenv(env, raising=False)
    return tmp_path


def shown(capsys, *argv: str) -> dict[str, dict]:
    assert main(["config", "--json", *argv]) == 0
    return {r["setting"]: r for r in json.loads(capsys.readouterr().out)}


def test_flags_beat_variables_beat_the_file_beat_defaults(here, monkeypatch, capsys) -> None:
    (here / "tsunagi.toml").write_text('port = 4590\nlog-format = "json"\n[serve]\npolicies = "enforce"\n'
                                       'ecs-image = {"app:1" = "."}\n')
    monkeypatch.setenv("TSUNAGI_POLICIES", "off")
    rows = shown(capsys, "--data-dir", "/tmp/elsewhere")
    assert (rows["port"]["value"], rows["port"]["source"]) == (4590, "file tsunagi.toml")
    assert (rows["log_format"]["value"], rows["log_format"]["source"]) == ("json", "file tsunagi.toml")
    assert (rows["policies"]["value"], rows["policies"]["source"]) == ("off", "env TSUNAGI_POLICIES")
    assert (rows["data_dir"]["value"], rows["data_dir"]["source"]) == ("/tmp/elsewhere", "flag")
    assert rows["ecs_images"]["value"] == {"app:1": str(here)}
    assert (rows["host"]["value"], rows["host"]["source"]) == ("127.0.0.1", "default")
    rows = shown(capsys, "--port", "4591")
    assert (rows["port"]["value"], rows["port"]["source"]) == (4591, "flag")


def test_secrets_are_never_shown(here, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TSUNAGI_ADMIN_TOKEN", "very-secret-token")
    monkeypatch.setenv("TSUNAGI_MASTER_KEY", "A" * 43 + "=")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "very-secret-token" not in out and "A" * 43 not in out
    rows = shown(capsys)
    assert rows["admin_token"]["value"] == "(set)" and rows["master_key"]["value"] == "(set)"
    assert rows["root_secret_access_key"]["value"] == "(not set)"


def test_a_named_file_and_its_errors(here, capsys) -> None:
    (here / "other.toml").write_text("sqlite-cache-mb = 128\n")
    config, sources = load_config(str(here / "other.toml"))
    assert config.sqlite_cache_mb == 128 and sources["sqlite_cache_mb"] == f"file {here / 'other.toml'}"
    (here / "bad.toml").write_text("prot = 1\n")
    with pytest.raises(SystemExit, match="unknown setting 'prot'"):
        main(["config", "--config", str(here / "bad.toml")])
    (here / "bad.toml").write_text("port = 'many'\n")
    with pytest.raises(SystemExit, match="port = 'many' is not a valid int"):
        main(["config", "--config", str(here / "bad.toml")])
    (here / "bad.toml").write_text("port = \n")
    with pytest.raises(SystemExit, match="is not valid TOML"):
        main(["config", "--config", str(here / "bad.toml")])
    (here / "bad.toml").write_text('log-format = "xml"\n')
    assert main(["config", "--config", str(here / "bad.toml")]) == 2
    assert "must be 'text' or 'json'" in capsys.readouterr().err


def test_tsunagi_aws_fills_in_the_endpoint_region_and_credentials(here) -> None:
    from tsunagi.commands import aws

    (here / ".tsunagi").mkdir()
    (here / ".tsunagi" / "endpoint").write_text("http://localhost:4599\n")
    args, env = aws.command(["sqs", "list-queues"], {"PATH": "/bin"})
    assert args == ["--endpoint-url", "http://localhost:4599", "sqs", "list-queues"]
    assert (env["AWS_DEFAULT_REGION"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == \
        ("us-east-1", "test", "test")
    # what the user set wins
    args, env = aws.command(["--endpoint-url", "http://h:1", "s3", "ls"],
                            {"AWS_REGION": "ap-northeast-1", "AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s"})
    assert args == ["--endpoint-url", "http://h:1", "s3", "ls"]
    assert "AWS_DEFAULT_REGION" not in env and env["AWS_ACCESS_KEY_ID"] == "AKIA1"
