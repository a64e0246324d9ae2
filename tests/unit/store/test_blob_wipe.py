"""The file blob store's wipe (a reset): blobs are gone at once, new ones work, and a folder a reset set
aside but did not get to remove (the process ended) is removed at the next start."""

from __future__ import annotations

import asyncio
import os

from tsunagi.store.blobs import FileBlobStore


async def _put(store: FileBlobStore, data: bytes) -> str:
    w = store.writer()
    await w.write(data)
    await w.finish()
    return w.blob_id


async def _get(store: FileBlobStore, blob_id: str) -> bytes:
    return b"".join([c async for c in store.read(blob_id)])


def test_wipe_removes_every_blob_and_the_store_goes_on(tmp_path):
    async def body():
        store = FileBlobStore(str(tmp_path))
        old = [await _put(store, f"blob {i}".encode()) for i in range(5)]
        await store.wipe()
        for blob_id in old:
            assert not os.path.exists(store.path(blob_id))
        new = await _put(store, b"after the reset")
        assert await _get(store, new) == b"after the reset"
        await store.wipe()          # and again, with nothing of the first wipe's left in the way
        await asyncio.sleep(0.2)
        return sorted(os.listdir(tmp_path))

    left = asyncio.run(body())
    # the folders set aside are removed in the background; whatever is still there goes at the next start
    assert {"blobs", "tmp"} <= set(left)


def test_start_removes_folders_a_reset_left(tmp_path):
    aside = tmp_path / "blobs.wiped-0123"
    (aside / "ab").mkdir(parents=True)
    (aside / "ab" / "abcd").write_bytes(b"x")
    store = FileBlobStore(str(tmp_path))
    asyncio.run(store.clear_incomplete())
    assert not aside.exists()
