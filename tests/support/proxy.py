"""A TCP proxy that can make an endpoint unreachable and bring it back, for outage tests.

It also counts the requests open at once by their `X-Amz-Target` action (the local stack
answers each request on its own connection, so a connection is a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections import Counter

_TARGET = re.compile(rb"^x-amz-target:\s*([\w.]+)", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OutageProxy:
    """Forwards 127.0.0.1:port to a target; `down()` refuses and cuts connections, `up()` heals.

    It runs its own event loop in a thread so it keeps serving while the test's loop is busy.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.open: Counter[str] = Counter()  # action -> requests open now
        self.most_open: Counter[str] = Counter()  # action -> most open at once
        self._accepting = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OutageProxy:
        self._thread.start()
        self.up()
        return self

    def up(self) -> None:
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)

    def down(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)

    def stop(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        self._accepting = True
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _close(self) -> None:
        self._accepting = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if not self._accepting:  # went down while this connection was being opened
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._writers.update({writer, up_writer})

        actions: list[str] = []

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    if src is reader and not actions and (found := _TARGET.search(data)):
                        actions.append(found.group(1).decode())
                        self._opened(actions[0])
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort() if dst.is_closing() else dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update({writer, up_writer})
        for action in actions:
            self.open[action] -= 1

    def _opened(self, action: str) -> None:
        self.open[action] += 1
        self.most_open[action] = max(self.most_open[action], self.open[action])
