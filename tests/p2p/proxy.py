"""A TCP relay on 127.0.0.1 that can spoil the first connections it carries.

Used to make a real SecIO handshake fail the way a mismatched ECDH secret does: both
sides complete the exchange, then the first encrypted message fails its MAC. Flipping
one bit late in the responder's handshake bytes does exactly that.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import trio


@dataclass
class FlakyRelay:
    target_port: int
    spoil_first: int = 1  # how many connections to spoil
    corrupt_offset: int | None = 300  # server->client byte to flip; None = hang up at once
    connections: int = 0
    chunk_log: list[list[int]] = field(default_factory=list)  # server->client chunk sizes per conn

    async def serve(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        spoil = self.connections <= self.spoil_first
        sizes: list[int] = []
        self.chunk_log.append(sizes)
        if spoil and self.corrupt_offset is None:
            await client.aclose()
            return
        try:
            server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        except OSError:
            await client.aclose()
            return
        async with client, server:
            async with trio.open_nursery() as nursery:

                async def pump(src: trio.SocketStream, dst: trio.SocketStream, corrupt: int | None) -> None:
                    seen = 0
                    try:
                        while data := await src.receive_some(65536):
                            if corrupt is not None and seen <= corrupt < seen + len(data):
                                i = corrupt - seen
                                data = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
                            if dst is client:
                                sizes.append(len(data))
                            seen += len(data)
                            await dst.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass
                    nursery.cancel_scope.cancel()

                nursery.start_soon(pump, client, server, None)
                nursery.start_soon(pump, server, client, self.corrupt_offset if spoil else None)
