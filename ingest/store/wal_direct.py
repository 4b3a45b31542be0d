"""Appending to a WAL segment with ``O_DIRECT`` from one reused, page-aligned buffer.

Why: a buffered ``writev`` copies every payload into page-cache pages that are new to the
process. On this project's machines (virtual machines whose free memory is handed back to
the host) the first touch of such a page costs a host fault, ~8 us per 4 KiB: ~0.3 ms of
the ingest worker's CPU per 154 kB vibration snapshot, more than validating it. Written
directly, the bytes go to the disk from a staging buffer whose pages stay the same for the
life of the log (copied into it at memory speed), and no page-cache page is allocated.

Direct writes must start and end on a block boundary. The appender keeps the segment's last
partial block in front of its buffer and writes it again with the next records, zero-padded to
the block: the file's size is a multiple of the block, and the bytes after the last record are
zeros, where :func:`ingest.store.wal.scan` stops (a zero length is no record). Rewriting the
partial block puts back the same bytes before the new ones, so a torn write cannot damage a
record that was already durable at sector granularity. Durability still comes from the WAL's
``fdatasync`` (file size, unwritten extents, the device's write cache).
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
from collections.abc import Sequence

log = logging.getLogger(__name__)

BLOCK = 4096  # a multiple of every logical block size O_DIRECT asks for (512 or 4096)
BUFFER_BYTES = 8 << 20  # staging buffer: one pwrite per 8 MiB of records


class DirectAppender:
    """Appends byte strings to the end of ``path`` (``size`` bytes of records) with O_DIRECT.

    Opening writes the current partial block back to the file, so a file system without
    O_DIRECT fails here (``OSError``) rather than on the first append; callers fall back to
    buffered writes then.
    """

    def __init__(self, path: str | os.PathLike[str], size: int) -> None:
        self._fd = -1
        self._buf = mmap.mmap(-1, BUFFER_BYTES + BLOCK)
        self._view = memoryview(self._buf)
        self._offset = size - size % BLOCK  # file offset of the buffer's first byte
        self._fill = size % BLOCK  # bytes of records in the buffer
        if self._fill:
            with open(path, "rb") as f:
                f.seek(self._offset)
                head = f.read(self._fill)
            if len(head) != self._fill:
                self.close()
                raise OSError(f"{path}: expected {size} bytes, found {self._offset + len(head)}")
            self._view[: self._fill] = head
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
            self._write_out()
        except BaseException:
            self.close()
            raise

    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        """Append ``parts`` in order; on return they are on the device (not yet synced)."""
        view, cap = self._view, BUFFER_BYTES
        for part in parts:
            data = memoryview(part).cast("B")
            while data:
                n = min(len(data), cap - self._fill)
                view[self._fill : self._fill + n] = data[:n]
                self._fill += n
                data = data[n:]
                if self._fill == cap:
                    self._write_out()
        self._write_out()

    def _write_out(self) -> None:
        """Write the buffer up to the next block boundary (zero-padded), then keep the partial
        last block at the buffer's front for the next write."""
        fill = self._fill
        if not fill:
            return
        end = -(-fill // BLOCK) * BLOCK
        self._view[fill:end] = bytes(end - fill)
        done = 0
        while done < end:  # a regular file rarely writes short; resume on a block boundary
            n = os.pwrite(self._fd, self._view[done:end], self._offset + done)
            if n <= 0 or n % BLOCK:
                raise OSError(f"direct write of {end - done} bytes wrote {n}")
            done += n
        whole = fill - fill % BLOCK
        if whole:
            self._view[: fill - whole] = self._view[whole:fill]
            self._offset += whole
            self._fill = fill - whole

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._view.release()
        self._buf.close()


def open_direct(path: str | os.PathLike[str], size: int) -> DirectAppender | None:
    """A :class:`DirectAppender` for ``path``, or None where the file system refuses O_DIRECT
    (EINVAL or EOPNOTSUPP: tmpfs before Linux 6.6, some network file systems): the caller
    writes through the page cache then. Other errors (EIO, ENOSPC) are raised."""
    if not hasattr(os, "O_DIRECT"):
        return None
    try:
        return DirectAppender(path, size)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
        log.info("WAL %s: no direct writes (%s); writing through the page cache", path, exc)
        return None
