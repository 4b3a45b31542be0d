"""The write-ahead log: records survive, a torn tail is found and cut, segments rotate."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ingest.store.wal import FILE_HEADER, WriteAheadLog, encode_record, list_segments


def _records(n: int) -> list[tuple[str, bytes, int]]:
    return [
        (f"plantwatch/v1/readings/s/a/P-{i}/t/thermal", bytes([i]) * (i + 3), i) for i in range(n)
    ]


def test_appended_and_synced_records_replay_in_order(tmp_path) -> None:
    with WriteAheadLog(tmp_path) as wal:
        for rec in _records(5):
            wal.append(*rec)
        wal.sync()
    wal = WriteAheadLog(tmp_path)
    assert [(r.topic, r.payload, r.arrival_ns) for r in wal.replay()] == _records(5)
    wal.close()


def test_every_torn_tail_of_the_last_record_is_cut_on_open(tmp_path) -> None:
    good = _records(3)
    with WriteAheadLog(tmp_path / "ref") as wal:
        for rec in good:
            wal.append(*rec)
    ((_, path),) = list_segments(tmp_path / "ref")
    full = path.read_bytes()
    last = encode_record(*good[-1])
    end_of_two = len(full) - len(last)
    for cut in range(end_of_two, len(full)):  # every byte offset inside the last record
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / path.name).write_bytes(full[:cut])
        wal = WriteAheadLog(d)
        got = [(r.topic, r.payload, r.arrival_ns) for r in wal.replay()]
        assert got == good[:2], cut
        assert wal.truncated_bytes == cut - end_of_two
        assert (d / path.name).stat().st_size == end_of_two
        wal.append(*good[2])  # appending after recovery continues cleanly
        wal.sync()
        wal.close()
        assert [r.payload for r in WriteAheadLog(d).replay()] == [g[1] for g in good]


def test_a_corrupted_byte_in_the_last_record_is_detected_by_its_crc(tmp_path) -> None:
    with WriteAheadLog(tmp_path) as wal:
        for rec in _records(3):
            wal.append(*rec)
    ((_, path),) = list_segments(tmp_path)
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert [r.arrival_ns for r in WriteAheadLog(tmp_path).replay()] == [0, 1]


def test_a_segment_cut_inside_its_file_header_starts_again(tmp_path) -> None:
    (tmp_path / f"{0:016d}.wal").write_bytes(FILE_HEADER[:3])
    wal = WriteAheadLog(tmp_path)
    wal.append("t", b"x", 1)
    wal.sync()
    assert [r.payload for r in wal.replay()] == [b"x"]


def test_segments_rotate_at_their_size_and_flushed_ones_are_deleted(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=200)
    for rec in _records(20):
        wal.append(*rec)
    segs = wal.segments()
    assert len(segs) > 3
    assert all(s.sealed for s in segs[:-1]) and not segs[-1].sealed
    assert [r.arrival_ns for r in wal.replay()] == list(range(20))
    wal.mark_flushed(segs[1].id)
    assert [s.id for s in wal.segments()] == [s.id for s in segs[2:]]
    with pytest.raises(ValueError, match="not sealed"):
        wal.mark_flushed(segs[-1].id)
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert reopened.checkpoint == segs[1].id
    assert min(r.arrival_ns for r in reopened.replay()) > 0


_KILLED_WRITER = """
import os, sys
from ingest.store.wal import WriteAheadLog
wal = WriteAheadLog(sys.argv[1], direct=sys.argv[2] == "direct")
for i in range(200):
    wal.append("plantwatch/v1/readings/s/a/P/t/thermal", os.urandom(50), i)
    if i % 10 == 9:
        wal.sync()
        print(i, flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("mode", ["buffered", "direct"])
def test_synced_records_survive_kill_9_of_the_writer(tmp_path, mode) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(tmp_path), mode],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    assert out.returncode == -9
    synced = int(out.stdout.split()[-1]) + 1
    got = [r.arrival_ns for r in WriteAheadLog(tmp_path).replay()]
    assert got[:synced] == list(range(synced))
    assert got == list(range(len(got)))  # nothing torn or reordered survives


