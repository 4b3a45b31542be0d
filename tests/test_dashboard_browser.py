"""The operator dashboard in real headless Chromium (Debian's), against real components.

One plant with an injected bearing fault (tests/test_dashboard_scenario.py): the operator logs
in, sees the overview, opens the alarm the fault raised, sees each modality's evidence,
acknowledges it through the alarm API and still sees it acknowledged after a reload. A screenshot
of every page goes to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import html
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.dashboard_acceptance import (
    TIMEOUT_MS,
    acceptance_steps,
    check_evidence,
    chromium,
    dashboard_process,
    shot,
)
from tests.dashboard_acceptance import login as login_as
from tests.test_dashboard_scenario import (
    OPERATOR,
    PERSONAL_BITS,
    REPO,
    Scenario,
    build,
)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    s = build(tmp_path_factory.mktemp("plant"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def dashboard_proc(scenario: Scenario) -> tuple[str, Path, subprocess.Popen]:
    """``plantwatch dashboard`` as a child process; ends by its PID (the last test stops it with
    SIGTERM and checks that it exits cleanly)."""
    registry = scenario.tmp / "registry"
    with dashboard_process(
        scenario.config_path, scenario.store, scenario.api_url, registry, scenario.tmp
    ) as running:
        yield running


@pytest.fixture(scope="module")
def dashboard(dashboard_proc) -> tuple[str, Path]:
    return dashboard_proc[0], dashboard_proc[1]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def login(page: Page, base: str, password: str = OPERATOR[1]) -> None:
    login_as(page, base, OPERATOR[0], password)


def test_nothing_is_served_without_login_but_health(dashboard):
    base, _ = dashboard
    with urllib.request.urlopen(base + "/health") as r:
        assert json.loads(r.read()) == {"status": "ok"}
    with urllib.request.urlopen(base + "/alarms") as r:  # redirected to the login form
        assert r.url.startswith(base + "/login?next=/alarms")
        assert b'name="password"' in r.read()
    for path in (
        "/_dash-layout",
        "/_dash-dependencies",
        "/_dash-component-suites/dash/dcc/dash_core_components.js",
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + path)
        assert err.value.code in (401, 404)
    req = urllib.request.Request(base + "/_dash-update-component", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 401


def test_wrong_password_is_refused_and_no_password_is_logged(dashboard, browser):
    base, log_path = dashboard
    page = browser.new_page()
    login(page, base, password="not-the-password-42")
    expect(page.locator(".login-error")).to_contain_text("Wrong username or password")
    login(page, base)
    page.wait_for_selector("#asset-grid", timeout=TIMEOUT_MS)
    page.close()
    text = log_path.read_text()
    assert "not-the-password-42" not in text and OPERATOR[1] not in text
    assert "login refused for user 'op.anna'" in text


def test_callbacks_need_the_sessions_csrf_token(dashboard, browser):
    base, _ = dashboard
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, base)
    page.wait_for_selector("#asset-grid", timeout=TIMEOUT_MS)
    body = {
        "output": "overview-body.children",
        "outputs": {"id": "overview-body", "property": "children"},
        "inputs": [{"id": "overview-tick", "property": "n_intervals", "value": 1}],
        "changedPropIds": ["overview-tick.n_intervals"],
    }
    refused = ctx.request.post(base + "/_dash-update-component", data=body)
    assert refused.status == 403  # session cookie alone: refused
    token = next(c["value"] for c in ctx.cookies() if c["name"] == "_csrf_token")
    ok = ctx.request.post(
        base + "/_dash-update-component", data=body, headers={"X-CSRFToken": token}
    )
    assert ok.status == 200 and "asset-grid" in ok.text()
    ctx.close()


TILE = re.compile(r'<a class="([^"]*)" href="([^"]*)" title="([^"]*)">([^<]*)</a>')


def test_first_paint_of_the_overview_is_the_live_grid_as_html(dashboard, browser):
    """The index of / carries the grid as HTML (for the first paint); Dash's live grid, drawn
    from the same document, replaces it tile for tile; nothing of it without a login."""
    base, _ = dashboard
    with urllib.request.urlopen(base + "/") as r:
        assert r.url.startswith(base + "/login") and b"overview-static" not in r.read()
    ctx = browser.new_context()
    page = ctx.new_page()
    login(page, base)
    page.wait_for_selector("#asset-grid .tile", timeout=TIMEOUT_MS)
    expect(page.locator("#overview-static")).to_have_count(0)  # gone once the live grid is in
    live = page.eval_on_selector_all(
        "#asset-grid a.tile", "els => els.map(e => [e.className, e.getAttribute('href'), e.title,"
        " e.textContent])"
    )  # fmt: skip
    index = ctx.request.get(base + "/").text()
    static = [[html.unescape(x) for x in m] for m in TILE.findall(index)]
    assert len(live) == 6 and static == live
    assert "overview-static" not in ctx.request.get(base + "/?first_paint=0").text()
    assert "overview-static" not in ctx.request.get(base + "/alarms").text()
    ctx.close()


def test_operator_sees_the_fault_opens_its_alarm_and_acknowledges_it(
    dashboard, browser, scenario: Scenario
):
    base, _ = dashboard
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # the acceptance steps, the same code that runs on serve's raised alarm in
    # tests/test_serve_end_to_end.py (tests/dashboard_acceptance.py): log in, overview, the alarm
    # from the alarm list with each modality's evidence, acknowledge, reload (still
    # acknowledged), then the alarm's asset link: the asset page and its evidence
    alarm = scenario.engine.get_alarm(scenario.alarm_id)  # the API's document, unacknowledged
    acceptance_steps(page, base, alarm, OPERATOR, redacted=PERSONAL_BITS)
    journal = scenario.engine.get_alarm(scenario.alarm_id)["journal"]
    assert any(e["action"] == "acknowledge" and e["who"] == OPERATOR[0] for e in journal)

    # the asset page: serve's latest explanation, the expected temperature with the asset's
    # own rise over ambient (the model's [arch] thermal_asset = "scale")
    expect(page.locator("#asset-summary")).to_contain_text(scenario.fault.value)
    expect(page.locator("#shapley")).to_contain_text("from plantwatch serve (latest window)")
    check_evidence(page, scenario.explain(scenario.asset)["explanation"], PERSONAL_BITS)
    basis = page.locator("#thermal-expected-basis")
    expect(basis).to_contain_text("its rise over ambient scaled to this asset's own")
    expect(basis).to_contain_text("rise ratio per probe: x")
    expect(page.locator('[data-modality="thermal"] .legendtext').first).to_contain_text(
        "fleet model, asset's rise x"
    )
    shot(page, "asset")

    # back to the alarm by the asset page's link: its own window's evidence, the planted name
    # redacted in the notes; shelve for 1 h with a reason, then comment: each through the API,
    # journaled as op.anna
    page.locator(f'#asset-summary a[href="/alarm/{scenario.alarm_id}"]').click()
    page.wait_for_selector("#journal", timeout=TIMEOUT_MS)
    check_evidence(page, alarm["explanation"], PERSONAL_BITS)
    expect(page.locator('[data-modality="notes"] .redacted').first).to_have_text("[NAME]")
    state = page.locator("#alarm-facts [data-state]")
    page.fill("#detail-text", "bearing change planned on night shift")
    t_shelve = time.time_ns()
    page.click('button:has-text("Shelve")')
    expect(state).to_have_attribute("data-state", "shelved", timeout=TIMEOUT_MS)
    expect(page.locator("#alarm-facts")).to_contain_text("Shelved until")
    page.fill("#detail-text", "spare bearing ordered")
    page.click('button:has-text("Comment")')
    expect(page.locator("#journal")).to_contain_text("spare bearing ordered", timeout=TIMEOUT_MS)
    served = scenario.engine.get_alarm(scenario.alarm_id)
    until = served["shelved_until_ns"]
    assert abs(until - t_shelve - 3600 * 10**9) < 60 * 10**9  # expires in 1 h
    mine = [(e["action"], e["who"]) for e in served["journal"]]
    assert ("shelve", OPERATOR[0]) in mine and ("comment", OPERATOR[0]) in mine

    # overview: every asset, the faulty one first in its area; its tile -> the asset page
    page.click('.nav-link:has-text("Overview")')
    page.wait_for_selector("#asset-grid .tile", timeout=TIMEOUT_MS)
    assert page.locator("#asset-grid .tile").count() == 6
    area = page.locator("section.area", has=page.locator(f'a[href="/asset/{scenario.asset}"]'))
    assert area.locator(".tile").first.get_attribute("href") == f"/asset/{scenario.asset}"
    expect(page.locator("#data-health")).to_contain_text("Dead letters: 1")
    page.locator(f'#asset-grid a.tile[href="/asset/{scenario.asset}"]').click()
    page.wait_for_selector("#asset-summary", timeout=TIMEOUT_MS)
    check_evidence(page, scenario.explain(scenario.asset)["explanation"], PERSONAL_BITS)

    # model page: evaluation against targets, calibration, ablation, drift per modality
    page.goto(f"{base}/model")
    expect(page.locator("#model-version")).to_contain_text("(active)", timeout=TIMEOUT_MS)
    table = page.locator("#evaluation")
    expect(table).to_contain_text("AUROC fused")
    expect(table.locator("tr.abnormal")).to_contain_text("alpha 0.001")  # 0.0022 > 1.5 alpha
    expect(page.locator("#calibration-groups")).to_contain_text("motor-pump|VTCN")
    for kind in ("auroc", "ablation", "calibration"):
        graph = page.locator(f".model-{kind} .main-svg").first
        expect(graph).to_be_visible(timeout=TIMEOUT_MS)
    counts = page.locator("#drift-counts")  # computed in the background, polled by the page
    for modality in ("vibration", "thermal", "camera", "notes", "score"):
        recent = re.compile(rf"{modality}: [1-9]\d* recent")
        expect(counts).to_contain_text(recent, timeout=TIMEOUT_MS)
    expect(counts).to_contain_text("reference: window features")  # written as training does
    expect(page.locator(".model-drift .main-svg").first).to_be_visible()
    shot(page, "model")
    page.close()


def test_asset_page_health_ends_with_the_alarm_engines_latest(scenario: Scenario):
    """The asset page's summary and trend read the store, where serve flushes scores about a
    minute apart; the alarm engine's latest health (GET /assets/{asset}/health) ends them where
    it is newer. The client reads the engine's document whole; an asset without health: None."""
    import dataclasses

    from dashboard.data.alarms_api import AlarmApiClient
    from dashboard.data.latest import with_live
    from dashboard.data.store import StoreView

    api = AlarmApiClient(scenario.api_url)
    token = api.create_token(*OPERATOR)["token"]
    doc = scenario.engine.health()[scenario.asset]
    live = api.asset_health(token, scenario.asset)
    assert live is not None and (live.ts_ns, live.health) == (doc["ts_ns"], doc["health"])
    assert live.fault_probability == doc["fault_probability"] and live.fault_class
    assert live.missing == [m for m, p in doc["present"].items() if not p]
    assert api.asset_health(token, "no-such-asset") is None
    store = StoreView(scenario.store).health_history(scenario.asset, 0, scenario.now_ns + 1)
    assert store[-1].ts_ns == live.ts_ns  # the same event, stored: the store's is kept
    assert with_live(store, live)[-1] is store[-1] and with_live([], live) == [live]
    newer = dataclasses.replace(live, ts_ns=live.ts_ns + 60 * 10**9, health=12.0)
    assert with_live(store, newer) == [*store, newer] and with_live(store, None) is store


