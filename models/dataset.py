"""Training data: windows from the store's window assembly, labelled, featurised once, cached.

The window assembly (``ingest.assembly.windows_at``) is the one the live scorer uses, so training
sees what scoring sees. Each window is featurised with the same jitted ``featurize`` the scorer
runs, and the arrays are kept (spectra as float16) so training epochs never touch raw waveforms.
The cache is an ``.npz`` of plain arrays (loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from ingest.window import Window
from models.baseline import AssetBaselines
from models.batch import make_batch
from models.config import ModelConfig
from models.model import Features, featurize
from plant.labels import FAULT_INDEX, FaultEpisode, active_fault
from plant.readings import MODEL_MODALITIES, MachineState, Modality
from plant.sim.faults import FAULT_TABLE

log = logging.getLogger(__name__)
CHUNK = 256


class Labels(NamedTuple):
    fault: np.ndarray  # (N,) bool: severity > 0 at the window's time
    fault_class: np.ndarray  # (N,) int32 index into FAULT_CLASSES (0 = normal)
    visible: np.ndarray  # (N, 4) bool: modalities the active fault is visible in
    primary: np.ndarray  # (N,) int32 primary modality index, -1 when normal
    severity: np.ndarray  # (N,) float32
    asset: np.ndarray  # (N,) str asset id
    ts_ns: np.ndarray  # (N,) int64


class Dataset(NamedTuple):
    features: Features  # numpy arrays, N rows
    labels: Labels

    def __len__(self) -> int:
        return len(self.labels.fault)

    def take(self, idx: np.ndarray) -> Dataset:
        return Dataset(
            Features(*(a[idx] for a in self.features)), Labels(*(a[idx] for a in self.labels))
        )


def episodes_by_asset(episodes: list[FaultEpisode]) -> dict[str, list[FaultEpisode]]:
    out: dict[str, list[FaultEpisode]] = {}
    for e in episodes:
        out.setdefault(e.asset, []).append(e)
    return out


def label_window(
    episodes: list[FaultEpisode], asset: str, ts_ns: int, note_ns: int | None = None
) -> tuple:
    """(fault, class index, visible (4,), primary index, severity) for one window.

    ``note_ns``: when the newest note in the window was written (-1: none). The notes show a
    fault only if that note was written once the fault was noticeable; ``None`` (unknown) keeps
    the notice rule alone."""
    ep = active_fault(episodes, asset, ts_ns)
    if ep is None:
        return False, 0, np.zeros(4, bool), -1, 0.0
    severity = float(ep.severity(ts_ns))
    visible = np.array([m in ep.visible_in for m in MODEL_MODALITIES], bool)
    spec = FAULT_TABLE.get(ep.fault)
    if spec is not None:
        # a secondary signature shows only past its own onset in the fault table (a bearing
        # defect heats its bearing only late): before that the modality carries nothing of it
        for i, m in enumerate(MODEL_MODALITIES):
            if m is not Modality.NOTES and visible[i]:
                visible[i] = bool(spec.visibility(m, severity) > 0)
    # an operator writes about a fault only once it is noticeable (noise, heat, a leak): before
    # that the notes carry nothing about it, whatever the fault table says they show later
    notice = spec.notice_severity if spec is not None else None
    if notice is None or severity < notice:
        visible[MODEL_MODALITIES.index(Modality.NOTES)] = False
    elif note_ns is not None and (note_ns < 0 or float(ep.severity(note_ns)) < notice):
        # the window's newest note predates the fault being noticeable (routine text written
        # while the machine was fine): labelling it "fault" taught the notes head that "c/o oil
        # filter" means a fault, and one such note held a healthy gearbox in alarm for 9 h
        visible[MODEL_MODALITIES.index(Modality.NOTES)] = False
    primary = MODEL_MODALITIES.index(ep.primary) if ep.primary in MODEL_MODALITIES else -1
    return True, FAULT_INDEX[ep.fault], visible, primary, severity


@partial(jax.jit, static_argnames=("cfg",))
def _featurize(batch, cfg: ModelConfig) -> Features:
    return featurize(batch, cfg)


def _chunks(windows: Iterable[Window], n: int) -> Iterator[list[Window]]:
    chunk: list[Window] = []
    for w in windows:
        chunk.append(w)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_dataset(
    windows: Iterable[Window],
    episodes: list[FaultEpisode],
    cfg: ModelConfig,
    progress: Callable[[int], None] | None = None,
    baselines: AssetBaselines | None = None,
) -> Dataset:
    """Featurise and label ``windows`` (any iterable; consumed in chunks of 256).

    With ``baselines``, windows must come in time order (``iter_windows`` yields them so): each
    is added to its asset's baseline while that is open, and rows whose asset's baseline is
    frozen carry it (models/baseline.py), exactly as the live scorer does."""
    feats: list[list[np.ndarray]] = []
    assets: list[str] = []
    times: list[int] = []
    note_times: list[int] = []
    for chunk in _chunks(windows, CHUNK):
        b = make_batch(chunk, cfg.inputs, size=CHUNK)  # one compiled shape
        f = _featurize(b, cfg)
        k = len(chunk)
        row = [np.asarray(a)[:k] for a in f]
        if baselines is not None:
            names = [w.asset for w in chunk]
            # a repair ends a fault: the asset's baseline starts again after it
            maint = MachineState.MAINTENANCE
            reset = np.array([w.context is not None and w.context.state is maint for w in chunk])
            ready = baselines.observe(
                names,
                [w.ts_ns for w in chunk],
                row[0],
                *(a[:k] for a in b[4:8]),
                b.present[:k],
                reset=reset,
            )
            base = baselines.rows(names)
            mask = ready[:, :, None]
            base = base._replace(
                base_vib=np.where(ready[:, 0, None, None, None], base.base_vib, 0),
                base_th_temp=np.where(mask[:, 1], base.base_th_temp, 0),
                base_th_x=np.where(mask[:, 1], base.base_th_x, 0),
                base_image=np.where(ready[:, 2, None, None, None], base.base_image, 0),
                base_ready=ready,
            )
            row[-5:] = list(base)
        row[0] = row[0].astype(np.float16)  # spectra: log amplitudes, float16 is plenty
        row[-5] = row[-5].astype(np.float16)  # baseline spectra likewise
        feats.append(row)
        assets += [w.asset for w in chunk]
        times += [w.ts_ns for w in chunk]
        note_times += [max((n.header.ts_ns for n in w.notes), default=-1) for w in chunk]
        if progress is not None:
            progress(k)
    if not feats:
        raise ValueError("no windows to build a dataset from: is the store empty?")
    features = Features(*(np.concatenate(parts) for parts in zip(*feats, strict=True)))
    labels = label_rows(
        episodes, np.array(assets, str), np.array(times, np.int64), np.array(note_times, np.int64)
    )
    return Dataset(features, labels)


def concat_datasets(parts: list[Dataset]) -> Dataset:
    """The rows of ``parts`` one after the other (features and labels alike)."""
    feats = Features(*(np.concatenate(x) for x in zip(*(d.features for d in parts), strict=True)))
    labels = Labels(*(np.concatenate(x) for x in zip(*(d.labels for d in parts), strict=True)))
    return Dataset(feats, labels)


def label_rows(
    episodes: list[FaultEpisode],
    asset: np.ndarray,
    ts_ns: np.ndarray,
    note_ns: np.ndarray | None = None,
) -> Labels:
    """Labels of the windows of ``asset`` at ``ts_ns`` (one row each) by :func:`label_window`;
    ``note_ns`` (N,): each window's newest note time (-1: none), see :func:`newest_note_times`."""
    by_asset = episodes_by_asset(episodes)
    notes = [None] * len(ts_ns) if note_ns is None else [int(n) for n in note_ns]
    rows = [label_window(by_asset.get(a, []), str(a), int(t), n)
            for a, t, n in zip(asset, ts_ns, notes, strict=True)]  # fmt: skip
    cols = list(zip(*rows, strict=True)) or [[]] * 5
    return Labels(
        fault=np.array(cols[0], bool),
        fault_class=np.array(cols[1], np.int32),
        visible=np.stack(cols[2]) if rows else np.zeros((0, 4), bool),
        primary=np.array(cols[3], np.int32),
        severity=np.array(cols[4], np.float32),
        asset=np.asarray(asset),
        ts_ns=np.asarray(ts_ns, np.int64),
    )


