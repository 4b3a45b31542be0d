"""Random sub-streams: one per (seed, asset, purpose[, chunk]), so data is reproducible by seed.

An asset's data depends only on the seed, the asset's index and the purpose, never on how many
other assets the plant has or on how the time axis was cut into chunks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import IntEnum
from typing import TypeVar

import numpy as np

T = TypeVar("T")
MEMO_SIZE = 4096


class Stream(IntEnum):
    FAULTS = 1
    CONTEXT = 2
    THERMAL = 3
    VIBRATION = 4
    CAMERA = 5
    NOTES = 6
    DISORDER = 7
    ASSET = 8  # per-asset constants: thermal constants, camera scene, missing modality
    STUCK = 9


def substream(seed: int, asset_index: int, stream: Stream, *more: int) -> np.random.Generator:
    """The generator for one purpose of one asset (``more``: e.g. a chunk or sensor index)."""
    return np.random.default_rng([int(seed), int(asset_index), int(stream), *map(int, more)])


BLOCK = 64  # messages per block of per-message random numbers (small: cheap per live step)


def per_message_normals(
    seed: int, asset_index: int, stream: Stream, sensor_index: int, k: np.ndarray, width: int
) -> np.ndarray:
    """(n, width) standard normals for messages with indices ``k``, independent of chunking."""
    k = np.asarray(k, dtype=np.int64)
    out = np.empty((len(k), width))
    blocks = k // BLOCK
    for b in np.unique(blocks):
        rng = substream(seed, asset_index, stream, 1000 + sensor_index, int(b))
        block = rng.standard_normal((BLOCK, width))
        sel = blocks == b
        out[sel] = block[k[sel] % BLOCK]
    return out


def memo(method: Callable[..., T]) -> Callable[..., T]:
    """Cache a method's results per instance (``functools.lru_cache`` shares one cache, and one
    size limit, across all instances: with hundreds of assets it thrashes)."""
    name = f"_memo_{method.__name__}"

    @functools.wraps(method)
    def wrapper(self: object, *args: object) -> T:
        cache = self.__dict__.setdefault(name, {})
        if args not in cache:
            if len(cache) >= MEMO_SIZE:  # values are pure functions of args: safe to forget
                cache.clear()
            cache[args] = method(self, *args)
        return cache[args]

    return wrapper
