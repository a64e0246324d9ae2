"""CloudWatch clients in each protocol: ``json`` (today's boto3), ``query`` (the aws CLI v1 and older
SDKs) and ``cbor`` (Smithy RPC v2 CBOR), made by pinning botocore's model to one protocol."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from subprocess import CompletedProcess, run

import boto3
from botocore.config import Config

_PROTOCOLS = {"json": "json", "query": "query", "cbor": "smithy-rpc-v2-cbor"}
_FOLDERS: dict[str, Path] = {}


def model_folder(protocol: str) -> Path:
    """A botocore data folder whose cloudwatch model speaks only ``protocol``."""
    if protocol not in _FOLDERS:
        import botocore.session

        loader = botocore.session.get_session().get_component("data_loader")
        model = loader.load_service_model("cloudwatch", "service-2")
        model["metadata"]["protocol"] = _PROTOCOLS[protocol]
        model["metadata"]["protocols"] = [_PROTOCOLS[protocol]]
        folder = Path(tempfile.mkdtemp(prefix=f"cloudwatch-{protocol}-"))
        target = folder / "cloudwatch" / "2010-08-01"
        target.mkdir(parents=True)
        (target / "service-2.json").write_text(json.dumps(model))
        for extra in ("paginators-1", "waiters-2"):
            try:
                (target / f"{extra}.json").write_text(json.dumps(loader.load_service_model("cloudwatch", extra)))
            except Exception:
                pass
        _FOLDERS[protocol] = folder
    return _FOLDERS[protocol]


def client(server, protocol: str = "json", **config):
    import botocore.session

    session = botocore.session.Session()
    session.get_component("data_loader").search_paths.insert(0, str(model_folder(protocol)))
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5, **config)
    return boto3.Session(botocore_session=session).client(
        "cloudwatch", endpoint_url=server.url, aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1", config=cfg)


def aws(server, *args: str, check: bool = True) -> CompletedProcess[str]:
    """The aws CLI speaking CloudWatch's query protocol, as the CLI v1 does."""
    exe = Path(sys.executable).parent / "aws"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": "", "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_DATA_PATH": str(model_folder("query"))}
    env.pop("AWS_PROFILE", None)
    proc = run([str(exe), "--endpoint-url", server.url, "--output", "json", "cloudwatch", *args],
               capture_output=True, text=True, env=env, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"aws cloudwatch {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def own_server(request, env: dict[str, str]):
    """A module's server on a database of its own (a scratch PostgreSQL database for the ``postgres``
    param), with ``env`` (CloudWatch's faster publishing and evaluation): the session's server on the
    shared store runs CloudWatch at its default pace, and could take the alarm evaluator's lease or
    count this server's deliveries. A generator for a module-scoped fixture to yield from."""
    from tests.support import postgres
    from tests.support.server import TsunagiServer

    url = None
    if request.param == "postgres":
        request.getfixturevalue("pg_url")      # (PostgreSQL is required, or the test is skipped, as for the rest)
        url = postgres.create_database()
    srv = TsunagiServer(url or "sqlite", env=dict(env)).start()
    yield srv
    srv.stop()
    if url is not None:
        postgres.drop_database(url)


def ready(srv):
    """The module's server, running and reset, for one test."""
    if srv.proc is None or srv.proc.poll() is not None:
        srv.start()
    srv.reset()
    return srv
