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

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.fixtures.brokers import free_port, wait_port
from tests.test_dashboard_scenario import (
    OPERATOR,
    PERSONAL_BITS,
    REPO,
    Scenario,
    build,
)

ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Scenario:
    s = build(tmp_path_factory.mktemp("plant"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def dashboard_proc(scenario: Scenario) -> tuple[str, Path, subprocess.Popen]:
    """``plantwatch dashboard`` as a child process; ends by its PID (the last test stops it with
    SIGTERM and checks that it exits cleanly)."""
    port = free_port()
    log_path = scenario.tmp / "dashboard.log"
    cmd = [
        sys.executable,
        "-m",
        "plant.cli",
        "dashboard",
        "--config",
        str(scenario.config_path),
        "--store",
        str(scenario.store),
        "--api",
        scenario.api_url,
        "--port",
        str(port),
        "--secret-file",
        str(scenario.tmp / "secret"),
        "--registry",
        str(scenario.tmp / "registry"),
        "--refresh-s",
        "2",
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_port(port, 60)
        yield f"http://127.0.0.1:{port}", log_path, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def dashboard(dashboard_proc) -> tuple[str, Path]:
    return dashboard_proc[0], dashboard_proc[1]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(page: Page, base: str, password: str = OPERATOR[1]) -> None:
    page.goto(base + "/")
    page.fill("#username", OPERATOR[0])
    page.fill("#password", password)
    page.click("#login-submit")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


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
    login(page, base)

    # overview: every asset, the faulty one coloured and first in its area
    page.wait_for_selector("#asset-grid .tile", timeout=TIMEOUT_MS)
    assert page.locator("#asset-grid .tile").count() == 6
    tile = page.locator(f'#asset-grid a.tile[href="/asset/{scenario.asset}"]')
    assert "p-" in tile.get_attribute("class")
    area = page.locator("section.area", has=page.locator(f'a[href="/asset/{scenario.asset}"]'))
    assert area.locator(".tile").first.get_attribute("href") == f"/asset/{scenario.asset}"
    expect(page.locator("#data-health")).to_contain_text("Dead letters: 1")
    shot(page, "overview")

    # alarms list: the injected fault's alarm, unacknowledged
    page.click("text=Alarms")
    row = page.locator(f"#alarm-row-{scenario.alarm_id}")
    expect(row).to_have_attribute("data-state", "unacknowledged", timeout=TIMEOUT_MS)
    expect(row).to_contain_text(scenario.fault.value)
    shot(page, "alarms")

    # alarm detail: explanation and each modality's evidence at the alarm's time
    row.locator(f'a[href="/alarm/{scenario.alarm_id}"]').click()
    page.wait_for_selector("#journal", timeout=TIMEOUT_MS)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=TIMEOUT_MS)
    for modality in ("vibration", "thermal", "camera", "notes"):
        panel = page.locator(f'[data-modality="{modality}"]')
        expect(panel).to_be_visible()
        if modality != "notes":
            expect(panel.locator(".js-plotly-plot").first).to_be_visible(timeout=TIMEOUT_MS)
    vib = page.locator('[data-modality="vibration"]')
    for marker in ("BPFO", "BPFI", "BSF", "FTF", "1x", "2x"):
        expect(vib).to_contain_text(marker)
    expect(vib).to_contain_text("zone")
    expect(page.locator('[data-modality="notes"] .note').first).to_be_visible()
    check_explanation(page, scenario.engine.get_alarm(scenario.alarm_id)["explanation"])
    shot(page, "alarm")

    # acknowledge through the alarm API; the new state survives a reload
    page.fill("#detail-text", "checked on site, bearing noisy")
    page.click('button:has-text("Acknowledge")')
    state = page.locator("#alarm-facts [data-state]")
    expect(state).to_have_attribute("data-state", "acknowledged", timeout=TIMEOUT_MS)
    page.reload()
    expect(state).to_have_attribute("data-state", "acknowledged", timeout=TIMEOUT_MS)
    expect(page.locator("#journal")).to_contain_text("op.anna")
    expect(page.locator('[data-modality="vibration"] .js-plotly-plot').first).to_be_visible(
        timeout=TIMEOUT_MS
    )
    journal = scenario.engine.get_alarm(scenario.alarm_id)["journal"]
    assert any(e["action"] == "acknowledge" and e["who"] == OPERATOR[0] for e in journal)
    shot(page, "alarm-acknowledged")

    # shelve for 1 h with a reason, then comment: each through the API, journaled as op.anna
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

    # asset page: health trend with the alarm marked, evidence per modality
    page.goto(f"{base}/asset/{scenario.asset}")
    page.wait_for_selector("#asset-summary", timeout=TIMEOUT_MS)
    expect(page.locator('[data-modality="vibration"] .js-plotly-plot').first).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(page.locator("#asset-summary")).to_contain_text(scenario.fault.value)
    expect(page.locator("#shapley")).to_contain_text("from plantwatch serve (latest window)")
    check_explanation(page, scenario.explain(scenario.asset)["explanation"])
    shot(page, "asset")

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
        expect(counts).to_contain_text(f"{modality}: ", timeout=TIMEOUT_MS)
    expect(page.locator(".model-drift .main-svg").first).to_be_visible()
    shot(page, "model")
    page.close()


def check_explanation(page: Page, expl: dict) -> None:
    """An explanation on the page: Shapley bars with the primary modality; per modality with
    evidence in it, the model's envelope bands, the thermal attribution, saliency over the
    image, the driving note tokens (and the page says so where a modality has none); the
    planted personal data nowhere, its placeholder shown."""
    shap = page.locator("#shapley")
    expect(shap).to_have_attribute("data-primary", expl["primary"], timeout=TIMEOUT_MS)
    expect(shap).to_contain_text(f"score {expl['score']:.3f}")
    for modality in expl["shapley"]:
        expect(shap.locator(".js-plotly-plot")).to_contain_text(modality)
    evidence = expl["evidence"]
    assert "vibration" in evidence and "notes" in evidence  # the fault's window has both
    top = evidence["vibration"]["bands"][0]
    expect(page.locator("#vibration-attribution")).to_contain_text(f"{top['hz']:.1f} Hz")
    expect(page.locator('[data-modality="vibration"] .scatterlayer .point').first).to_be_attached()
    thermal = page.locator('[data-modality="thermal"]')
    if "thermal" in evidence:
        expect(thermal).to_contain_text("model attribution in colour")
    camera = page.locator('[data-modality="camera"]')
    if "camera" in evidence:
        rows, cols = evidence["camera"]["grid"]
        expect(page.locator("#camera-saliency")).to_contain_text(f"{rows}x{cols}")
        expect(camera).to_contain_text("saliency overlaid")
    else:  # no image in that window: the page says there is no saliency, shows none
        expect(camera).to_contain_text("No saliency from the model for this window")
    drivers = page.locator("#note-drivers mark.driver")
    expect(drivers.first).to_have_text("noisy")  # the heaviest token of the stand-in
    notes = page.locator('[data-modality="notes"]')
    expect(notes.locator(".note mark.driver").first).to_be_visible()
    expect(notes.locator(".redacted").first).to_have_text("[NAME]")
    text = page.locator("main").inner_text()
    for bit in PERSONAL_BITS:
        assert bit not in text, f"personal data {bit!r} shown"


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
