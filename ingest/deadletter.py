"""The dead-letter store: every message that cannot be stored as a reading, with the reason.

Dead letters are made durable the same way readings are, before the message is acknowledged:
they are appended to a write-ahead log of their own (``<store>/_ingest/dead_letters/<worker>``,
the store's :class:`~ingest.store.wal.WriteAheadLog` format) and fsynced with the batch. ``flush``
moves sealed segments into the store's Parquet table ``<store>/dead_letters/date=...`` (one file
per segment and day, named after the segment, so a flush repeated after a crash writes nothing
twice), where :class:`ingest.store.reader.StoreReader` and pyarrow read them.

A WAL record's topic is the message's topic (cut to 4 KiB); its payload is
``reason_len u16 | detail_len u32 | reason | detail | raw payload``.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

from ingest.redact import redact
from ingest.schema import DEAD_LETTER_SCHEMA
from ingest.store.layout import DEAD_LETTERS, partition_keys
from ingest.store.records import DeadLetter, dead_letters_to_table
from ingest.store.sink import PartitionSink
from ingest.store.wal import WriteAheadLog, read_segment

log = logging.getLogger(__name__)

_HEAD = struct.Struct("<HI")
MAX_TOPIC_CHARS = 4096
MAX_DETAIL_CHARS = 2000


def pack(letter: DeadLetter) -> tuple[str, bytes]:
    reason = letter.reason.encode()[:200]
    detail = letter.detail[:MAX_DETAIL_CHARS].encode("utf-8", "replace")
    return letter.topic[:MAX_TOPIC_CHARS], _HEAD.pack(
        len(reason), len(detail)
    ) + reason + detail + (letter.payload)


def unpack(topic: str, body: bytes, arrival_ns: int) -> DeadLetter:
    rlen, dlen = _HEAD.unpack_from(body)
    at = _HEAD.size
    reason = body[at : at + rlen].decode("utf-8", "replace")
    detail = body[at + rlen : at + rlen + dlen].decode("utf-8", "replace")
    return DeadLetter(topic, body[at + rlen + dlen :], arrival_ns, reason, detail)


def scrub_note_payload(topic: str, payload: bytes) -> tuple[bytes, bool]:
    """A bad payload on a notes topic may still hold personal data: redact its text as well."""
    if not topic.endswith("/notes"):
        return payload, False
    text = payload.decode("utf-8", "replace")
    cleaned = redact(text).text
    return (cleaned.encode(), True) if cleaned != text else (payload, False)


class DeadLetterLog:
    """Append dead letters durably; ``flush`` sealed segments into the Parquet store."""

    def __init__(self, store_root: str | Path, worker: str) -> None:
        self.root = Path(store_root)
        self.worker = worker
        self.dir = self.root / "_ingest" / DEAD_LETTERS / worker
        self.wal = WriteAheadLog(self.dir, segment_bytes=16 << 20)

    def append(self, letter: DeadLetter) -> None:
        payload, scrubbed = scrub_note_payload(letter.topic, letter.payload)
        if scrubbed:
            letter = DeadLetter(
                letter.topic,
                payload,
                letter.arrival_ns,
                letter.reason,
                letter.detail + " (payload redacted: personal data)",
            )
        topic, body = pack(letter)
        self.wal.append(topic, body, letter.arrival_ns)

    def sync(self) -> None:
        self.wal.sync()

    def reopen(self) -> None:
        """After a write error: drop the broken file handle, recover the log from disk."""
        try:
            self.wal.close()
        except OSError as exc:
            log.warning("closing the dead-letter log after an error: %s", exc)
        self.wal = WriteAheadLog(self.dir, segment_bytes=self.wal.segment_bytes)

    def pending(self) -> Iterator[DeadLetter]:
        """Dead letters not yet flushed to Parquet (durable in the log)."""
        for rec in self.wal.replay():
            yield unpack(rec.topic, rec.payload, rec.arrival_ns)

    def flush(self) -> int:
        """Move every sealed (and the active) segment into Parquet; return letters moved."""
        self.wal.rotate()
        moved = 0
        for seg in self.wal.segments():
            if not seg.sealed:
                continue
            letters = [unpack(r.topic, r.payload, r.arrival_ns) for r in read_segment(seg.path)]
            if letters:
                table = dead_letters_to_table(letters)
                keys = partition_keys(table.column("arrival_ns").to_numpy(), hourly=False)
                sink = PartitionSink(
                    self.root / DEAD_LETTERS,
                    DEAD_LETTER_SCHEMA,
                    sort_keys=("topic", "arrival_ns"),
                    file_name=f"{self.worker}-{seg.id:016d}.parquet",
                )
                try:
                    sink.append(table, keys)
                    sink.close()
                except BaseException:
                    sink.abort()
                    raise
            self.wal.mark_flushed(seg.id)
            moved += len(letters)
        return moved

    def close(self) -> None:
        self.wal.close()