def test_expected_temperature_adds_the_assets_own_offset(scenario: Scenario):
    """The asset page's expected temperature is the fleet model with the asset's own rise over
    ambient (``[arch] thermal_asset = "scale"``), or plus the asset's offset (its baseline's
    mean standardised residual x residual std, models/features.py): the offset is the
    mean of measured minus the fleet model's expectation over what its baseline windows read
    (each window's last ``thermal_points`` points of its thermal grid), recomputed here from the
    raw readings the page shows over the same spans; an asset whose baseline is not ready gets
    the fleet model alone."""
    from dashboard.data.evidence import thermal_evidence
    from dashboard.data.model_info import SOURCE_STORE, ModelInsight
    from dashboard.data.store import StoreView
    from ingest.assembly import iter_windows
    from models.baseline import thermal_design_np
    from models.batch import ASSET_TYPES, make_batch
    from models.config import ModelConfig
    from plant.config import load_config
    from tests.test_dashboard_scenario import MODEL_CONFIG

    config = load_config(scenario.config_path)
    view = StoreView(scenario.store)
    insight = ModelInsight(scenario.tmp / "registry")
    inp = ModelConfig.model_validate(MODEL_CONFIG).inputs
    largest, ready = 0.0, 0
    for asset in config.resolved_assets:
        off = insight.thermal_offset(config, view.reader, asset)
        assert off is not None
        look = (off.end_ns - off.start_ns) / 1e9 + 2 * 3600
        th = thermal_evidence(view, asset, off.end_ns, look)
        fleet = insight.expected_temperature_c(asset, th)
        own = insight.expected_temperature_c(asset, th, off)
        if not off.ready:  # e.g. a machine stopped all along: its windows are not its normal
            assert "not ready" in off.describe()
            np.testing.assert_array_equal(own, fleet)
            continue
        ready += 1
        assert off.windows >= inp.baseline_min_windows
        n = len(th.channels)
        ok = np.isfinite(fleet)  # NaN: no process context yet at the very first readings
        if off.scale is not None:  # the model's own: ambient + the asset's scaled rise
            amb = th.context[:, 1:2].astype(np.float64)
            want = amb + off.scale[:n] * (fleet - amb)
            np.testing.assert_allclose(own[ok], want[ok], rtol=1e-6)
        else:
            added = np.broadcast_to(off.offset_c[:n], fleet.shape)
            np.testing.assert_allclose((own - fleet)[ok], added[ok], rtol=1e-6)
        # the baseline's windows, on its grid: the model's thermal grid of each (what the model
        # reads), a stopped machine's windows left out, and those within baseline_settle_s of
        # a stop, a start or a load step (models/baseline.py)
        assert off.source == SOURCE_STORE  # no serve in this scenario: the store's first hours
        times = np.arange(off.start_ns, off.end_ns + 1, int(inp.baseline_spacing_s * 1e9))
        found = iter_windows(config, view.reader, [asset.id], times)
        windows = [w for w in found if w is not None and w.thermal is not None]
        windows = [w for w in windows if len(w.thermal.ts_ns)]
        b = make_batch(windows, inp)
        use = np.zeros(len(windows), bool)
        moved = -(1 << 62)
        for i, w in enumerate(windows):
            ctx = b.thermal_ctx[i].astype(np.float64)
            if not b.present[i, 1]:
                continue
            running = np.isfinite(ctx).all() and (ctx[:, 3] > 0.5).all()
            if not (running and np.ptp(ctx[:, 0]) <= inp.baseline_load_step):
                moved = w.ts_ns  # a stop, a start, a load step (or no context yet)
                continue
            use[i] = w.ts_ns - moved >= inp.baseline_settle_s * 1e9
        assert int(use.sum()) == off.windows
        mask = b.probe_mask[use]
        temp = (b.thermal_c[use].mean(1) * mask).sum(0) / np.maximum(mask.sum(0), 1)
        x = thermal_design_np(b.thermal_ctx[use].astype(np.float64)).mean(axis=(0, 1))
        coef = insight._thermal_stats()[0][ASSET_TYPES.index(asset.type)]
        np.testing.assert_allclose(off.offset_c[:n], (temp - coef @ x)[:n], atol=1e-3)
        largest = max(largest, float(np.max(np.abs(off.offset_c[:n]))))
    assert ready >= 4 and largest > 0.3  # some asset does differ from its type's model


def test_dashboard_refuses_a_public_address_without_tls(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "plant.cli",
        "dashboard",
        "--host",
        "0.0.0.0",
        "--secret-file",
        str(tmp_path / "s"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2
    assert "--behind-proxy" in done.stderr and not (tmp_path / "s").exists()


def test_sigterm_stops_the_dashboard_cleanly(dashboard_proc):
    """The demo stops the dashboard with SIGTERM: exit 0, the port released, said in the log."""
    base, log_path, proc = dashboard_proc
    port = int(base.rsplit(":", 1)[1])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert "dashboard stopped (SIGTERM)" in log_path.read_text()