def test_append_many_writes_the_same_bytes_as_append_and_rotates(tmp_path) -> None:
    recs = [*_records(40), ("plantwatch/v1/readings/s/a/P-x/v/vibration", os.urandom(70_000), 7)]
    recs += _records(5)  # small and large (writev without a copy) payloads, mixed
    one, many = WriteAheadLog(tmp_path / "one"), WriteAheadLog(tmp_path / "many")
    for rec in recs:
        one.append(*rec)
    many.append_many([(*rec, None) for rec in recs])
    one.close(), many.close()
    ((_, a),), ((_, b),) = list_segments(tmp_path / "one"), list_segments(tmp_path / "many")
    assert a.read_bytes() == b.read_bytes()
    # a small segment size: append_many seals segments mid-batch, as append does
    small = WriteAheadLog(tmp_path / "small", segment_bytes=50_000)
    small.append_many([(*rec, i) for i, rec in enumerate(recs)])
    small.sync()
    segs = small.segments()
    assert len(segs) == 2 and segs[0].sealed and not segs[1].sealed
    assert [(r.topic, r.payload, r.arrival_ns) for r in small.replay()] == recs
    decoded = [d for s in segs[:-1] for d in small.decoded(s.id) or []]
    assert decoded == list(range(len(decoded)))  # kept per record, in order, per segment
    small.close()


def test_sync_covers_appends_made_while_another_thread_syncs(tmp_path) -> None:
    import threading

    wal = WriteAheadLog(tmp_path)
    stop = threading.Event()

    def keep_syncing() -> None:
        while not stop.is_set():
            wal.sync()

    t = threading.Thread(target=keep_syncing)
    t.start()
    try:
        for rec in _records(200):
            wal.append(*rec)
    finally:
        stop.set()
        t.join()
    wal.sync()
    assert wal._synced == wal._appended == 200
    wal.close()
    assert [r.arrival_ns for r in WriteAheadLog(tmp_path).replay()] == list(range(200))


def test_a_sealed_segment_is_synced_before_the_active_one_counts_as_durable(
    tmp_path, monkeypatch
) -> None:
    """Sealing does not fsync on the appending thread: the next sync() fdatasyncs the sealed
    segments (oldest first), then the directory, then the active segment; if a sealed
    segment's sync fails, nothing counts as durable and the retry syncs it again."""
    import ingest.store.wal as walmod

    synced: list[str] = []
    fail = [True]
    real = walmod._datasync

    def recording(fd: int) -> None:
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if fail[0] and name == f"{0:016d}.wal":
            raise OSError(5, "injected EIO")
        synced.append(name)
        real(fd)

    dirs: list[str] = []
    real_dir = walmod.fsync_dir
    monkeypatch.setattr(walmod, "_datasync", recording)
    monkeypatch.setattr(walmod, "fsync_dir", lambda p: (dirs.append(str(p)), real_dir(p)))
    wal = WriteAheadLog(tmp_path, segment_bytes=300)
    dirs.clear()
    for rec in _records(12):
        wal.append(*rec)
    sealed = [s.id for s in wal.segments() if s.sealed]
    assert len(sealed) >= 2 and synced == [] and dirs == []  # nothing synced while appending
    with pytest.raises(OSError, match="injected"):
        wal.sync()
    assert wal._synced == 0 and synced == []
    fail[0] = False
    wal.sync()
    active = wal.segments()[-1].id
    assert synced == [f"{s:016d}.wal" for s in [*sealed, active]]  # sealed first, in order
    assert dirs == [str(tmp_path)] and wal._synced == wal._appended == 12
    synced.clear()
    wal.sync()  # nothing new: no system call
    assert synced == []
    wal.close()
    assert [r.arrival_ns for r in WriteAheadLog(tmp_path).replay()] == list(range(12))


def test_preallocated_segments_keep_their_size_at_the_last_record(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=4 << 20, preallocate=True)
    wal.append_many([(*rec, None) for rec in _records(30)])
    wal.sync()
    wal.rotate()
    wal.append(*_records(1)[0])
    wal.sync()
    first, second = (p for _, p in list_segments(tmp_path))
    assert first.stat().st_size == len(FILE_HEADER) + sum(
        len(encode_record(*r)) for r in _records(30)
    )
    # reserved up front, size unchanged (ext4, xfs, btrfs and tmpfs all honour KEEP_SIZE)
    assert second.stat().st_blocks * 512 >= 4 << 20
    wal.close()
    got = WriteAheadLog(tmp_path, preallocate=True)
    assert got.truncated_bytes == 0
    assert [r.arrival_ns for r in got.replay()] == [*range(30), 0]
    got.close()


