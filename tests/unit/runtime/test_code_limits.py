"""Zip inspection limits (tsunagi.runtime.code): the entry count is read from the end record first."""

from __future__ import annotations

import io
import zipfile

import pytest

from tsunagi.runtime import code


def _zip(n: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(n):
            zf.writestr(f"f{i}", b"")
    return buf.getvalue()


def test_entry_count_comes_from_the_end_record():
    assert code.entry_count(_zip(3)) == 3
    assert code.entry_count(b"not a zip") is None


def test_too_many_entries_are_refused(monkeypatch):
    monkeypatch.setattr(code, "MAX_ENTRIES", 10)
    assert code.check_zip(_zip(10)) == 0
    with pytest.raises(code.BadZip, match="11 entries"):
        code.check_zip(_zip(11))
