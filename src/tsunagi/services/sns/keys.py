"""The signing key in use: loaded from the store (made on first use, one for every node), with the
signing processes that sign for it (``TSUNAGI_SNS_SIGNING_PROCESSES``), started again after one ended."""

from __future__ import annotations

import asyncio
import logging

from tsunagi.clock import Clock
from tsunagi.services.sns.signing import Signer, generate
from tsunagi.store.sns import SigningKeyRow, SnsRepo

log = logging.getLogger("tsunagi.sns")

SIGNING_RESTART_S = 10.0  # a signing process that ended is started again after this long


class SigningKeys:
    def __init__(self, repo: SnsRepo, clock: Clock, processes: int) -> None:
        self.repo = repo
        self.clock = clock
        self.processes = processes
        self.signer: Signer | None = None
        self._started = float("-inf")   # loop time the signing processes were last started
        self._loading = asyncio.Lock()    # one load (or key generation) at a time
        self._preload: asyncio.Task[None] | None = None

    def preload(self) -> None:
        """Load (or make) the key in the background: the server serves meanwhile, and the first publish
        waits for it only if it is not done by then."""
        if self._preload is None and self.signer is None:
            self._preload = asyncio.get_running_loop().create_task(self._load_quietly(), name="sns-signing-key")

    async def _load_quietly(self) -> None:
        try:
            await self.signer_now()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a publish tries again (and reports it)
            log.warning("SNS: loading the signing key failed: %s", e)
        finally:
            self._preload = None

    async def signer_now(self) -> Signer:
        """The signer (loading or making the key on first use)."""
        signer = self.signer
        if signer is not None:
            if (self.processes and not signer.processes_alive()
                    and asyncio.get_running_loop().time() - self._started > SIGNING_RESTART_S):
                await self._start(signer)   # a signing process ended: start them again
            return signer
        async with self._loading:
            if self.signer is None:     # another request may have loaded it while this one waited
                row = await self.repo.signing_key()
                if row is None:
                    key_id, key_pem, cert_pem = await asyncio.to_thread(generate)
                    await self.repo.add_signing_key(SigningKeyRow(key_id, key_pem, cert_pem), self.clock.now_ms())
                    row = await self.repo.signing_key()
                    assert row is not None
                self.signer = Signer(row.id, row.private_pem, row.cert_pem)
                if self.processes:
                    await self._start(self.signer)
            return self.signer

    async def _start(self, signer: Signer) -> None:
        self._started = asyncio.get_running_loop().time()
        signer.close_processes()
        await signer.start_processes(self.processes)

    def close(self) -> None:
        """Stop the signing processes (the key stays loaded)."""
        if self._preload is not None:
            self._preload.cancel()
            self._preload = None
        if self.signer is not None:
            self.signer.close_processes()

    def forget(self) -> None:
        """Stop signing and forget the key (the store was wiped)."""
        self.close()
        self.signer = None