@pytest.mark.parametrize("reopen_direct", [True, False])
def test_direct_writes_hold_the_same_records_and_reopen_in_either_mode(
    tmp_path, reopen_direct
) -> None:
    recs = [*_records(40), ("plantwatch/v1/readings/s/a/P-x/v/vibration", os.urandom(70_000), 7)]
    recs += _records(5)
    buffered = WriteAheadLog(tmp_path / "buffered")
    direct = WriteAheadLog(tmp_path / "direct", direct=True, preallocate=True)
    assert direct.direct  # ext4 / xfs / tmpfs on Linux >= 6.6: O_DIRECT accepted
    for w in (buffered, direct):
        w.append_many([(*rec, None) for rec in recs[:30]])
        for rec in recs[30:]:
            w.append(*rec)
        w.sync()
    ((_, a),), ((_, b),) = list_segments(tmp_path / "buffered"), list_segments(tmp_path / "direct")
    assert b.stat().st_size % 4096 == 0 and b.stat().st_size > a.stat().st_size
    assert b.read_bytes()[: a.stat().st_size] == a.read_bytes()  # then only zero padding
    assert not b.read_bytes()[a.stat().st_size :].strip(b"\0")
    assert [(r.topic, r.payload, r.arrival_ns) for r in direct.replay()] == recs
    direct.close(), buffered.close()
    again = WriteAheadLog(tmp_path / "direct", direct=reopen_direct)
    assert again.truncated_bytes == 0  # the padding is cut silently, not a torn tail
    again.append_many([("t", b"after", 99, None)])
    again.sync()
    again.close()
    got = [(r.topic, r.payload, r.arrival_ns) for r in WriteAheadLog(tmp_path / "direct").replay()]
    assert got == [*recs, ("t", b"after", 99)]


def test_direct_writes_rotate_segments_readable_by_the_checkpointer(tmp_path) -> None:
    from ingest.store.wal import read_segment

    recs = [(f"t/{i}", os.urandom(9_000 + i), i) for i in range(40)]
    wal = WriteAheadLog(tmp_path, segment_bytes=50_000, direct=True)
    wal.append_many([(*rec, i) for i, rec in enumerate(recs)])
    wal.sync()
    segs = wal.segments()
    assert len(segs) >= 5 and all(s.sealed for s in segs[:-1])
    sealed = [r for s in segs[:-1] for r in read_segment(s.path, s.id)]
    assert [(r.topic, r.payload, r.arrival_ns) for r in sealed] == recs[: len(sealed)]
    assert [d for s in segs[:-1] for d in wal.decoded(s.id) or []] == list(range(len(sealed)))
    assert [r.arrival_ns for r in wal.replay()] == list(range(40))
    wal.close()


def test_a_torn_direct_write_is_cut_on_open(tmp_path) -> None:
    recs = [(f"t/{i}", os.urandom(5_000), i) for i in range(6)]
    with WriteAheadLog(tmp_path, direct=True) as wal:
        wal.append_many([(*rec, None) for rec in recs])
        wal.sync()
    ((_, path),) = list_segments(tmp_path)
    data = bytearray(path.read_bytes())
    end = len(data.rstrip(b"\0"))
    data[end - 10] ^= 0xFF  # inside the last record's payload
    path.write_bytes(bytes(data))
    wal = WriteAheadLog(tmp_path, direct=True)
    assert wal.truncated_bytes > 0
    assert [r.arrival_ns for r in wal.replay()] == list(range(5))
    wal.append_many([("t/x", b"x" * 100, 50, None)])
    wal.sync()
    wal.close()
    assert [r.arrival_ns for r in WriteAheadLog(tmp_path).replay()] == [0, 1, 2, 3, 4, 50]


def test_a_file_system_refusing_o_direct_falls_back_to_the_page_cache(
    tmp_path, monkeypatch
) -> None:
    real_open = os.open

    def refusing(path, flags, *a, **kw):  # what tmpfs before Linux 6.6 answers
        if flags & os.O_DIRECT:
            raise OSError(22, "Invalid argument")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", refusing)
    wal = WriteAheadLog(tmp_path, direct=True)
    assert not wal.direct
    wal.append_many([(*rec, None) for rec in _records(5)])
    wal.sync()
    wal.close()
    ((_, path),) = list_segments(tmp_path)
    assert path.stat().st_size == len(FILE_HEADER) + sum(
        len(encode_record(*r)) for r in _records(5)
    )
