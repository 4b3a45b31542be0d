"""The durable store: a Parquet dataset partitioned by modality and date, fed by a WAL.

See docs/STORE.md. Writers: :class:`StoreWriter` (readings), :class:`ScoreWriter` (health
events), :class:`DeadLetterWriter`, :func:`write_labels`. Live ingest: :class:`WriteAheadLog`
checkpointed by :func:`flush_to_store` / :class:`BackgroundFlusher`. Reading: :class:`StoreReader`.
"""

from ingest.store.checkpoint import BackgroundFlusher, FlushStats, flush_to_store
from ingest.store.layout import Partitioning
from ingest.store.reader import StoreReader
from ingest.store.records import DeadLetter
from ingest.store.wal import WalRecord, WriteAheadLog
from ingest.store.writer import (
    DeadLetterWriter,
    ScoreWriter,
    StoreWriter,
    read_labels,
    write_labels,
)

__all__ = [
    "BackgroundFlusher",
    "DeadLetter",
    "DeadLetterWriter",
    "FlushStats",
    "Partitioning",
    "ScoreWriter",
    "StoreReader",
    "StoreWriter",
    "WalRecord",
    "WriteAheadLog",
    "flush_to_store",
    "read_labels",
    "write_labels",
]
