"""A stand-in for ECS RunTask until tsunagi has ECS: a tiny HTTP server that answers RunTask and runs the
container's command as a local process.

    python examples/003-fifo-long-task/ecs_standin.py --port 4577

The function reaches it because ``deploy.py --ecs-endpoint http://localhost:4577`` sets
``AWS_ENDPOINT_URL_ECS`` in the function's environment (boto3 sends ECS calls there; everything else
still goes to tsunagi). The article's command ``["python", "/app/manage.py", "<command>", que_id, "-r",
receipt_handle]`` becomes ``python task_app.py import que_id -r receipt_handle`` in this folder, with this
process's environment. Nothing else of ECS is imitated: cluster, task definition and launch type are
accepted as given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class EcsStandIn:
    """``hold=True`` records the tasks without starting them (tests start them when they choose)."""

    def __init__(self, port: int = 0, hold: bool = False) -> None:
        self.tasks: list[dict[str, Any]] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.hold = hold
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                if target.endswith(".RunTask"):
                    status, reply = 200, owner.run_task(body)
                else:
                    status, reply = 400, {"__type": "UnsupportedOperation",
                                          "message": f"the ECS stand-in only answers RunTask, not {target}"}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EcsStandIn:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def local_command(command: list[str]) -> list[str]:
        """The container's ``python /app/manage.py <command> que_id -r handle`` as a local command."""
        args = command[3:] if len(command) > 3 and command[1].endswith("manage.py") else command[1:]
        return [sys.executable, str(HERE / "task_app.py"), "import", *args]

    def run_task(self, request: dict[str, Any]) -> dict[str, Any]:
        arn = f"arn:aws:ecs:us-east-1:000000000000:task/standin/{uuid.uuid4().hex}"
        overrides = (request.get("overrides") or {}).get("containerOverrides") or [{}]
        command = overrides[0].get("command") or []
        self.tasks.append({"taskArn": arn, "request": request, "command": command})
        if not self.hold:
            self.processes.append(subprocess.Popen(self.local_command(command)))
        return {"tasks": [{"taskArn": arn, "clusterArn": f"arn:aws:ecs:us-east-1:000000000000:cluster/"
                                                          f"{request.get('cluster', 'default')}",
                           "taskDefinitionArn": str(request.get("taskDefinition")), "lastStatus": "PROVISIONING",
                           "desiredStatus": "RUNNING", "launchType": request.get("launchType", "EC2")}],
                "failures": []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4577)
    args = parser.parse_args()
    standin = EcsStandIn(args.port)
    print(f"ECS stand-in on {standin.url}: RunTask runs `python task_app.py import …` here", flush=True)
    try:
        standin.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
