"""In-graph camera features (jnp): the image's change against the asset's reference image, with
framing and lighting taken out, and the camera condition indicators read from it.

``image_change`` (``[arch] camera_change = "log_ratio"``) and ``align_to_reference``
(``"difference"``, older models) give the change map the camera encoder reads beside the image;
``camera_ratio_indicators`` / ``camera_indicator_vector`` summarise it for the camera detector.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

N_CAMERA_INDICATORS = 6
CAMERA_CELLS = 8  # the image's change is summarised over an 8 x 8 grid of cells


def camera_indicator_vector(img: jax.Array, change: jax.Array, ready: jax.Array) -> jax.Array:
    """(B, 6): the image's change against the asset's reference image summarised over a grid of
    cells (largest, 90th percentile and mean cell change, and the largest cell's darkening),
    the image's overall contrast, and the baseline flag. ``img`` in [0, 1] (B, S, S, 3)."""
    b, s = img.shape[0], img.shape[1]
    g = CAMERA_CELLS
    cell = -(-s // g)
    pad = g * cell - s
    mag = jnp.pad(jnp.abs(change).mean(-1), ((0, 0), (0, pad), (0, pad)))
    cells = mag.reshape(b, g, cell, g, cell).mean((2, 4)).reshape(b, -1)  # (B, G*G)
    dark = jnp.pad(-change.mean(-1), ((0, 0), (0, pad), (0, pad)))
    dark = dark.reshape(b, g, cell, g, cell).mean((2, 4)).reshape(b, -1)
    contrast = img.std((1, 2, 3))
    x = jnp.stack(
        [
            cells.max(-1),
            jnp.percentile(cells, 90, axis=-1),
            cells.mean(-1),
            dark.max(-1),
            contrast,
            ready.astype(jnp.float32),
        ],
        -1,
    )
    return x * jnp.asarray([10.0, 10.0, 10.0, 10.0, 4.0, 1.0])


N_CAMERA_RATIO_INDICATORS = 7
OUTLIER_LOG_RATIO = 0.5  # a pixel at 0.6x or 1.65x its reference brightness: no lighting does it


def camera_ratio_indicators(img: jax.Array, change: jax.Array, ready: jax.Array) -> jax.Array:
    """(B, 7) from :func:`image_change`'s log ratio over an 8 x 8 grid of cells: the largest,
    90th-percentile and mean cell change (each cell's mean log ratio, the strongest channel:
    a stain, rust or a heat tint), the largest cell's darkening, the largest share of a cell's
    pixels changed past ``OUTLIER_LOG_RATIO`` (a thin crack or a missing bolt, too small to move a
    cell's mean), the image's contrast, and the baseline flag."""
    b, s = img.shape[0], img.shape[1]
    g = CAMERA_CELLS
    cell = -(-s // g)
    pad = g * cell - s

    def cells(x):  # (B, S, S, ...) -> (B, G*G, ...) cell means
        x = jnp.pad(x, ((0, 0), (0, pad), (0, pad)) + ((0, 0),) * (x.ndim - 3))
        return x.reshape(b, g, cell, g, cell, *x.shape[3:]).mean((2, 4)).reshape(b, g * g, -1)

    mag = jnp.abs(cells(change)).max(-1)  # (B, G*G)
    grey = change.mean(-1)
    dark = (-cells(grey[..., None]))[..., 0]
    outlier = jax.nn.sigmoid((jnp.abs(grey) - OUTLIER_LOG_RATIO) / 0.05)
    share = cells(outlier[..., None])[..., 0]
    x = jnp.stack(
        [
            mag.max(-1),
            jnp.percentile(mag, 90, axis=-1),
            mag.mean(-1),
            dark.max(-1),
            share.max(-1),
            img.std((1, 2, 3)),
            ready.astype(jnp.float32),
        ],
        -1,
    )
    return x * jnp.asarray([10.0, 10.0, 10.0, 10.0, 10.0, 4.0, 1.0])


def image_change(img: jax.Array, ref: jax.Array) -> jax.Array:
    """What changed on the machine between the reference image and ``img`` (both (B, S, S, 3)
    in [0, 1]), with what changes between any two inspections taken out: the framing (whole-
    pixel shift by phase correlation; the rows and columns wrapped by it are set to 0) and the
    lighting (exposure gain, colour cast and a brightness gradient across the scene: a smooth
    quadratic surface in log intensity, fitted per channel by least squares and divided out).
    Returns the remaining log ratio (B, S, S, 3): negative where the scene darkened (a crack, a
    stain, a missing bolt), positive where it brightened."""
    moved, (sy, sx) = _aligned(img, ref)
    s = img.shape[1]
    idx = jnp.arange(s)
    rows = (idx[None, :] >= sy[:, None]) & (idx[None, :] < s + sy[:, None])  # (B, S)
    cols = (idx[None, :] >= sx[:, None]) & (idx[None, :] < s + sx[:, None])
    valid = (rows[:, :, None] & cols[:, None, :]).astype(jnp.float32)  # (B, S, S)
    lr = jnp.log(moved + IMAGE_EPS) - jnp.log(ref + IMAGE_EPS)  # (B, S, S, 3)
    gy, gx = jnp.meshgrid(jnp.linspace(-1.0, 1.0, s), jnp.linspace(-1.0, 1.0, s), indexing="ij")
    terms = [jnp.ones((s, s)), gy, gx, gy * gy, gy * gx, gx * gx]
    design = jnp.stack(terms, -1).reshape(s * s, len(terms))  # (S*S, 6)
    w = valid.reshape(-1, s * s)  # (B, S*S)
    y = lr.reshape(-1, s * s, 3)  # (B, S*S, 3)
    gram = jnp.einsum("pi,bp,pj->bij", design, w, design) + 1e-6 * jnp.eye(len(terms))
    rhs = jnp.einsum("pi,bp,bpc->bic", design, w, y)  # (B, 6, 3 channels)
    coef = jnp.linalg.solve(gram, rhs)  # (B, 6 terms, 3 channels)
    fit = jnp.einsum("pi,bic->bpc", design, coef)
    return ((y - fit) * w[..., None]).reshape(lr.shape)


IMAGE_EPS = 0.05  # floor under pixel intensities in the log ratio (sensor noise in the dark)


def _aligned(img: jax.Array, ref: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """``img`` rolled by whole pixels onto ``ref`` (phase correlation of the grey images) and
    the signed shift (rows, columns) applied."""
    grey_i, grey_r = img.mean(-1), ref.mean(-1)
    fi = jnp.fft.fft2(grey_i - grey_i.mean((1, 2), keepdims=True))
    fr = jnp.fft.fft2(grey_r - grey_r.mean((1, 2), keepdims=True))
    cross = fr * jnp.conj(fi)
    corr = jnp.real(jnp.fft.ifft2(cross / jnp.maximum(jnp.abs(cross), 1e-9)))  # (B, S, S)
    s = img.shape[1]
    flat = jnp.argmax(corr.reshape(img.shape[0], -1), -1)
    dy, dx = flat // s, flat % s

    def shift(x, a, b):
        return jnp.roll(jnp.roll(x, a, 0), b, 1)

    moved = jax.vmap(shift)(img, dy, dx)
    signed = (jnp.where(dy > s // 2, dy - s, dy), jnp.where(dx > s // 2, dx - s, dx))
    return moved, signed


def align_to_reference(img: jax.Array, ref: jax.Array) -> jax.Array:
    """``img`` (B, S, S, 3) shifted by whole pixels onto ``ref`` (phase correlation of the grey
    images: the camera's framing moves a little between inspections), with each channel's mean
    brightness matched to the reference's. Both in [0, 1]. (Models with ``arch.camera_change =
    "difference"``; newer ones read :func:`image_change`.)"""
    moved, _ = _aligned(img, ref)
    return moved - moved.mean((1, 2), keepdims=True) + ref.mean((1, 2), keepdims=True)
