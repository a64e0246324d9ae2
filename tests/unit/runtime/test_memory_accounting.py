"""A worker's memory is its own, however large the server that started it."""

from __future__ import annotations

import json

from tests.unit.runtime.test_worker import call, code_dir, run, spec  # noqa: F401 - code_dir is a fixture


def test_a_large_server_does_not_make_a_small_function_run_out_of_memory(code_dir: str) -> None:
    # Given a server process holding 300 MB (a busy server, or a test runner with much loaded)
    ballast = bytearray(300 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    s = spec(code_dir, "ok.handler", memory=128, key="ballast")

    async def body(pool, sunk):
        # When a 128 MB function runs
        outcome = await call(pool, s, {"a": 1})
        # Then it succeeds, and its REPORT line counts only the worker's own memory
        assert outcome.ok, outcome.payload
        assert json.loads(outcome.payload)["count"] == 1
        report = [line for line in outcome.log_lines if line.startswith("REPORT")][0]
        used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
        assert used < 128

    run(body)
    del ballast
