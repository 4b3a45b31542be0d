"""Dashboard benchmark: the plant overview with 1,000 assets in headless Chromium, cold cache.

Measures, per run, navigation start to the asset grid rendered with data (every tile in the DOM,
timed in the page by a MutationObserver against the Performance API's time origin): first the
grid the index page of / carries as HTML (the first paint, dashboard/overview_doc.py), then the
live grid Dash draws (which replaces it; reported beside it). Each run in a fresh browser context
(empty cache, new session). Then the asset page's refresh callback latency (the POST Dash sends
every refresh, evidence for all modalities computed on the server).

Data: the 200-asset benchmark plant x 5; health per asset from the simulator's fault schedule
(fault severity -> health, as a stand-in for the scorer), through the real AlarmEngine and its
HTTP API in a thread; ingest figures from the real IngestMetrics; readings of the inspected asset
from the real simulator written by the real StoreWriter. ``--with-model``: a model registry too
(a model directory of the default ModelConfig, zero weights and identity normaliser
statistics: the page's work does not depend on their values), so the asset page also computes
the expected temperatures and the asset's thermal offset (its baseline over 8 h of readings);
the first callback (model loaded, baseline built) is reported on its own.

    nice -n 10 .venv/bin/python benchmarks/dashboard_overview.py --runs 7
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from dashboard.serve import build_app
from ingest.metrics import IngestMetrics, write_snapshot
from ingest.store.writer import StoreWriter
from plant.alarms.api.app import create_app as create_api
from plant.alarms.engine import AlarmEngine
from plant.config import load_config
from plant.events import HealthEvent
from plant.labels import severity_at
from plant.sim.asset import AssetSimulator
from plant.users import Role, UserStore

NS = 1_000_000_000
HOUR = 3600 * NS
USER = ("bench", "benchmark-password")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
MARK_SCRIPT = """
window.__gridReady = null; window.__liveReady = null;
new MutationObserver((_, obs) => {
  const now = performance.now();
  if (window.__gridReady === null &&
      document.querySelectorAll('.asset-grid .tile').length >= %(n)d) { window.__gridReady = now; }
  if (document.querySelectorAll('#asset-grid .tile').length >= %(n)d) {
    window.__liveReady = now; obs.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""


def serve(app, name: str) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def prepare(tmp: Path, factor: int, history_h: float = 1.0):
    config = load_config("configs/benchmark.toml").multiplied(factor)
    config = config.model_copy(
        update={
            "alarms": config.alarms.model_copy(
                update={
                    "users_path": str(tmp / "users.sqlite"),
                    "journal_path": str(tmp / "alarms.sqlite"),
                }
            )
        }
    )
    now = time.time_ns()
    engine = AlarmEngine(config, None)
    metrics = IngestMetrics("bench")
    times = np.arange(now - 2 * HOUR, now + 1, 600 * NS)
    for asset in config.resolved_assets:
        sim = AssetSimulator(asset, config, 1, now - 30 * 24 * HOUR)
        sim.faults.extend(now)
        sev = severity_at(sim.faults.episodes, asset.id, times)
        for ts, s in zip(times.tolist(), sev.tolist(), strict=True):
            engine.on_health(
                HealthEvent(
                    asset.id,
                    ts,
                    round(100 * (1 - s), 1),
                    s,
                    0.3 if s < 0.02 else 1e-4,
                    "normal",
                    0.0,
                    {"vibration": True, "thermal": True, "camera": True, "notes": True},
                    {},
                    "bench",
                )
            )
        metrics.on_stored([(asset.id, x.id, 0, 1, now, now) for x in asset.sensors], 0, 0, 0)
    store = tmp / "store"
    first = config.resolved_assets[0]
    start = now - int(history_h * HOUR)
    sim = AssetSimulator(first, config, 1, start)
    with StoreWriter(store) as w:
        t = start
        while t < now:  # the simulator steps within whole simulation hours
            nxt = min(now, t + HOUR)
            w.write(r for _, r in sim.chunk(t, nxt))
            t = nxt
    (store / "_ingest").mkdir(parents=True, exist_ok=True)
    write_snapshot(metrics.snapshot(), store / "_ingest" / "metrics-bench.json")
    return config, engine, store, first.id


def model_registry(tmp: Path) -> Path:
    """A registry with one active model directory of the default ModelConfig, zero weights."""
    import jax
    from flax import nnx

    from models import registry as reg
    from models.batch import ASSET_TYPES
    from models.checkpoint import save_model
    from models.config import ModelConfig
    from models.features import identity_stats
    from models.model import FusionModel

    cfg = ModelConfig()
    graphdef, state = nnx.split(nnx.eval_shape(lambda: FusionModel(cfg, nnx.Rngs(0))))
    model = nnx.merge(graphdef, jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), state))
    model.set_stats(identity_stats(cfg.inputs, len(ASSET_TYPES)))  # residual std 1, not 0
    registry = tmp / "registry"
    version = reg.new_version_dir(registry)
    save_model(model, cfg, version)
    reg.promote(registry, version.name)
    return registry


def time_overview(browser, base: str, n_assets: int, path: str = "/") -> tuple:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})  # empty cache
    ctx.request.post(
        base + "/login", form={"username": USER[0], "password": USER[1]}, max_redirects=0
    )
    page = ctx.new_page()
    page.add_init_script(MARK_SCRIPT % {"n": n_assets})
    page.goto(base + path)
    page.wait_for_function("window.__liveReady !== null", timeout=60_000)
    ms = page.evaluate("window.__gridReady")
    live_ms = page.evaluate("window.__liveReady")
    static_left = page.locator("#overview-static").count()
    page_cb = page.evaluate(
        "Math.max(...performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('_dash-update-component')).map(e => e.duration))"
    )
    ctx.close()
    assert static_left == 0, "the static first paint stayed after the live grid"
    return ms, page_cb, live_ms