def relabel(
    ds: Dataset, episodes: list[FaultEpisode], note_ns: np.ndarray | None = None
) -> Dataset:
    """``ds`` with its labels recomputed from ``episodes`` by :func:`label_window` (labels are
    cheap and their rules change more often than the features: a cached dataset is relabelled
    on every load rather than rebuilt)."""
    return Dataset(ds.features, label_rows(episodes, ds.labels.asset, ds.labels.ts_ns, note_ns))


def newest_note_times(
    note_asset: np.ndarray,
    note_ts: np.ndarray,
    asset: np.ndarray,
    ts_ns: np.ndarray,
    history_ns: int,
) -> np.ndarray:
    """(N,) when the newest note of each window's asset at or before its time, within
    ``history_ns`` (the window policy's notes look-back), was written; -1 where none."""
    out = np.full(len(ts_ns), -1, np.int64)
    note_asset, note_ts = np.asarray(note_asset).astype(str), np.asarray(note_ts, np.int64)
    asset, ts_ns = np.asarray(asset).astype(str), np.asarray(ts_ns, np.int64)
    for a in np.unique(asset):
        times = np.sort(note_ts[note_asset == a])
        if len(times) == 0:
            continue
        rows = np.flatnonzero(asset == a)
        i = np.searchsorted(times, ts_ns[rows], side="right") - 1
        ok = i >= 0
        newest = np.where(ok, times[np.maximum(i, 0)], -1)
        out[rows] = np.where(ok & (newest >= ts_ns[rows] - history_ns), newest, -1)
    return out


def save_dataset(ds: Dataset, path: Path) -> None:
    arrays = {f"f_{k}": v for k, v in ds.features._asdict().items()}
    arrays.update({f"l_{k}": v for k, v in ds.labels._asdict().items()})
    np.savez(path, **arrays)


def load_dataset(path: Path) -> Dataset:
    with np.load(path, allow_pickle=False) as z:
        feats = Features(*(z[f"f_{k}"] for k in Features._fields))
        labels = Labels(*(z[f"l_{k}"] for k in Labels._fields))
    return Dataset(feats, labels)
