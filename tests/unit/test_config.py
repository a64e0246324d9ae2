"""Every ``TSUNAGI_*`` setting is read in ``Config`` and nowhere else; bad values fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tsunagi.config import Config

SRC = Path(__file__).resolve().parents[2] / "src" / "tsunagi"
# The pool hands its worker processes their plumbing (file descriptors, paths) in TSUNAGI_* variables
# of the *worker's* environment: a handshake between two parts of tsunagi, not a user's setting.
HANDSHAKE = {SRC / "runtime" / "worker.py", SRC / "runtime" / "pool.py"}
# tsunagi.testing runs in a user's test process, not in the server: TSUNAGI_ENDPOINT and TSUNAGI_ADMIN_TOKEN
# there name a server to use and its token, the way AWS_ENDPOINT_URL names one to a client.
HANDSHAKE |= {SRC / "testing" / "_server.py"}
_READ = re.compile(r"""(?:environ(?:\.get|\.pop)?\s*[\[(]|getenv\s*\()\s*["']TSUNAGI_""")


def test_settings_are_read_only_in_config() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "config.py" or path in HANDSHAKE:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _READ.search(line):
                offenders.append(f"{path.relative_to(SRC.parent)}:{n}: {line.strip()}")
    assert not offenders, "TSUNAGI_* read outside Config:\n" + "\n".join(offenders)


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUNAGI_LAMBDA_MAX_WORKERS", "7")
    monkeypatch.setenv("TSUNAGI_ESM_POLLERS", "off")
    monkeypatch.setenv("TSUNAGI_DELIVERY_RECORD_HOURS", "1.5")
    c = Config()
    assert (c.lambda_max_workers, c.esm_pollers, c.delivery_record_hours) == (7, False, 1.5)


def test_a_value_that_does_not_parse_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSUNAGI_BODY_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="TSUNAGI_BODY_TIMEOUT"):
        Config()


def test_validate_refuses_impossible_values() -> None:
    with pytest.raises(ValueError, match="port"):
        Config(port=70000).validate()
    with pytest.raises(ValueError, match="lambda_max_workers"):
        Config(lambda_max_workers=0).validate()


def test_a_mistyped_policies_mode_stops_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().policies == "warn"                           # the default
    monkeypatch.setenv("TSUNAGI_POLICIES", " Enforce ")
    assert Config().policies == "enforce"
    Config().validate()
    monkeypatch.setenv("TSUNAGI_POLICIES", "enforced")
    with pytest.raises(ValueError, match="TSUNAGI_POLICIES"):
        Config().validate()
