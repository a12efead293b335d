"""A TCP proxy on loopback whose traffic a test can stall, as a network partition would.

Put in front of one process's API traffic (a kubeconfig copy whose server is the
proxy's address; TLS passes through untouched), ``stall()`` stops every byte in both
directions on open connections and leaves new ones connected but silent, the way a
half-dead API server or a partitioned node looks to a client: no error, no answer.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import yaml


class StallingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> StallingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await self._flowing.wait()  # a stalled proxy accepts but never connects onward
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                self._pump(reader, up_writer),
                self._pump(up_reader, writer),
                return_exceptions=True,
            )
        finally:
            for w in (writer, up_writer):
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await self._flowing.wait()
            data = await reader.read(65536)
            if not data:
                break
            await self._flowing.wait()  # data read just before a stall is held, not sent
            writer.write(data)
            await writer.drain()

    def stall(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def kubeconfig(self, original: Path, copy: Path) -> Path:
        """A copy of ``original`` that reaches the API server through this proxy."""
        doc = yaml.safe_load(original.read_text())
        for cluster in doc["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        copy.write_text(yaml.safe_dump(doc))
        return copy