def time_asset_callback(browser, base: str, asset: str, runs: int) -> list[float]:
    ctx = browser.new_context()
    ctx.request.post(
        base + "/login", form={"username": USER[0], "password": USER[1]}, max_redirects=0
    )
    token = next(c["value"] for c in ctx.cookies() if c["name"] == "_csrf_token")
    body = {
        "output": "asset-body.children",
        "outputs": {"id": "asset-body", "property": "children"},
        "inputs": [{"id": "asset-tick", "property": "n_intervals", "value": 1}],
        "state": [{"id": "asset-id", "property": "data", "value": asset}],
        "changedPropIds": ["asset-tick.n_intervals"],
    }
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = ctx.request.post(
            base + "/_dash-update-component", data=body, headers={"X-CSRFToken": token}
        )
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status == 200 and "vibration" in r.text(), r.status
    ctx.close()
    return out


def summary(xs: list[float]) -> dict[str, float]:
    return {
        "n": len(xs),
        "median_ms": round(statistics.median(xs), 1),
        "p95_ms": round(float(np.percentile(xs, 95)), 1),
        "max_ms": round(max(xs), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--factor", type=int, default=5, help="x the 200-asset benchmark plant")
    ap.add_argument("--callback-runs", type=int, default=20)
    ap.add_argument(
        "--ab", action="store_true", help="also time / without the first paint, interleaved"
    )
    ap.add_argument(
        "--with-model", action="store_true", help="an active model: expected temperatures too"
    )
    ap.add_argument(
        "--history-h", type=float, help="hours of the inspected asset's readings (1; 8 with model)"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        history_h = args.history_h or (8.0 if args.with_model else 1.0)
        config, engine, store, asset = prepare(tmp, args.factor, history_h)
        registry = model_registry(tmp) if args.with_model else None
        users = UserStore(config.alarms.users_path)
        users.create_user(*USER, Role.OPERATOR)
        api_url, api = serve(create_api(engine, users), "api")
        app = build_app(
            config, api_url=api_url, store=str(store), registry=registry, secret_file=tmp / "secret"
        )
        base, ui = serve(app.server, "dashboard")
        n = len(config.resolved_assets)
        print(f"prepared {n} assets in {time.perf_counter() - t0:.1f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            runs, dash_only = [], []
            for _ in range(args.runs):  # interleaved: the same load on both
                runs.append(time_overview(browser, base, n))
                if args.ab:
                    dash_only.append(time_overview(browser, base, n, "/?first_paint=0")[2])
            overview = [r[0] for r in runs]
            page_callback = [r[1] for r in runs]
            live = [r[2] for r in runs]
            callback = time_asset_callback(browser, base, asset, args.callback_runs)
            browser.close()
        ui.shutdown()
        api.shutdown()
    result = {
        "assets": n,
        "overview_nav_to_grid": summary(overview),
        "overview_runs_ms": [round(x, 1) for x in overview],
        "overview_nav_to_live_dash_grid": summary(live),
        "live_runs_ms": [round(x, 1) for x in live],
        **({"dash_only_nav_to_grid": summary(dash_only)} if dash_only else {}),
        "overview_page_callback": summary(page_callback),
        "asset_page_callback": summary(callback),
        "asset_page_first_callback_ms": round(callback[0], 1),
        "asset_page_callback_after_first": summary(callback[1:]),
        "with_model": args.with_model,
        "history_h": history_h,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
