"""A paho client that reads its socket in large chunks: one ``recv`` serves many packets.

paho reads every packet with at least three ``recv`` calls (the fixed header byte, each byte of
the remaining length, then the rest), plus a ``select`` per packet. Each call releases the GIL,
and when another thread of the process is busy in Python (serve's worker), getting it back costs
up to the switch interval. At serve's thousand-odd readings a second that wait, not the CPU,
was what fell behind (BENCHMARKS.md, end to end, session 6).

:class:`ChunkedReadClient` answers paho's small reads from a buffer filled by one ``recv_into``
of up to ``READ_SIZE`` bytes, and keeps reading packets while the buffer holds any, so a burst
of readings costs one ``select`` and one ``recv``. Packets, their order, acknowledgements and
callbacks are paho's own: only where the bytes come from changes. A new socket (reconnect)
starts with an empty buffer.
"""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_SIZE = 256 * 1024  # bytes per socket read at most (about 1,000 scalar readings)


class ChunkedReadClient(mqtt.Client):
    """``paho.mqtt.client.Client`` with the chunked socket reads of the module docstring."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._chunk = bytearray(READ_SIZE)  # allocated once: no fresh pages per read
        self._chunk_view = memoryview(self._chunk)
        self._chunk_pos = 0
        self._chunk_end = 0
        self._chunk_sock: object = None

    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed to paho."""
        if self._chunk_sock is not self._sock:
            return 0
        return self._chunk_end - self._chunk_pos

    def _sock_recv(self, bufsize: int) -> bytes:
        """(Network thread) up to ``bufsize`` bytes, from the buffer or one large read."""
        if self._chunk_sock is not self._sock or self._chunk_pos >= self._chunk_end:
            self._chunk_sock = self._sock
            self._chunk_pos = self._chunk_end = 0
            if self._sock is None:
                raise ConnectionError("self._sock is None")
            if bufsize >= READ_SIZE:  # a large payload's rest: straight into its own bytes
                return super()._sock_recv(bufsize)
            n = self._recv_into()
            if n == 0:
                return b""  # the connection closed: paho sees it as it would
            self._chunk_end = n
        start = self._chunk_pos
        end = min(start + bufsize, self._chunk_end)
        self._chunk_pos = end
        return bytes(self._chunk_view[start:end])

    def _recv_into(self) -> int:
        sock = self._sock
        try:
            return sock.recv_into(self._chunk_view, READ_SIZE)  # type: ignore[union-attr]
        except BlockingIOError:
            raise
        except OSError as err:
            if isinstance(err, ssl.SSLWantReadError):
                raise BlockingIOError() from err
            if isinstance(err, ssl.SSLWantWriteError):
                self._call_socket_register_write()
                raise BlockingIOError() from err
            raise

    def _packet_queue(
        self,
        command: int,
        packet: bytes | bytearray,
        mid: int,
        qos: int,
        info: mqtt.MQTTMessageInfo | None = None,
    ) -> MQTTErrorCode:
        """A packet queued by the network thread itself (the acknowledgement of a reading, from
        inside the read step) is written by the same loop's next ``select``, which asks for
        writability whenever packets wait: paho's wake-up byte on its socket pair (a send,
        and a read back) is only needed by other threads."""
        if self._thread is None or threading.current_thread() is not self._thread:
            return super()._packet_queue(command, packet, mid, qos, info)
        self._out_packet.append(
            {"command": command, "mid": mid, "qos": qos, "pos": 0,
             "to_process": len(packet), "packet": packet, "info": info}
        )  # fmt: skip
        self._call_socket_register_write()
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read step, repeated while the buffer still holds bytes (so they do not wait
        for the socket's next ``select``)."""
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self.buffered() > 0:
            rc = super().loop_read(max_packets)
        return rc
