"""``tsunagi aws ...``: the aws CLI pointed at tsunagi.

The endpoint is the server running here (``--endpoint-url`` wins; see :func:`tsunagi.commands.endpoint`),
passed as ``--endpoint-url`` because aws CLI v1 ignores ``AWS_ENDPOINT_URL`` for some services; the
region and credentials default to ``us-east-1`` and ``test``/``test`` when none are configured."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

HELP = "run the aws CLI against tsunagi (endpoint, region and test credentials filled in)"


def find_aws() -> str | None:
    """The aws CLI beside this Python (the same venv), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "aws")
    if os.access(here, os.X_OK):
        return here
    return shutil.which("aws")


def command(argv: list[str], environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The aws command line and environment ``tsunagi aws argv`` runs (without running it)."""
    from tsunagi.commands import endpoint

    env = dict(environ)
    if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or env.get("AWS_PROFILE")):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
    if not (env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE")):
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "test", "test"
    env.setdefault("AWS_PAGER", "")
    args = list(argv)
    if not any(a == "--endpoint-url" or a.startswith("--endpoint-url=") for a in args):
        url = endpoint(argparse.Namespace(endpoint_url=None, data_dir=None))
        args = ["--endpoint-url", url, *args]
    return args, env


def run(argv: list[str]) -> int:
    aws = find_aws()
    if aws is None:
        print("tsunagi aws: the aws CLI is not installed here; install it (pip install awscli, or AWS's "
              "installer for v2) and run this again", file=sys.stderr)
        return 127
    args, env = command(argv, dict(os.environ))
    os.execve(aws, [aws, *args], env)
    return 0    # not reached: the aws CLI replaces this process
