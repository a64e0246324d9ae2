"""docs/SERVICES.md and docs/CONFIGURATION.md are generated from the code (scripts/gen_reference.py):
regenerate them and fail when a committed file differs, so the references cannot drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", REPO / "scripts" / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["SERVICES.md", "CONFIGURATION.md"])
def test_the_committed_reference_is_what_the_code_generates(name: str) -> None:
    gen = _generator()
    path = REPO / "docs" / name
    expected = gen.generated()[path]
    assert path.read_text() == expected, (
        f"docs/{name} is out of date with the code: run .venv/bin/python scripts/gen_reference.py and commit it")


def test_every_operation_of_every_served_service_is_listed_once() -> None:
    import botocore.session

    from tsunagi.services.registry import SERVICES

    gen = _generator()
    text = (REPO / "docs" / "SERVICES.md").read_text()
    session = botocore.session.get_session()
    tables = gen.operation_tables()
    assert set(tables) == set(SERVICES)
    for name in SERVICES:
        ops = session.get_service_model(name).operation_names
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for op in ops:
            assert section.count(f"| `{op}` |") == 1, (name, op)
        model_ops, built, _ = tables[name]
        assert set(model_ops) == set(ops) and set(built) <= set(ops)


def test_a_built_operation_is_one_the_dispatch_table_finds() -> None:
    """Spot checks against the services' own methods: what the reference says matches the dispatch."""
    tables = _generator().operation_tables()
    assert "SendMessage" in tables["sqs"][1] and "CreateFunction" in tables["lambda"][1]
    assert "DecodeAuthorizationMessage" not in tables["sts"][1]     # answers 501 (tests/integration/test_foundation.py)
    assert "PostObject" in tables["s3"][2]


def test_known_differences_name_only_operations_that_are_built() -> None:
    """A difference declared for an operation the service does not build (renamed, or refused now)
    would say something false: every entry of tsunagi.services.differences names a built operation."""
    from tsunagi.services.differences import KNOWN_DIFFERENCES

    tables = _generator().operation_tables()
    for service, ops in KNOWN_DIFFERENCES.items():
        assert service in tables, service
        for op, text in ops.items():
            assert op in tables[service][1], (service, op)
            assert text and not text.endswith("."), (service, op)


def test_every_setting_and_serve_flag_is_in_the_configuration_reference() -> None:
    from dataclasses import fields

    from tsunagi.config import Config

    gen = _generator()
    text = (REPO / "docs" / "CONFIGURATION.md").read_text()
    for f in fields(Config):
        assert f"### {f.name.replace('_', '-')}\n" in text, f.name
    for action in gen._serve_parser()._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help"):
                assert f"`{option}`" in text, option
