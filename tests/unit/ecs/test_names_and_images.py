"""ECS names and references, and how an image finds its host directory."""

from __future__ import annotations

import pytest

from tsunagi.services.ecs import names
from tsunagi.services.ecs.errors import Client, InvalidParameter
from tsunagi.services.ecs.runner import _in_image, image_dir


def test_task_definition_references() -> None:
    assert names.taskdef_ref("web") == ("web", None)
    assert names.taskdef_ref("web:3") == ("web", 3)
    assert names.taskdef_ref("arn:aws:ecs:us-east-1:000000000000:task-definition/web:12") == ("web", 12)
    for bad in ("web:0", "web:x", "arn:aws:ecs:us-east-1:000000000000:task-definition/web"):
        with pytest.raises(Client) as e:
            names.taskdef_ref(bad)
        assert e.value.message.startswith("Invalid revision number. Number: ")


def test_cluster_and_task_references() -> None:
    assert names.cluster_ref("us-east-1", "000000000000", None).endswith(":cluster/default")
    assert names.cluster_ref("us-east-1", "000000000000", "jobs") == "arn:aws:ecs:us-east-1:000000000000:cluster/jobs"
    arn = "arn:aws:ecs:eu-west-1:111111111111:cluster/x"
    assert names.cluster_ref("us-east-1", "000000000000", arn) == arn
    task_id = "0123456789abcdef0123456789abcdef"
    full = f"arn:aws:ecs:us-east-1:000000000000:task/jobs/{task_id}"
    assert names.task_ref("us-east-1", "000000000000", "jobs", task_id) == full
    assert names.task_ref("us-east-1", "000000000000", "jobs", full) == full
    old_form = f"arn:aws:ecs:us-east-1:000000000000:task/{task_id}"
    assert names.task_ref("us-east-1", "000000000000", "jobs", old_form) == full
    with pytest.raises(InvalidParameter):
        names.task_ref("us-east-1", "000000000000", "jobs", "not-a-task")


def test_image_directories() -> None:
    images = {"app:1.0": "/srv/app-1", "app": "/srv/app", "worker:latest": "/srv/worker",
              "registry.example.com:5000/team/tool:v2": "/srv/tool"}
    assert image_dir(images, "app:1.0") == "/srv/app-1"            # exact
    assert image_dir(images, "app:2.0") == "/srv/app"              # a mapping without a tag: any tag
    assert image_dir(images, "worker") == "/srv/worker"            # no tag is :latest
    assert image_dir(images, "worker:v3") is None
    assert image_dir(images, "registry.example.com:5000/team/tool:v2") == "/srv/tool"
    assert image_dir(images, "registry.example.com:5000/team/tool") is None   # the port is not a tag
    assert image_dir(images, "app@sha256:abc") == "/srv/app"


def test_absolute_paths_in_the_command_come_from_the_image(tmp_path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "manage.py").write_text("")
    assert _in_image(str(tmp_path), "/app/manage.py") == str(tmp_path / "app" / "manage.py")
    assert _in_image(str(tmp_path), "/usr/bin/env") == "/usr/bin/env"        # not in the image: the host's
    assert _in_image(str(tmp_path), "python") == "python"
    assert _in_image(str(tmp_path), "-c") == "-c"
