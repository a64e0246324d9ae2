"""Hostile function packages: nothing in a zip may write outside the folder it is unpacked into.

``tsunagi.runtime.code`` checks a package when it is stored (``check_zip``: CreateFunction,
UpdateFunctionCode, PublishLayerVersion) and again while unpacking (``unpack`` /
``unpack_layers``). Both must refuse every escape with ``BadZip`` (the Lambda service turns it
into ``InvalidParameterValueException``), and ``unpack`` must leave nothing behind outside the
target: not the escaping file, not a half-extracted tree.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest

from tsunagi.runtime import code

ESCAPES = [
    "../evil.txt",
    "../../evil.txt",
    "a/../../evil.txt",
    "a/b/../../../evil.txt",
    "/tmp/evil-absolute.txt",
    "\\evil-backslash.txt",
    "..\\evil.txt",
    "a\\..\\..\\evil.txt",
    "C:\\evil.txt",
    "c:/evil.txt",
    "./../evil.txt",
]


def _zip(entries: list[tuple[str, bytes]], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def _tree(root: str) -> set[str]:
    out = set()
    for folder, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(folder, n), root))
    return out


@pytest.fixture
def sandbox(tmp_path):
    """``<tmp>/outer/cache/<target>``: anything that lands in ``outer`` but outside the target escaped."""
    outer = tmp_path / "outer"
    cache = outer / "cache"
    cache.mkdir(parents=True)
    return outer, cache


@pytest.mark.parametrize("name", ESCAPES)
def test_check_zip_refuses_entries_that_escape(name):
    data = _zip([("index.py", b"def handler(e, c): return 1\n"), (name, b"pwned")])
    with pytest.raises(code.BadZip):
        code.check_zip(data)


@pytest.mark.parametrize("name", ESCAPES)
def test_unpack_refuses_entries_that_escape_and_leaves_nothing(name, sandbox, tmp_path):
    outer, cache = sandbox
    before = _tree(str(tmp_path))
    data = _zip([("index.py", b"ok"), (name, b"pwned")])
    with pytest.raises(code.BadZip):
        code.unpack(data, str(cache / "fn"))
    assert _tree(str(tmp_path)) == before, "unpack left files behind"
    assert not os.path.exists("/tmp/evil-absolute.txt")


def test_symlink_entries_are_refused(sandbox, tmp_path):
    outer, cache = sandbox
    # the classic two-step: a link pointing outside, then a file written "through" it
    data = _zip([("link/evil.txt", b"pwned")], symlinks={"link": str(outer)})
    with pytest.raises(code.BadZip):
        code.check_zip(data)
    with pytest.raises(code.BadZip):
        code.unpack(data, str(cache / "fn"))
    assert not (outer / "evil.txt").exists()
    only_link = _zip([("index.py", b"ok")], symlinks={"etc": "/etc"})
    with pytest.raises(code.BadZip):
        code.check_zip(only_link)


def test_layers_cannot_escape_either(sandbox):
    outer, cache = sandbox
    good = _zip([("python/lib.py", b"x = 1\n")])
    bad = _zip([("python/../../../evil.txt", b"pwned")])
    with pytest.raises(code.BadZip):
        code.unpack_layers([("a", good), ("b", bad)], str(cache / "opt"))
    assert not (outer / "evil.txt").exists()
    assert not (cache / "opt").exists(), "a refused layer set must not leave a half-built /opt"


def test_benign_dots_in_names_are_fine(sandbox):
    _, cache = sandbox
    data = _zip([("..hidden", b"1"), ("a/..b/c.py", b"2"), ("dir.with.dots/x..y", b"3"), ("./rel.py", b"4")])
    code.check_zip(data)
    folder = code.unpack(data, str(cache / "fn"))
    assert (cache / "fn" / "..hidden").read_bytes() == b"1"
    assert (cache / "fn" / "a" / "..b" / "c.py").read_bytes() == b"2"
    assert folder == str(cache / "fn")


def test_not_a_zip_and_truncated_zips_are_refused():
    good = _zip([("index.py", b"x" * 1000)])
    for data in (b"", b"not a zip", b"PK\x03\x04" + b"\x00" * 40, good[: len(good) // 2]):
        with pytest.raises(code.BadZip):
            code.check_zip(data)


def test_declared_unzipped_size_over_the_limit_is_refused():
    # a zip bomb in spirit: one entry whose header claims more than Lambda's 250 MB unzipped limit
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("index.py", b"ok")
    data = bytearray(buf.getvalue())
    # patch the central directory's uncompressed size of the only entry (offset 24 in the record)
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24: cd + 28] = (code.UNZIPPED_LIMIT + 1).to_bytes(4, "little")
    with pytest.raises(code.BadZip):
        code.check_zip(bytes(data))


def _crc_broken_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", b"A" * 100)
    data = bytearray(buf.getvalue())
    data[data.find(b"AAAA")] = ord("B")  # stored data no longer matches its CRC-32
    return bytes(data)


def _file_dir_clash_zip() -> bytes:
    return _zip([("a", b"file"), ("a/b", b"x")])


@pytest.mark.parametrize("make", [_crc_broken_zip, _file_dir_clash_zip], ids=["bad-crc", "file-dir-clash"])
def test_packages_that_cannot_unpack_are_refused_when_stored(make):
    with pytest.raises(code.BadZip):
        code.check_zip(make())


@pytest.mark.parametrize("make", [_crc_broken_zip, _file_dir_clash_zip], ids=["bad-crc", "file-dir-clash"])
def test_packages_that_cannot_unpack_leave_nothing_behind(make, sandbox):
    _, cache = sandbox
    with pytest.raises((code.BadZip, zipfile.BadZipFile, OSError)):
        code.unpack(make(), str(cache / "fn"))
    assert not (cache / "fn").exists()
    assert [p for p in cache.iterdir()] == []
