"""Model page: active version, evaluation table, calibration, ablation, drift per modality."""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import dash
from dash import Input, Output, callback, dcc, html

from dashboard.components import fmt_ts, notice
from dashboard.context import current
from dashboard.data import drift as dr
from dashboard.data.model_page import ModelSummary, Row, model_summary
from dashboard.evidence_panels import GRAPH_CONFIG
from dashboard.figures.model import ablation_figure, bar_figure, calibration_figure, drift_figure

dash.register_page(__name__, path="/model", title="plantwatch: model", order=2)

DRIFT_TTL_S = 600.0  # recent-data drift is recomputed at most every 10 min, for all sessions
log = logging.getLogger(__name__)
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift")
_JOBS: dict[str, tuple[float, Future]] = {}
_JOBS_LOCK = threading.Lock()


def layout(**_query: str) -> html.Div:
    ctx = current()
    if ctx.registry_dir is None:
        return html.Div([html.H2("Model"), notice("No model registry found (--registry).")])
    s = model_summary(ctx.registry_dir)
    if s is None:
        return html.Div([html.H2("Model"), notice("No active model in the registry yet.")])
    return html.Div(
        [
            html.H2(f"Model {s.version} (active)", id="model-version"),
            _facts(s),
            html.Div(
                [
                    _evaluation(s),
                    html.Div(
                        [
                            _graph(
                                "auroc",
                                bar_figure(s.auroc, "AUROC: fused and by modality", "AUROC"),
                            ),
                            _graph("ablation", ablation_figure(s.ablation)),
                        ],
                        className="panel",
                    ),
                ],
                className="row",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            _graph(
                                "calibration",
                                calibration_figure(
                                    [(p.alpha, p.realised, p.lo, p.hi) for p in s.calibration]
                                ),
                            ),
                            _groups(s),
                        ],
                        className="panel",
                    ),
                    dcc.Loading(html.Div(id="model-drift", className="panel")),
                ],
                className="row",
            ),
            dcc.Store(id="model-version-key", data=s.version),
            dcc.Interval(id="drift-poll", interval=3000, disabled=True),
        ]
    )


def _graph(kind: str, fig) -> dcc.Graph:
    return dcc.Graph(
        id={"type": "model", "kind": kind},
        figure=fig,
        config=GRAPH_CONFIG,
        className=f"model-graph model-{kind}",
    )


def _facts(s: ModelSummary) -> html.Dl:
    created = s.created
    if created.isdigit():
        created = fmt_ts(int(created))
    items = [
        ("Created", created),
        ("Weights sha256", str(s.manifest.get("weights_sha256", ""))[:16]),
        ("Parameters", str(s.manifest.get("params", "-"))),
        ("Windows", ", ".join(f"{k} {v}" for k, v in (s.metrics.get("windows") or {}).items())),
        ("Versions", ", ".join(s.versions)),
    ]
    return html.Dl([x for k, v in items for x in (html.Dt(k), html.Dd(v))], className="kv panel")


def _row(r: Row) -> html.Tr:
    status = "" if r.met is None else ("met" if r.met else "NOT met")
    cls = "abnormal" if r.met is False else ""
    return html.Tr(
        [html.Td(r.figure), html.Td(r.value), html.Td(r.target), html.Td(status)], className=cls
    )


def _evaluation(s: ModelSummary) -> html.Div:
    head = html.Tr([html.Th(h) for h in ("Figure", "Value", "Target", "")])
    rows = [_row(r) for r in s.rows] or [html.Tr(html.Td("No figures.", colSpan=4))]
    return html.Div(
        [
            html.H3(f"Evaluation ({s.source})"),
            html.Table([head, *rows], className="grid", id="evaluation"),
        ],
        className="panel",
    )


def _groups(s: ModelSummary) -> html.Div:
    if not s.groups:
        return html.P("No calibration/ in the model directory.", className="note-meta")
    head = html.Tr(
        [html.Th(h) for h in ("Group", "Windows", "Uses", "Score for p<0.01", "p<0.001")]
    )
    rows = [
        html.Tr(
            [
                html.Td(g.group),
                html.Td(str(g.count)),
                html.Td(g.resolves_to),
                *[html.Td("-" if math.isnan(v) else f"{v:.4g}") for v in g.thresholds.values()],
            ]
        )
        for g in s.groups[:12]
    ]
    return html.Div(
        [
            html.H3("Conformal reference groups (calibration/)"),
            html.Table([head, *rows], className="grid", id="calibration-groups"),
        ]
    )


def _drift_job(ctx, s: ModelSummary) -> Future:
    """Drift of the active model, computed in the background (reading the training store for
    the reference can take a minute), recomputed at most every DRIFT_TTL_S."""
    with _JOBS_LOCK:
        started, job = _JOBS.get(s.version, (0.0, None))
        fresh = job is not None and (not job.done() or time.monotonic() - started < DRIFT_TTL_S)
        if fresh:
            return job

        def compute() -> tuple:
            ref = ctx.cached(
                f"drift-ref:{s.version}",
                24 * 3600,
                lambda: dr.reference_from_training(s.model_dir, s.manifest, s.metrics),
            )
            score_ref = dr.score_reference(s.model_dir)
            assets = [a.id for a in ctx.plant.resolved_assets]
            from models.config import ModelConfig

            cfg = ModelConfig.model_validate_json((s.model_dir / "config.json").read_text())
            figures = dr.drift(
                ref, score_ref, ctx.store.reader, assets, time.time_ns(),
                plant=ctx.plant, model_cfg=cfg,
            )  # fmt: skip
            return ref, score_ref, figures

        job = _POOL.submit(compute)
        _JOBS[s.version] = (time.monotonic(), job)
        return job


@callback(
    Output("model-drift", "children"),
    Output("drift-poll", "disabled"),
    Input("model-version-key", "data"),
    Input("drift-poll", "n_intervals"),
)
def drift_panel(version: str, _n: int | None):
    ctx = current()
    if ctx.store is None:
        return [html.H3("Drift"), notice("No store configured (--store): no recent data.")], True
    s = model_summary(ctx.registry_dir)
    if s is None or s.version != version:
        return [notice("The active model changed: reload the page.")], True
    job = _drift_job(ctx, s)
    if not job.done():
        wait = "Computing drift (the first time reads the model's training data; up to a minute)."
        return [html.H3("Drift"), html.P(wait, className="note-meta")], False
    try:
        ref, score_ref, figures = job.result()
    except Exception as exc:  # said on the page, logged with its trace
        log.exception("drift of %s failed", version)
        return [html.H3("Drift"), notice(f"Drift could not be computed: {exc}", kind="error")], True
    values = {k: f.psi for k, f in figures.items() if f.psi is not None}
    counts = ", ".join(
        f"{k}: {f.n_recent} recent / {f.n_reference} ref" for k, f in figures.items()
    )
    why = []
    if ref is None:
        why.append(
            "no input reference: the model directory has no drift_reference.json and its "
            "training store is not reachable"
        )
    if score_ref is None and "score" not in (ref or {}).get("modalities", {}):
        why.append(
            "no score reference: neither drift_reference.json nor calibration/ has held-out scores"
        )
    elif ref is not None:
        why.append(f"reference: {ref.get('basis', 'raw readings')} of {ref.get('source', '?')}")
    return [
        _graph("drift", drift_figure(values)),
        html.P(
            f"Samples: {counts or 'none'}. " + "; ".join(why),
            className="note-meta",
            id="drift-counts",
        ),
    ], True
