"""ECS against a real server on both stores, with boto3 (and the aws CLI for the waiters): clusters,
task definitions, tasks run as host processes (lifecycle, exit codes and reasons, overrides, StopTask
with SIGTERM then SIGKILL, awslogs streams, the metadata and credentials endpoints used by an
unmodified boto3 inside the task), an unmapped image, and restarts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from tests.support.ecs import (
    IMAGE,
    IMAGE_DIR,
    awslogs,
    container,
    log_lines,
    server_fixtures,
    wait_lines,
    wait_task,
)

_module_server, ecs_server = server_fixtures({IMAGE: IMAGE_DIR})


def error(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture
def ecs(ecs_server):
    return ecs_server.client("ecs")


# == clusters ====================================================================================
def test_clusters_create_describe_list_delete(ecs) -> None:
    c = ecs.create_cluster(clusterName="jobs", tags=[{"key": "team", "value": "data"}])["cluster"]
    assert c["clusterArn"] == "arn:aws:ecs:us-east-1:000000000000:cluster/jobs"
    assert c["status"] == "ACTIVE" and c["runningTasksCount"] == 0 and c["tags"] == [{"key": "team", "value": "data"}]
    assert ecs.create_cluster(clusterName="jobs")["cluster"]["clusterArn"] == c["clusterArn"]   # idempotent
    ecs.create_cluster(clusterName="other")
    assert ecs.list_clusters()["clusterArns"] == [c["clusterArn"], c["clusterArn"].replace("jobs", "other")]
    page = ecs.list_clusters(maxResults=1)
    assert len(page["clusterArns"]) == 1 and ecs.list_clusters(nextToken=page["nextToken"])["clusterArns"] == [
        c["clusterArn"].replace("jobs", "other")]

    out = ecs.describe_clusters(clusters=["jobs", "nope"], include=["TAGS"])
    assert [x["clusterName"] for x in out["clusters"]] == ["jobs"] and out["clusters"][0]["tags"][0]["key"] == "team"
    assert out["failures"] == [{"arn": "arn:aws:ecs:us-east-1:000000000000:cluster/nope", "reason": "MISSING"}]

    assert ecs.delete_cluster(cluster="jobs")["cluster"]["status"] == "INACTIVE"
    assert ecs.describe_clusters(clusters=["jobs"])["clusters"][0]["status"] == "INACTIVE"
    assert c["clusterArn"] not in ecs.list_clusters()["clusterArns"]
    with pytest.raises(ClientError) as e:
        ecs.delete_cluster(cluster="jobs")
    assert error(e) == ("ClusterNotFoundException", "Cluster not found.")
    assert ecs.create_cluster(clusterName="jobs")["cluster"]["status"] == "ACTIVE"     # comes back


def test_unknown_cluster_and_task_definition(ecs) -> None:
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster="nope", taskDefinition="x")
    assert error(e) == ("ClusterNotFoundException", "Cluster not found.")
    ecs.create_cluster(clusterName="c")
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster="c", taskDefinition="missing:1")
    assert error(e) == ("ClientException", "TaskDefinition not found.")
    with pytest.raises(ClientError) as e:
        ecs.describe_task_definition(taskDefinition="missing")
    assert error(e) == ("ClientException", "Unable to describe task definition.")
    with pytest.raises(ClientError) as e:
        ecs.stop_task(cluster="c", task="0123456789abcdef0123456789abcdef")
    assert error(e) == ("InvalidParameterException", "The referenced task was not found.")


# == task definitions ============================================================================
def test_task_definition_revisions_and_references(ecs) -> None:
    first = ecs.register_task_definition(family="imp", containerDefinitions=[container()])["taskDefinition"]
    assert first["revision"] == 1 and first["status"] == "ACTIVE"
    assert first["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:000000000000:task-definition/imp:1"
    c = first["containerDefinitions"][0]
    assert c["essential"] is True and c["cpu"] == 0 and c["environment"] == [] and c["portMappings"] == []
    second = ecs.register_task_definition(family="imp", containerDefinitions=[container("app", "say", "2")],
                                          tags=[{"key": "k", "value": "v"}])
    assert second["taskDefinition"]["revision"] == 2 and second["tags"] == [{"key": "k", "value": "v"}]

    assert ecs.describe_task_definition(taskDefinition="imp")["taskDefinition"]["revision"] == 2
    assert ecs.describe_task_definition(taskDefinition="imp:1")["taskDefinition"]["revision"] == 1
    assert ecs.describe_task_definition(taskDefinition=first["taskDefinitionArn"])["taskDefinition"]["revision"] == 1
    assert ecs.describe_task_definition(taskDefinition="imp:2", include=["TAGS"])["tags"] == [{"key": "k", "value": "v"}]

    out = ecs.deregister_task_definition(taskDefinition="imp:2")["taskDefinition"]
    assert out["status"] == "INACTIVE" and "deregisteredAt" in out
    assert ecs.describe_task_definition(taskDefinition="imp")["taskDefinition"]["revision"] == 1   # latest ACTIVE
    assert ecs.list_task_definitions()["taskDefinitionArns"] == [first["taskDefinitionArn"]]
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [
        first["taskDefinitionArn"].replace(":1", ":2")]
    assert ecs.list_task_definitions(familyPrefix="imp", sort="DESC", status="ACTIVE")["taskDefinitionArns"] == [
        first["taskDefinitionArn"]]
    ecs.register_task_definition(family="other", containerDefinitions=[container()])
    assert ecs.list_task_definition_families()["families"] == ["imp", "other"]
    assert ecs.list_task_definition_families(familyPrefix="ot")["families"] == ["other"]
    ecs.create_cluster(clusterName="c")
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster="c", taskDefinition="imp:2")
    assert error(e) == ("ClientException", "TaskDefinition is inactive")
    deleted = ecs.delete_task_definitions(taskDefinitions=["imp:2", "imp:1"])
    assert [t["status"] for t in deleted["taskDefinitions"]] == ["DELETE_IN_PROGRESS"]
    assert deleted["failures"][0]["arn"].endswith("imp:1")


def test_task_definition_checks(ecs) -> None:
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="x", containerDefinitions=[{"name": "app", "image": "tasks"}])
    assert error(e) == ("ClientException", "Invalid setting for container 'app'. At least one of 'memory' or "
                                           "'memoryReservation' must be specified.")
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="x", containerDefinitions=[])
    assert error(e)[0] == "ClientException"
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="bad name!", containerDefinitions=[container()])
    assert error(e)[0] == "ClientException"
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="x", containerDefinitions=[container()], requiresCompatibilities=["FARGATE"],
                                     cpu="256", memory="512")
    assert error(e) == ("ClientException", "Fargate only supports network mode \u2018awsvpc\u2019.")


# == tasks =======================================================================================
def test_run_task_lifecycle_exit_code_overrides_and_awslogs(ecs_server, ecs) -> None:
    logs = ecs_server.client("logs")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="job", containerDefinitions=[
        container("app", "say", "from the definition", environment=[{"name": "GREETING", "value": "hi"}],
                  logConfiguration=awslogs("/ecs/job"))])
    out = ecs.run_task(cluster="c", taskDefinition="job", launchType="EC2", startedBy="tester", overrides={
        "containerOverrides": [{"name": "app", "command": ["python", "/app/task.py", "env", "GREETING", "env", "EXTRA",
                                                           "say", "overridden", "exit", "3"],
                                "environment": [{"name": "EXTRA", "value": "more"}]}]})
    assert out["failures"] == []
    (task,) = out["tasks"]
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    assert task["startedBy"] == "tester" and task["group"] == "family:job" and task["launchType"] == "EC2"
    assert task["containers"][0]["name"] == "app" and task["containers"][0]["lastStatus"] == "PENDING"
    arn = task["taskArn"]
    task_id = arn.rsplit("/", 1)[1]
    assert arn == f"arn:aws:ecs:us-east-1:000000000000:task/c/{task_id}" and len(task_id) == 32

    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    done = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert done["lastStatus"] == "STOPPED" and done["desiredStatus"] == "STOPPED"
    assert done["stopCode"] == "EssentialContainerExited"
    assert done["stoppedReason"] == "Essential container in task exited"
    (c,) = done["containers"]
    assert c["exitCode"] == 3 and c["lastStatus"] == "STOPPED"
    assert done["createdAt"] <= done["startedAt"] <= done["stoppingAt"] <= done["stoppedAt"]
    assert done["overrides"]["containerOverrides"][0]["environment"] == [{"name": "EXTRA", "value": "more"}]

    lines = wait_lines(logs, "/ecs/job", f"ecs/app/{task_id}", "overridden")
    assert lines == ["GREETING=hi", "EXTRA=more", "overridden"]

    # tsunagi logs follows a task's streams by its ARN
    cli = subprocess.run([sys.executable, "-m", "tsunagi", "logs", arn, "--endpoint-url", ecs_server.url],
                         capture_output=True, text=True, timeout=60, env=ecs_server.cli_env())
    assert cli.returncode == 0, cli.stderr
    assert [ln.split(" ", 2)[1:] for ln in cli.stdout.splitlines()] == [
        [f"ecs/app/{task_id}", "GREETING=hi"], [f"ecs/app/{task_id}", "EXTRA=more"],
        [f"ecs/app/{task_id}", "overridden"]]

    assert ecs.list_tasks(cluster="c")["taskArns"] == []
    assert ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"] == [arn]
    assert ecs.list_tasks(cluster="c", desiredStatus="STOPPED", startedBy="tester")["taskArns"] == [arn]
    assert ecs.list_tasks(cluster="c", desiredStatus="STOPPED", family="other")["taskArns"] == []


def test_running_tasks_are_listed_and_counted_and_block_cluster_deletion(ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="long", containerDefinitions=[container("app", "sleep", "60")])
    out = ecs.run_task(cluster="c", taskDefinition="long", count=2)
    arns = sorted(t["taskArn"] for t in out["tasks"])
    ecs.get_waiter("tasks_running").wait(cluster="c", tasks=arns, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert sorted(ecs.list_tasks(cluster="c")["taskArns"]) == arns
    assert sorted(ecs.list_tasks(cluster="c", family="long")["taskArns"]) == arns
    assert ecs.describe_clusters(clusters=["c"])["clusters"][0]["runningTasksCount"] == 2
    with pytest.raises(ClientError) as e:
        ecs.delete_cluster(cluster="c")
    assert error(e) == ("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
    for arn in arns:
        ecs.stop_task(cluster="c", task=arn)
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=arns, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ecs.delete_cluster(cluster="c")


def test_stop_task_sigterm_then_sigkill_after_stop_timeout(ecs_server, ecs) -> None:
    logs = ecs_server.client("logs")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="polite", containerDefinitions=[
        container("app", "graceful", "ready", "sleep", "60", logConfiguration=awslogs("/ecs/stop"))])
    ecs.register_task_definition(family="stubborn", containerDefinitions=[
        container("app", "stubborn", "ready", "sleep", "60", "sleep", "60", stopTimeout=2,
                  logConfiguration=awslogs("/ecs/stop"))])
    polite = ecs.run_task(cluster="c", taskDefinition="polite")["tasks"][0]["taskArn"]
    stubborn = ecs.run_task(cluster="c", taskDefinition="stubborn")["tasks"][0]["taskArn"]
    for arn in (polite, stubborn):
        wait_lines(logs, "/ecs/stop", f"ecs/app/{arn.rsplit('/', 1)[1]}", "ready")

    stopping = ecs.stop_task(cluster="c", task=polite, reason="done for today")["task"]
    assert stopping["desiredStatus"] == "STOPPED" and stopping["stopCode"] == "UserInitiated"
    assert stopping["stoppedReason"] == "done for today" and "stoppingAt" in stopping
    ecs.stop_task(cluster="c", task=stubborn.rsplit("/", 1)[1])          # by task id
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[polite, stubborn],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    tasks = {t["taskArn"]: t for t in ecs.describe_tasks(cluster="c", tasks=[polite, stubborn])["tasks"]}
    assert tasks[polite]["containers"][0]["exitCode"] == 0
    assert tasks[stubborn]["containers"][0]["exitCode"] == 137                       # SIGKILL after 2 s
    assert tasks[stubborn]["stoppedReason"] == "Task stopped by user"
    assert "got SIGTERM" in log_lines(logs, "/ecs/stop", f"ecs/app/{polite.rsplit('/', 1)[1]}")
    assert "ignoring SIGTERM" in log_lines(logs, "/ecs/stop", f"ecs/app/{stubborn.rsplit('/', 1)[1]}")
    assert (tasks[stubborn]["stoppedAt"] - tasks[stubborn]["stoppingAt"]).total_seconds() >= 2   # not before


def test_unmapped_image_stops_with_cannot_pull(ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="nowhere", containerDefinitions=[
        {"name": "web", "image": "nginx:1.27", "memory": 128}])
    arn = ecs.run_task(cluster="c", taskDefinition="nowhere")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError: ")
    assert "nginx:1.27" in task["stoppedReason"]
    assert task["containers"][0]["reason"].startswith("CannotPullContainerError: ")
    assert "startedAt" not in task


def test_command_that_cannot_start(ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="typo", containerDefinitions=[
        {"name": "app", "image": "tasks", "memory": 128, "command": ["no-such-program-here"]}])
    arn = ecs.run_task(cluster="c", taskDefinition="typo")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotStartContainerError: ")
    assert "no-such-program-here" in task["stoppedReason"]


def test_boto3_inside_the_task_uses_the_credentials_and_metadata_endpoints(ecs_server, ecs) -> None:
    logs = ecs_server.client("logs")
    ecs_server.client("s3").create_bucket(Bucket="seen-from-task")
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="sdk", taskRoleArn="arn:aws:iam::000000000000:role/task-role",
                                 containerDefinitions=[container("app", "aws", logConfiguration=awslogs("/ecs/sdk"))])
    arn = ecs.run_task(cluster="c", taskDefinition="sdk")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    lines = log_lines(logs, "/ecs/sdk", f"ecs/app/{arn.rsplit('/', 1)[1]}")
    assert task["containers"][0]["exitCode"] == 0, lines
    assert "credentials from container-role" in lines
    assert "account 000000000000" in lines
    assert f"metadata {arn} sdk app" in lines
    assert "buckets ['seen-from-task']" in lines


def test_enable_execute_command_is_refused_clearly(ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="x", containerDefinitions=[container()])
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster="c", taskDefinition="x", enableExecuteCommand=True)
    code, message = error(e)
    assert code == "InvalidParameterException" and "ECS Exec" in message
    with pytest.raises(ClientError) as e:
        ecs.run_task(cluster="c", taskDefinition="x", overrides={"containerOverrides": [{"name": "nope"}]})
    assert error(e) == ("InvalidParameterException",
                        "Override for container named nope is not a container in the TaskDefinition.")


def test_tags_on_tasks_and_clusters(ecs) -> None:
    arn = ecs.create_cluster(clusterName="c")["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    ecs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": "2"}]
    ecs.register_task_definition(family="t", containerDefinitions=[container("app", "say", "x")])
    task = ecs.run_task(cluster="c", taskDefinition="t", tags=[{"key": "job", "value": "42"}])["tasks"][0]
    assert task["tags"] == [{"key": "job", "value": "42"}]
    assert ecs.list_tags_for_resource(resourceArn=task["taskArn"])["tags"] == [{"key": "job", "value": "42"}]
    described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]], include=["TAGS"])["tasks"][0]
    assert described["tags"] == [{"key": "job", "value": "42"}]
    with pytest.raises(ClientError) as e:
        ecs.list_tags_for_resource(resourceArn=arn.replace("/c", "/gone"))
    assert error(e)[0] == "ClusterNotFoundException"


def test_waiters_from_the_aws_cli(ecs_server, ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="w", containerDefinitions=[
        container("app", "graceful", "ready", "sleep", "300", logConfiguration=awslogs("/ecs/w"))])
    out = json.loads(ecs_server.aws("ecs", "run-task", "--cluster", "c", "--task-definition", "w").stdout)
    arn = out["tasks"][0]["taskArn"]
    ecs_server.aws("ecs", "wait", "tasks-running", "--cluster", "c", "--tasks", arn)
    wait_lines(ecs_server.client("logs"), "/ecs/w", f"ecs/app/{arn.rsplit('/', 1)[1]}", "ready")
    ecs_server.aws("ecs", "stop-task", "--cluster", "c", "--task", arn)
    ecs_server.aws("ecs", "wait", "tasks-stopped", "--cluster", "c", "--tasks", arn)
    task = json.loads(ecs_server.aws("ecs", "describe-tasks", "--cluster", "c", "--tasks", arn).stdout)["tasks"][0]
    assert task["lastStatus"] == "STOPPED" and task["containers"][0]["exitCode"] == 0


# == restarts ====================================================================================
def test_a_task_whose_process_is_gone_after_a_restart_is_stopped(ecs_server, ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="long", containerDefinitions=[container("app", "sleep", "300")])
    arn = ecs.run_task(cluster="c", taskDefinition="long")["tasks"][0]["taskArn"]
    ecs.create_service(cluster="c", serviceName="svc", taskDefinition="long", desiredCount=1)
    wait_task(ecs, "c", arn, "RUNNING")
    ecs.get_waiter("services_stable").wait(cluster="c", services=["svc"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    (service_task,) = ecs.list_tasks(cluster="c", serviceName="svc")["taskArns"]
    ecs_server.kill()                # kill -9: the tasks' process groups outlive the server
    ecs_server.start()
    ecs = ecs_server.client("ecs")
    for stopped in ecs.describe_tasks(cluster="c", tasks=[arn, service_task])["tasks"]:
        assert stopped["lastStatus"] == "STOPPED" and stopped["desiredStatus"] == "STOPPED"
        assert stopped["stoppedReason"] == "Task stopped because the tsunagi server restarted"
    # the service starts a replacement; the plain task stays stopped
    ecs.get_waiter("services_stable").wait(cluster="c", services=["svc"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    (replacement,) = ecs.list_tasks(cluster="c")["taskArns"]
    assert replacement not in (arn, service_task)
    # the durable records are all there
    assert ecs.describe_task_definition(taskDefinition="long")["taskDefinition"]["revision"] == 1


# == services ====================================================================================
def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.2)


def test_service_keeps_its_desired_count_and_replaces_a_crashed_task(ecs, tmp_path) -> None:
    crash = tmp_path / "crash-one"
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="worker", containerDefinitions=[
        container("app", "graceful", "crash-when", str(crash))])
    svc = ecs.create_service(cluster="c", serviceName="consumers", taskDefinition="worker", desiredCount=2)["service"]
    assert svc["status"] == "ACTIVE" and svc["desiredCount"] == 2 and svc["runningCount"] == 0
    assert svc["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/c/consumers"
    (deployment,) = svc["deployments"]
    assert deployment["status"] == "PRIMARY" and deployment["id"].startswith("ecs-svc/")
    ecs.get_waiter("services_stable").wait(cluster="c", services=["consumers"],
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    first = sorted(ecs.list_tasks(cluster="c", serviceName="consumers")["taskArns"])
    assert len(first) == 2
    tasks = ecs.describe_tasks(cluster="c", tasks=first)["tasks"]
    assert {t["startedBy"] for t in tasks} == {deployment["id"]} and {t["group"] for t in tasks} == {
        "service:consumers"}

    crash.write_text("")                                   # one of the two tasks crashes ...
    crashed = wait_until(lambda: [t for t in ecs.describe_tasks(cluster="c", tasks=first)["tasks"]
                                  if t["lastStatus"] == "STOPPED"], what="a crashed task")[0]
    assert crashed["containers"][0]["exitCode"] == 1 and crashed["stopCode"] == "EssentialContainerExited"
    # ... and the service starts a replacement
    now = wait_until(lambda: (arns := sorted(ecs.list_tasks(cluster="c", serviceName="consumers")["taskArns"]))
                     and len(arns) == 2 and arns != first and arns, what="a replacement task")
    assert crashed["taskArn"] not in now
    ecs.get_waiter("services_stable").wait(cluster="c", services=["consumers"],
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    svc = ecs.describe_services(cluster="c", services=["consumers"])["services"][0]
    assert svc["runningCount"] == 2 and svc["deployments"][0]["failedTasks"] == 1
    messages = [e["message"] for e in svc["events"]]
    assert "(service consumers) has reached a steady state." in messages
    assert any(m.startswith("(service consumers) has started 1 tasks: (task ") for m in messages)

    with pytest.raises(ClientError) as e:
        ecs.delete_service(cluster="c", service="consumers")
    assert error(e) == ("InvalidParameterException", "The service cannot be stopped while it is scaled above 0.")
    with pytest.raises(ClientError) as e:
        ecs.delete_cluster(cluster="c")
    assert error(e)[0] == "ClusterContainsServicesException"

    ecs.update_service(cluster="c", service="consumers", desiredCount=0)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["consumers"],
                                           WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert ecs.list_tasks(cluster="c", serviceName="consumers")["taskArns"] == []
    assert ecs.delete_service(cluster="c", service="consumers")["service"]["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(cluster="c", services=["consumers"],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert ecs.list_services(cluster="c")["serviceArns"] == []


def test_service_update_to_a_new_revision_replaces_its_tasks(ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="web", containerDefinitions=[container("app", "graceful", "sleep", "300")])
    ecs.register_task_definition(family="web", containerDefinitions=[
        container("app", "graceful", "say", "v2", "sleep", "300")])
    ecs.create_service(cluster="c", serviceName="web", taskDefinition="web:1", desiredCount=1)
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    (old,) = ecs.list_tasks(cluster="c", serviceName="web")["taskArns"]
    out = ecs.update_service(cluster="c", service="web", taskDefinition="web:2")["service"]
    assert [d["status"] for d in out["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert out["taskDefinition"].endswith("web:2")
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    (new,) = ecs.list_tasks(cluster="c", serviceName="web")["taskArns"]
    assert new != old
    assert ecs.describe_tasks(cluster="c", tasks=[new])["tasks"][0]["taskDefinitionArn"].endswith("web:2")
    stopped = ecs.describe_tasks(cluster="c", tasks=[old])["tasks"][0]
    assert stopped["desiredStatus"] == "STOPPED" and stopped["stopCode"] == "ServiceSchedulerInitiated"
    svc = ecs.describe_services(cluster="c", services=["web", "missing"])
    assert len(svc["services"][0]["deployments"]) == 1 and svc["services"][0]["deployments"][0]["rolloutState"] == \
        "COMPLETED"
    assert svc["failures"] == [{"arn": "arn:aws:ecs:us-east-1:000000000000:service/c/missing", "reason": "MISSING"}]
    ecs.delete_service(cluster="c", service="web", force=True)
    with pytest.raises(ClientError) as e:
        ecs.update_service(cluster="c", service="nope", desiredCount=1)
    assert error(e) == ("ServiceNotFoundException", "Service not found.")


# == several servers on one PostgreSQL database ==================================================
def test_stop_task_on_another_server_stops_it_where_it_runs(tmp_path) -> None:
    from tests.support import postgres
    from tests.support.server import TsunagiServer

    why = postgres.available()
    if why:
        if postgres.MANDATORY:
            pytest.fail(why)
        pytest.skip(why)
    url = postgres.create_database("tsunagi_ecs_nodes")
    nodes = [TsunagiServer(url, data_dir=str(tmp_path / f"node{i}"),
                           extra_args=["--ecs-image", f"{IMAGE}={IMAGE_DIR}"]) for i in range(2)]
    try:
        for node in nodes:
            node.start()
        a, b = (node.client("ecs") for node in nodes)
        a.create_cluster(clusterName="c")
        b.register_task_definition(family="long", containerDefinitions=[
            container("app", "graceful", "ready", "sleep", "300", logConfiguration=awslogs("/ecs/nodes"))])
        arn = a.run_task(cluster="c", taskDefinition="long")["tasks"][0]["taskArn"]
        b.get_waiter("tasks_running").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        assert b.list_tasks(cluster="c")["taskArns"] == [arn]
        wait_lines(nodes[1].client("logs"), "/ecs/nodes", f"ecs/app/{arn.rsplit('/', 1)[1]}", "ready")
        b.stop_task(cluster="c", task=arn, reason="from the other server")
        a.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        task = b.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
        assert task["containers"][0]["exitCode"] == 0               # SIGTERM reached it: it left on its own
        assert task["stoppedReason"] == "from the other server" and task["stopCode"] == "UserInitiated"
    finally:
        for node in nodes:
            node.stop()
        postgres.drop_database(url)


def test_awslogs_without_create_group_needs_the_group(ecs_server, ecs) -> None:
    logs = ecs_server.client("logs")
    ecs.create_cluster(clusterName="c")
    options = {"awslogs-group": "/ecs/precreated", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p"}
    ecs.register_task_definition(family="strict", containerDefinitions=[
        container("app", "say", "hello", logConfiguration={"logDriver": "awslogs", "options": options})])
    arn = ecs.run_task(cluster="c", taskDefinition="strict")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("ResourceInitializationError: failed to validate logger args: ")
    assert "The specified log group does not exist." in task["stoppedReason"]

    logs.create_log_group(logGroupName="/ecs/precreated")
    arn = ecs.run_task(cluster="c", taskDefinition="strict")["tasks"][0]["taskArn"]
    wait_lines(logs, "/ecs/precreated", f"p/app/{arn.rsplit('/', 1)[1]}", "hello")


def test_a_container_over_its_memory_is_killed(ecs) -> None:
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="hungry", containerDefinitions=[
        {**container("app", "hog", "300", "sleep", "60"), "memory": 64}])
    arn = ecs.run_task(cluster="c", taskDefinition="hungry")["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    (c,) = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["containers"]
    assert c["exitCode"] == 137 and c["reason"] == "OutOfMemoryError: Container killed due to memory usage"
