"""Seed 003 end to end: ``examples/003-fifo-long-task`` against a real server with its image mapped
(``--ecs-image seed003-app=examples/003-fifo-long-task/image``), on both stores.

A message on the FIFO queue starts the function, which calls ECS run_task with the receipt handle and
raises on purpose; the message stays in the queue. tsunagi runs the task (``python /app/manage.py
import_csv <que_id> -r <receipt handle>`` as a host process): it extends the message's visibility to 3
hours, imports the CSV from S3, and deletes the message. Test-only overrides: the queue's visibility
timeout is 15 s instead of the console's 30 s, so that a failed extension would show (a second
delivery) sooner, and each import takes 16 s (``LONG_TASK_SECONDS``), longer than that timeout. (The
task must extend the visibility before the timeout runs out, as the article warns: the function's cold
start, RunTask and the task's own start (Python, boto3) took more than 8 s on a busy 2-core machine.)"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from tests.e2e.support import EXAMPLES, load_example, log_messages, queue_counts, wait_for
from tests.support.ecs import log_lines, server_fixtures

FOLDER = "003-fifo-long-task"
# The article deploys to Tokyo; so does the example (deploy.py defaults to its region).
REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def _article_region(monkeypatch):
    """deploy.py runs in this process and takes the region from the environment, as boto3 does."""
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
LONG = 16
VISIBILITY = 15

_module_server, server = server_fixtures({"seed003-app": EXAMPLES / FOLDER / "image"})


def env_for(server, tmp_path) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": server.url, "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION, "QUE_DB": str(tmp_path / "que.db")}


def submit(server, tmp_path, rows: int = 3) -> int:
    data = tmp_path / "items.csv"
    data.write_text("name,qty\n" + "".join(f"item{i},{i}\n" for i in range(rows)))
    out = subprocess.run([sys.executable, str(EXAMPLES / FOLDER / "task_app.py"), "submit", str(data)],
                         capture_output=True, text=True, env=env_for(server, tmp_path), timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


def all_tasks(ecs, cluster: str) -> list[dict]:
    arns = [*ecs.list_tasks(cluster=cluster)["taskArns"],
            *ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]]
    if not arns:
        return []
    return sorted(ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"], key=lambda t: t["createdAt"])


def que_status(tmp_path) -> dict[int, tuple[str, int | None]]:
    with sqlite3.connect(tmp_path / "que.db") as conn:
        return {qid: (status, rows) for qid, status, rows in conn.execute("SELECT id, status, rows FROM que")}


def test_seed_003_function_runs_the_task_which_extends_imports_and_deletes(server, tmp_path) -> None:
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url, queue_visibility_timeout=VISIBILITY,
                        task_env={"QUE_DB": str(tmp_path / "que.db"), "LONG_TASK_SECONDS": str(LONG)})
    assert out["task_definition"] == "csv-import:1"
    sqs, ecs, logs = server.sqs_client(region=REGION), server.client("ecs", region=REGION), server.client("logs", region=REGION)
    attrs = sqs.get_queue_attributes(QueueUrl=out["queue_url"], AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "true"

    # two uploads back to back: the same message group, so the second waits for the first
    first = submit(server, tmp_path, rows=3)
    second = submit(server, tmp_path, rows=2)

    # the function ran, called run_task with the article's command and the receipt handle ...
    (task,) = wait_for(lambda: all_tasks(ecs, "csv-import"), timeout=60, what="run_task from the function")
    assert task["taskDefinitionArn"].endswith(":task-definition/csv-import:1") and task["launchType"] == "EC2"
    (override,) = task["overrides"]["containerOverrides"]
    command = override["command"]
    assert override["name"] == "app"
    assert command[:4] == ["python", "/app/manage.py", "import_csv", str(first)] and command[4] == "-r"
    assert command[5]
    # ... and raised on purpose, so the message is not deleted by the event source mapping
    wait_for(lambda: any("Exception: 完了" in m for m in log_messages(server, deploy.FUNCTION, region=REGION)),
             what="the function's deliberate exception in its log")

    # the task worked longer than the visibility timeout, extended it, and deleted the message itself
    ecs.get_waiter("tasks_stopped").wait(cluster="csv-import", tasks=[task["taskArn"]],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    # then the second message of the group was delivered, and its task ran the same way
    tasks = wait_for(lambda: len(all_tasks(ecs, "csv-import")) == 2 and all_tasks(ecs, "csv-import"),
                     timeout=60, what="the second import's task")
    ecs.get_waiter("tasks_stopped").wait(cluster="csv-import", tasks=[t["taskArn"] for t in tasks],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    tasks = all_tasks(ecs, "csv-import")
    assert [t["overrides"]["containerOverrides"][0]["command"][3] for t in tasks] == [str(first), str(second)]
    for t in tasks:
        assert t["stopCode"] == "EssentialContainerExited" and t["containers"][0]["exitCode"] == 0
    # FIFO: the second task was started only after the first had done its work (it holds the group)
    assert tasks[1]["createdAt"] >= tasks[0]["startedAt"] + timedelta(seconds=LONG)
    lines = log_lines(logs, deploy.LOG_GROUP, f"ecs/app/{tasks[0]['taskArn'].rsplit('/', 1)[1]}")
    assert f"que {first}: imported 3 rows from s3://csv-uploads/uploads/{first}.csv" in lines
    lines = log_lines(logs, deploy.LOG_GROUP, f"ecs/app/{tasks[1]['taskArn'].rsplit('/', 1)[1]}")
    assert f"que {second}: imported 2 rows from s3://csv-uploads/uploads/{second}.csv" in lines
    assert que_status(tmp_path) == {first: ("SUCCESS", 3), second: ("SUCCESS", 2)}
    assert queue_counts(sqs, out["queue_url"]) == (0, 0)
    # exactly once: no further delivery after the visibility timeout
    time.sleep(VISIBILITY + 0.5)
    assert len(all_tasks(ecs, "csv-import")) == 2 and queue_counts(sqs, out["queue_url"]) == (0, 0)
    starts = [m for m in log_messages(server, deploy.FUNCTION, region=REGION) if m.startswith("START ")]
    assert len(starts) == 2

    # FIFO: the same body again within 5 minutes is deduplicated (content-based) and starts nothing
    sqs.send_message(QueueUrl=out["queue_url"], MessageBody=json.dumps({"que_id": first}), MessageGroupId="replay")
    time.sleep(2)
    assert len(all_tasks(ecs, "csv-import")) == 2
    # idempotency (the que table): a replay that gets through only deletes the leftover message
    sqs.send_message(QueueUrl=out["queue_url"], MessageBody=json.dumps({"que_id": first}),
                     MessageGroupId="replay", MessageDeduplicationId="replay-1")
    replay = wait_for(lambda: len(all_tasks(ecs, "csv-import")) == 3 and all_tasks(ecs, "csv-import")[2],
                      timeout=60, what="the replayed message's task")
    ecs.get_waiter("tasks_stopped").wait(cluster="csv-import", tasks=[replay["taskArn"]],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    lines = log_lines(logs, deploy.LOG_GROUP, f"ecs/app/{replay['taskArn'].rsplit('/', 1)[1]}")
    assert f"que {first} already done (SUCCESS); deleting the leftover message" in lines
    wait_for(lambda: queue_counts(sqs, out["queue_url"]) == (0, 0), what="the replay deleted")
    assert que_status(tmp_path)[first] == ("SUCCESS", 3)


def test_seed_003_when_run_task_fails_the_message_stays(server, tmp_path) -> None:
    """Without the cluster, run_task fails (ClusterNotFoundException), the function fails, the message
    stays and comes back after the visibility timeout (the article's "don't delete before the task is done")."""
    deploy = load_example(FOLDER)
    out = deploy.deploy(server.url, queue_visibility_timeout=3, with_ecs=False)
    que_id = submit(server, tmp_path)
    wait_for(lambda: any("ClusterNotFoundException" in m and "Cluster not found." in m
                         for m in log_messages(server, deploy.FUNCTION, region=REGION)),
             timeout=30, what="the ClusterNotFoundException in the function's log")
    sqs = server.sqs_client(region=REGION)
    assert sum(queue_counts(sqs, out["queue_url"])) == 1
    wait_for(lambda: sum(1 for m in log_messages(server, deploy.FUNCTION, region=REGION) if m.startswith("START ")) >= 2,
             timeout=20, what="a second delivery after the visibility timeout")
    lam = server.client("lambda", region=REGION)
    lam.update_event_source_mapping(UUID=out["mapping_uuid"], Enabled=False)
    wait_for(lambda: lam.get_event_source_mapping(UUID=out["mapping_uuid"])["State"] == "Disabled",
             what="mapping disabled")
    time.sleep(3.5)
    (m,) = sqs.receive_message(QueueUrl=out["queue_url"], WaitTimeSeconds=5).get("Messages", [])
    assert json.loads(m["Body"]) == {"que_id": que_id}


def test_seed_003_with_tsunagi_ecs(server) -> None:
    ecs = server.client("ecs", region=REGION)
    ecs.create_cluster(clusterName="imports")
    ecs.register_task_definition(family="csv-import", containerDefinitions=[
        {"name": "app", "image": "seed003-app", "command": ["python", "/app/manage.py"], "memory": 128}])
    tasks = ecs.run_task(cluster="imports", taskDefinition="csv-import:1", launchType="EC2", overrides={
        "containerOverrides": [{"name": "app", "command": ["python", "-c", "print('ok')"]}]})["tasks"]
    assert tasks and tasks[0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="imports", tasks=[tasks[0]["taskArn"]],
                                         WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    done = ecs.describe_tasks(cluster="imports", tasks=[tasks[0]["taskArn"]])["tasks"][0]
    assert done["containers"][0]["exitCode"] == 0
