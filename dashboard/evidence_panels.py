"""Evidence panels per modality (shared by the asset and the alarm pages): layout only."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from dash import dcc, html

from dashboard.components import fmt_ts
from dashboard.data import evidence as ev
from dashboard.data.explanation import Explanation
from dashboard.data.model_info import ModelInsight, ThermalOffset
from dashboard.data.store import StoreView
from dashboard.figures.camera import image_figure
from dashboard.figures.theme import empty_figure
from dashboard.figures.thermal import residual_figure, thermal_figure
from dashboard.figures.vibration import iso_zone_figure, spectrum_figure
from plant.config import Asset, PlantConfig
from plant.readings import Modality

log = logging.getLogger(__name__)

GRAPH_CONFIG = {"displaylogo": False}


def _lookback_s(asset: Asset, modality: Modality, floor_s: float = 3600.0) -> float:
    periods = [s.period_s for s in asset.sensors if s.modality is modality]
    return max(floor_s, 3 * max(periods)) if periods else floor_s


def _graph(kind: str, asset: str, fig) -> dcc.Graph:
    return dcc.Graph(
        id={"type": "evidence", "kind": kind, "asset": asset}, figure=fig, config=GRAPH_CONFIG
    )


def _panel(title: str, body: list, modality: str) -> html.Div:
    return html.Div([html.H3(title), *body], className="panel", **{"data-modality": modality})


def vibration_panel(
    store: StoreView, asset: Asset, at_ns: int, fault: str, expl: Explanation | None = None
) -> html.Div:
    v = ev.vibration_evidence(store, asset, at_ns, _lookback_s(asset, Modality.VIBRATION))
    if v is None:
        return _panel("Vibration", [html.P("No vibration snapshot in the look-back.")], "vibration")
    hl = ev.FAULT_MARKERS.get(fault, ())
    fmax = max(4.5 * v.markers_hz["BPFI"], 10 * v.shaft_hz)
    info = (
        f"{fmt_ts(v.ts_ns)}, channel {v.channel}, {v.sample_rate_hz:.0f} Hz, shaft "
        f"{v.shaft_hz:.2f} Hz ({v.shaft_hz * 60:.0f} rpm); envelope band "
        f"{v.env_band_hz[0]:.0f}-{v.env_band_hz[1]:.0f} Hz"
    )
    bands = [(b.hz, b.weight, b.label) for b in expl.bands] if expl else []
    return _panel(
        "Vibration",
        [
            html.P(info, className="note-meta"),
            _model_view_vibration(expl),
            _graph(
                "spectrum",
                asset.id,
                spectrum_figure(
                    v.freq_hz,
                    v.spectrum,
                    {k: v.markers_hz[k] for k in ("1x", "2x")},
                    "Acceleration spectrum",
                    highlight=hl,
                    max_hz=min(v.sample_rate_hz / 2, max(40 * v.shaft_hz, 500.0)),
                ),
            ),
            _graph(
                "envelope",
                asset.id,
                spectrum_figure(
                    v.env_freq_hz,
                    v.envelope,
                    v.markers_hz,
                    "Envelope spectrum (bearing defects)"
                    + ("; ▼ bands the model attributes" if bands else ""),
                    highlight=hl,
                    max_hz=fmax,
                    bands=bands,
                ),
            ),
            _graph(
                "iso",
                asset.id,
                iso_zone_figure(
                    v.velocity_rms_mm_s,
                    v.iso_boundaries_mm_s,
                    v.iso_zone,
                    f"ISO 20816-3 group {asset.config.iso_group}, {asset.config.foundation.value}",
                ),
            ),
        ],
        "vibration",
    )


def _model_view_vibration(expl: Explanation | None) -> html.P:
    if expl is None or not expl.bands:
        return html.P(
            "No vibration attribution from the model for this window.", className="note-meta"
        )
    top = ", ".join(
        f"{b.hz:.1f} Hz {b.label or '(no match)'} ({b.weight:.2f})" for b in expl.bands[:4]
    )
    peak = f"{expl.peak_hz:.1f} Hz {expl.peak_label}".strip() if expl.peak_hz else "-"
    return html.P(
        [html.B("Model: "), f"strongest band {peak}; top bands {top}"],
        className="model-view",
        id="vibration-attribution",
    )


def thermal_panel(
    store: StoreView,
    insight: ModelInsight,
    asset: Asset,
    at_ns: int,
    history_s: float,
    expl: Explanation | None = None,
    plant: PlantConfig | None = None,
) -> html.Div:
    t = ev.thermal_evidence(store, asset, at_ns, history_s)
    if t is None:
        return _panel("Temperature", [html.P("No temperatures in the look-back.")], "thermal")
    offset = insight.thermal_offset(plant, store.reader, asset) if plant is not None else None
    expected = insight.expected_temperature_c(asset, t, offset)
    basis = offset.describe() if offset is not None else "fleet normal model"
    graphs = []
    for j, ch in enumerate(t.channels):
        exp = expected[:, j] if expected is not None else None
        graphs.append(
            _graph(
                f"thermal-{ch}",
                asset.id,
                thermal_figure(
                    t.ts_ns,
                    t.temperature_c[:, j],
                    exp,
                    ch,
                    f"{ch}: measured vs expected" if exp is not None else f"{ch}: measured",
                    residual_limit_c=insight.residual_limit_c(asset, j),
                    at_ns=at_ns,
                    expected_name=_expected_name(offset, j),
                ),
            )
        )
    why = (
        _offset_text(basis, offset)
        if expected is not None
        else "Expected temperature not shown: no readable active model in the registry."
    )
    residual = _residual_graph(asset, t, expected, insight, expl)
    body = [html.P(why, className="note-meta", id="thermal-expected-basis"), *graphs]
    return _panel("Temperature", body + ([residual] if residual is not None else []), "thermal")


def _expected_name(offset: ThermalOffset | None, probe: int) -> str:
    if offset is None or not offset.ready or probe >= len(offset.offset_c):
        return "expected (fleet model)"
    if offset.scale is not None and probe < len(offset.scale):
        return f"expected (fleet model, asset's rise x{offset.scale[probe]:.2f})"
    return f"expected (fleet model + asset offset {offset.offset_c[probe]:+.1f} °C)"


def _offset_text(basis: str, offset: ThermalOffset | None) -> str:
    """Which expectation the figures draw, and over which baseline period."""
    text = f"Expected temperature: {basis}"
    if offset is not None and offset.ready:
        period = f"{fmt_ts(offset.start_ns)} to {fmt_ts(offset.end_ns)}"
        if offset.scale is not None:  # what the model reads: the rise ratio
            sig = "rise ratio per probe: " + ", ".join(f"x{x:.2f}" for x in offset.scale)
        else:
            sig = "offset in residual std: " + ", ".join(f"{x:+.2f}" for x in offset.offset_sigma)
        text += f" (baseline {period}, {offset.windows} windows, from {offset.source}; {sig})"
    elif offset is not None and offset.windows:
        text += (
            f" ({offset.windows} windows since {fmt_ts(offset.start_ns)} looked at; a stopped"
            " machine's do not count)"
        )
    return text + "."


def _residual_graph(asset: Asset, t, expected, insight: ModelInsight, expl: Explanation | None):
    """The residual the model attributes (explanation), else measured minus our expected."""
    if expl is not None and expl.thermal is not None and expl.thermal.ts_ns.size:
        a = expl.thermal
        fig = residual_figure(
            a.ts_ns, a.residual_c, a.weight, "Residual vs expected; model attribution in colour"
        )
    elif expected is not None:
        j = int(np.nanargmax(np.nanmax(t.temperature_c - expected, axis=0)))
        fig = residual_figure(
            t.ts_ns,
            t.temperature_c[:, j] - expected[:, j],
            None,
            f"{t.channels[j]}: residual vs expected (no model attribution)",
            residual_limit_c=insight.residual_limit_c(asset, j),
        )
    else:
        return None
    return _graph("thermal-residual", asset.id, fig)


def camera_panel(
    store: StoreView, asset: Asset, at_ns: int, expl: Explanation | None = None
) -> html.Div:
    img = ev.latest_image(store, asset, at_ns, _lookback_s(asset, Modality.CAMERA))
    if img is None:
        fig = empty_figure("Inspection image", "no inspection image in the look-back")
        return _panel("Camera", [_graph("camera", asset.id, fig)], "camera")
    sal = expl.saliency if expl is not None else None
    title = f"Inspection image {fmt_ts(img.header.ts_ns)}" + (
        ", model saliency overlaid (red)" if sal is not None else ""
    )
    why = (
        html.P(
            f"Saliency grid {sal.shape[0]}x{sal.shape[1]} from {expl.source}.",
            className="note-meta",
            id="camera-saliency",
        )
        if sal is not None
        else html.P("No saliency from the model for this window.", className="note-meta")
    )
    graph = _graph("camera", asset.id, image_figure(img.pixels, sal, title))
    return _panel("Camera", [why, graph], "camera")


def notes_panel(
    store: StoreView, asset: Asset, at_ns: int, history_s: float, expl: Explanation | None = None
) -> html.Div:
    notes = ev.recent_notes(store, asset, at_ns, history_s)[:8]
    if not notes:
        return _panel("Operator notes", [html.P("No notes in the look-back.")], "notes")
    drivers = expl.driving_tokens() if expl is not None else {}
    items = [_token_line(expl, drivers)]
    items += [
        html.Div(
            [
                html.Div(
                    fmt_ts(n.ts_ns) + (" (author redacted)" if n.author_known else ""),
                    className="note-meta",
                ),
                html.Div(highlight(n.text, drivers)),
            ],
            className="note",
        )
        for n in notes
    ]
    return _panel("Operator notes", items, "notes")


def _token_line(expl: Explanation | None, drivers: dict[str, float]) -> html.P:
    if not drivers:
        return html.P("No note tokens from the model for this window.", className="note-meta")
    ranked = sorted(drivers.items(), key=lambda kv: -kv[1])[:8]
    return html.P(
        [
            html.B("Tokens that drove the score: "),
            *[
                x
                for i, (t, w) in enumerate(ranked)
                for x in ((", " if i else ""), html.Mark(t, className="driver", title=f"{w:.3f}"))
            ],
        ],
        className="model-view",
        id="note-drivers",
    )


def highlight(text: str, drivers: Mapping[str, float] | set[str]) -> list:
    """The note as spans: driving words in <mark> (weight as tooltip), redactions set apart."""
    out: list = []
    for i, word in enumerate(text.split(" ")):
        sep = " " if i else ""
        core = word.strip(".,;:!?()").lower()
        if word.startswith("[") and word.rstrip(".,;:").endswith("]"):
            out += [sep, html.Span(word, className="redacted")]
        elif core and core in drivers:
            weight = drivers[core] if isinstance(drivers, Mapping) else None
            tip = f"weight {weight:.3f}" if weight is not None else ""
            out += [sep, html.Mark(word, className="driver", title=tip)]
        else:
            out.append(sep + word)
    return out


def evidence_panels(
    plant: PlantConfig,
    store: StoreView | None,
    insight: ModelInsight,
    asset: Asset,
    at_ns: int,
    fault: str,
    expl: Explanation | None = None,
) -> list:
    if store is None:
        return [html.P("No store configured (--store): evidence cannot be shown.")]
    hist = plant.windows.thermal_history_s
    notes_s = plant.windows.notes_history_s
    panels = []
    for build in (
        lambda: vibration_panel(store, asset, at_ns, fault, expl),
        lambda: thermal_panel(store, insight, asset, at_ns, max(hist, 6 * 3600), expl, plant),
        lambda: camera_panel(store, asset, at_ns, expl),
        lambda: notes_panel(store, asset, at_ns, notes_s, expl),
    ):
        try:
            panels.append(build())
        except Exception:  # one broken modality must not blank the page: say which one
            log.exception("evidence for %s at %s failed", asset.id, at_ns)
            panels.append(
                html.Div(
                    "This evidence could not be computed (see the log).",
                    className="panel notice-error",
                )
            )
    return [html.Div(panels[:2], className="row"), html.Div(panels[2:], className="row")]
