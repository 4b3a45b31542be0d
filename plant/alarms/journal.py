"""The alarm journal in SQLite (WAL mode), written only by the alarm engine.

Two tables: ``alarms`` holds each alarm's current record (what a restart rebuilds the engine
from) and ``journal`` every state change and action, with time, who, comment, model version and
p-value. A partial unique index keeps one open alarm per (kind, asset, source) in the database too.

Writes are queued and committed by :meth:`Journal.flush`: the engine flushes after each public
call in live mode, and every ``batch`` changes in replay mode. ``path=None`` keeps the journal in
memory (replay with the journal off).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from plant.alarms.model import Alarm, AlarmKind, JournalEntry, Priority

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    asset TEXT NOT NULL,
    source TEXT NOT NULL,
    closed INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_alarm ON alarms (kind, asset, source) WHERE closed = 0;
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    action TEXT NOT NULL,
    state_from TEXT NOT NULL,
    state_to TEXT NOT NULL,
    who TEXT NOT NULL,
    comment TEXT NOT NULL,
    model_version TEXT NOT NULL,
    p_value REAL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS journal_alarm ON journal (alarm_id, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def alarm_to_row(alarm: Alarm) -> tuple[Any, ...]:
    doc = dataclasses.asdict(alarm)
    doc["kind"] = alarm.kind.value
    doc["priority"] = int(alarm.priority)
    text = json.dumps(doc, separators=(",", ":"))
    return (alarm.id, alarm.kind.value, alarm.asset, alarm.source, int(alarm.closed), text)


def alarm_from_doc(text: str) -> Alarm:
    doc = json.loads(text)
    doc["kind"] = AlarmKind(doc["kind"])
    doc["priority"] = Priority(doc["priority"])
    return Alarm(**doc)


class Journal:
    """SQLite journal; not thread-safe on its own (the engine calls it under its lock)."""

    def __init__(self, path: str | Path | None, batch: int = 1) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if self.path is None else str(self.path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.batch = batch
        self._alarms: dict[int, Alarm] = {}  # pending upserts by id (last write wins)
        self._entries: list[JournalEntry] = []

    def load_alarms(self) -> list[Alarm]:
        rows = self._db.execute("SELECT doc FROM alarms ORDER BY id").fetchall()
        return [alarm_from_doc(r[0]) for r in rows]

    def save(self, alarm: Alarm, entry: JournalEntry | None = None) -> None:
        self._alarms[alarm.id] = alarm
        if entry is not None:
            self._entries.append(entry)
        if len(self._entries) + len(self._alarms) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._alarms and not self._entries:
            return
        rows = [alarm_to_row(a) for a in self._alarms.values()]
        entries = [_entry_row(e) for e in self._entries]
        db = self._db
        db.execute("BEGIN")
        try:
            # Closed rows first, so a closed and a new open alarm on one key never collide.
            rows.sort(key=lambda r: -r[4])
            db.executemany("INSERT OR REPLACE INTO alarms VALUES (?,?,?,?,?,?)", rows)
            db.executemany(
                "INSERT INTO journal (alarm_id, ts_ns, action, state_from, state_to, who, "
                "comment, model_version, p_value, detail) VALUES (?,?,?,?,?,?,?,?,?,?)",
                entries,
            )
            db.execute("COMMIT")
        except sqlite3.Error:
            db.execute("ROLLBACK")
            log.exception("journal write of %d alarms/%d entries failed", len(rows), len(entries))
            raise
        self._alarms.clear()
        self._entries.clear()

    def entries(self, alarm_id: int) -> list[JournalEntry]:
        self.flush()
        rows = self._db.execute(
            "SELECT alarm_id, ts_ns, action, state_from, state_to, who, comment, model_version, "
            "p_value, detail FROM journal WHERE alarm_id = ? ORDER BY seq",
            (alarm_id,),
        ).fetchall()
        return [
            JournalEntry(*r[:9], detail=json.loads(r[9]) if r[9] else None)  # type: ignore[misc]
            for r in rows
        ]

    def count_entries(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self.flush()
        self._db.close()


def _entry_row(e: JournalEntry) -> tuple[Any, ...]:
    detail = None if e.detail is None else json.dumps(e.detail, separators=(",", ":"))
    return (
        e.alarm_id,
        e.ts_ns,
        e.action,
        e.state_from,
        e.state_to,
        e.who,
        e.comment,
        e.model_version,
        e.p_value,
        detail,
    )
