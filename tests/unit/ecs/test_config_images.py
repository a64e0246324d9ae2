"""``TSUNAGI_ECS_IMAGES`` and ``--ecs-image``: NAME[:TAG]=DIR mappings, read in Config."""

from __future__ import annotations

import os

import pytest

from tsunagi.cli import main
from tsunagi.config import Config, parse_images


def test_parse_images(tmp_path) -> None:
    assert parse_images(f"app={tmp_path}, worker:v2 = {tmp_path}/w ,") == {
        "app": str(tmp_path), "worker:v2": os.path.join(str(tmp_path), "w")}
    assert parse_images([f"registry.example.com:5000/team/tool:1={tmp_path}"]) == {
        "registry.example.com:5000/team/tool:1": str(tmp_path)}
    for bad in ("app", "=dir", "app="):
        with pytest.raises(ValueError, match="NAME\\[:TAG\\]=DIR"):
            parse_images(bad)


def test_from_the_environment_and_checked(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TSUNAGI_ECS_IMAGES", f"app={tmp_path}")
    assert Config().ecs_images == {"app": str(tmp_path)}
    monkeypatch.setenv("TSUNAGI_ECS_IMAGES", f"app={tmp_path}/missing")
    with pytest.raises(ValueError, match="is not a directory"):
        Config().validate()


def test_serve_refuses_a_mapping_to_nowhere(tmp_path, capsys) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), "--ecs-image", f"app={tmp_path}/missing"]) == 2
    assert "ECS image app:" in capsys.readouterr().err
