"""Function code on disk: zips checked and unpacked once per node into a cache folder.

``check_zip`` validates a deployment package before it is stored (readable, no entry escaping
the folder, no absolute paths, no symlinks, unzipped size within Lambda's limit).
``unpack`` extracts into ``<cache>/<sha>`` atomically (a temporary folder renamed into place),
so concurrent cold starts on one node never see half a tree.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile

UNZIPPED_LIMIT = 262_144_000
MAX_ENTRIES = 100_000         # files and folders in one package: counted before the zip is parsed


class BadZip(ValueError):
    """The package is not a zip we are willing to unpack."""


def _check_name(name: str) -> None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise BadZip(f"absolute path in zip: {name!r}")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise BadZip(f"zip entry escapes the folder: {name!r}")


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def entry_count(data: bytes) -> int | None:
    """The number of entries a zip's end-of-central-directory record declares (zip64 too), read without
    parsing the directory itself; None when there is no such record."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return None
    count = int.from_bytes(data[at + 10:at + 12], "little")
    if count != 0xFFFF:
        return count
    loc = at - 20
    if loc < 0 or data[loc:loc + 4] != b"PK\x06\x07":
        return count
    end64 = int.from_bytes(data[loc + 8:loc + 16], "little")
    if end64 + 40 > len(data) or data[end64:end64 + 4] != b"PK\x06\x06":
        return count
    return int.from_bytes(data[end64 + 32:end64 + 40], "little")


def check_zip(data: bytes) -> int:
    """Validate a zip; return its unzipped size. Raises BadZip. CPU-heavy for large packages: callers
    on an event loop run it in a thread."""
    count = entry_count(data)
    if count is not None and count > MAX_ENTRIES:
        raise BadZip(f"the zip has {count} entries; tsunagi unpacks at most {MAX_ENTRIES}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise BadZip(str(e)) from None
    total = 0
    files: set[str] = set()
    folders: set[str] = set()
    with zf:
        if len(zf.infolist()) > MAX_ENTRIES:
            raise BadZip(f"the zip has {len(zf.infolist())} entries; tsunagi unpacks at most {MAX_ENTRIES}")
        for info in zf.infolist():
            _check_name(info.filename)
            if _is_symlink(info):
                raise BadZip(f"symbolic link in zip: {info.filename!r}")
            total += info.file_size
            path = info.filename.rstrip("/")
            parts = path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            (folders if info.is_dir() else files).add(path)
        clash = files & folders
        if clash:
            raise BadZip(f"zip has a file and a folder both named {sorted(clash)[0]!r}")
        if total > UNZIPPED_LIMIT:
            raise BadZip(f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes")
        try:
            bad = zf.testzip()  # reads every member: CRCs and compressed data must be sound
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as e:
            raise BadZip(str(e)) from None
        if bad is not None:
            raise BadZip(f"bad CRC for {bad!r}")
    return total


def sha256_b64(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _extract(data: bytes, dest: str) -> None:
    root = os.path.realpath(dest)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            _check_name(info.filename)
            if _is_symlink(info):
                raise BadZip(f"symbolic link in zip: {info.filename!r}")
            target = os.path.realpath(os.path.join(root, info.filename))
            if target != root and not target.startswith(root + os.sep):
                raise BadZip(f"zip entry escapes the folder: {info.filename!r}")
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            mode = (info.external_attr >> 16) & 0o777
            os.chmod(target, (mode | 0o644) if mode else 0o755)


def unpack(data: bytes, folder: str) -> str:
    """Extract ``data`` into ``folder`` (once: an existing folder is reused). Returns the folder."""
    if os.path.isdir(folder):
        return folder
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        _extract(data, tmp)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not os.path.isdir(folder):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def unpack_layers(layers: list[tuple[str, bytes]], folder: str) -> str:
    """Extract several layers, in order, into one ``/opt``-like folder (later layers win)."""
    if os.path.isdir(folder):
        return folder
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        for _sha, data in layers:
            _extract(data, tmp)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not os.path.isdir(folder):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def safe_dirname(sha_b64: str) -> str:
    """A file-system-safe folder name for a base64 SHA-256."""
    return sha_b64.replace("/", "_").replace("+", "-").rstrip("=")
