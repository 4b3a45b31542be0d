"""Issue 6's browser acceptance, usable with any alarm source (not a test module itself).

``tests/test_dashboard_browser.py`` drives it from an alarm that the real alarm engine raised
in-process from scored fault windows (every CI run). ``tests/test_serve_end_to_end.py`` drives it
from the alarm a real ``plantwatch serve`` raised from the simulator's injected fault, with
``plantwatch ingest`` writing the readings, whenever its model detects the fault
(:func:`acceptance_against_serve`): the same steps, the same checks, in real headless Chromium.

The operator logs in, sees the overview with the faulty asset's tile, opens the alarm from the
alarm list, sees the Shapley chart and each present modality's evidence with the model's
attributions (never a placeholder where the explanation has evidence), acknowledges it, reloads
and still sees it acknowledged; from the alarm the asset page, and back, show the evidence too.
A screenshot of every page goes to tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.fixtures.brokers import free_port, wait_port

REPO = Path(__file__).resolve().parent.parent
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
FIRST_PAGE_MS = 90_000  # a fresh dashboard's first evidence page loads the model (cold start)
MODALITIES = ("vibration", "thermal", "camera", "notes")
MODALITY_RE = re.compile("^(vibration|thermal|camera|notes)$")
# pages draw their figures after the page is there: every expectation waits as long
expect.set_options(timeout=TIMEOUT_MS)


@contextlib.contextmanager
def dashboard_process(
    config: Path,
    store: Path,
    api_url: str,
    registry: Path,
    workdir: Path,
    *,
    users: Path | None = None,
    refresh_s: float = 2,
) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """``plantwatch dashboard`` as a child process: (base URL, log path, process). Killed by its
    PID on the way out if still running (a test may stop it with SIGTERM first)."""
    port = free_port()
    log_path = workdir / "dashboard.log"
    cmd = [
        sys.executable, "-m", "plant.cli", "dashboard",
        "--config", str(config),
        "--store", str(store),
        "--api", api_url,
        "--port", str(port),
        "--secret-file", str(workdir / "dashboard-secret"),
        "--registry", str(registry),
        "--refresh-s", str(refresh_s),
    ]  # fmt: skip
    if users is not None:
        cmd += ["--users", str(users)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        wait_port(port, 60)
        yield f"http://127.0.0.1:{port}", log_path, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium through Playwright (never ``playwright install``)."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def login(page: Page, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def open_alarm_and_acknowledge(
    page: Page,
    base: str,
    *,
    alarm_id: int,
    asset: str,
    fault: str,
    explanation: dict,
    who: str,
    prefix: str = "",
    redacted: tuple[str, ...] = (),
) -> None:
    """Overview -> alarm list -> the alarm (evidence) -> acknowledge -> reload (persists).
    ``redacted``: personal data planted upstream that no page may show."""
    page.wait_for_selector("#asset-grid .tile", timeout=TIMEOUT_MS)
    tile = page.locator(f'#asset-grid a.tile[href="/asset/{asset}"]')
    expect(tile).to_be_visible()
    assert "p-" in (tile.get_attribute("class") or "")  # coloured: it has an alarm
    shot(page, f"{prefix}overview")

    page.click("text=Alarms")
    row = page.locator(f"#alarm-row-{alarm_id}")
    expect(row).to_have_attribute("data-state", "unacknowledged", timeout=TIMEOUT_MS)
    expect(row).to_contain_text(fault)
    shot(page, f"{prefix}alarms")

    row.locator(f'a[href="/alarm/{alarm_id}"]').click()
    page.wait_for_selector("#journal", timeout=FIRST_PAGE_MS)
    check_evidence(page, explanation, redacted)
    expect(page.locator("#shapley")).to_contain_text(f"alarm {alarm_id}")  # its own window
    shot(page, f"{prefix}alarm")

    page.fill("#detail-text", "checked on site, bearing noisy")
    page.click('button:has-text("Acknowledge")')
    state = page.locator("#alarm-facts [data-state]")
    expect(state).to_have_attribute("data-state", "acknowledged", timeout=TIMEOUT_MS)
    page.reload()
    expect(state).to_have_attribute("data-state", "acknowledged", timeout=TIMEOUT_MS)
    expect(page.locator("#journal")).to_contain_text(who)
    check_evidence(page, explanation, redacted)  # the reloaded page shows the evidence again
    shot(page, f"{prefix}alarm-acknowledged")


def asset_page_from_alarm(page: Page, asset: str, redacted: tuple[str, ...] = ()) -> None:
    """From the alarm page, the asset link: the asset page with its latest explanation and
    each modality's evidence; back to the alarm through the asset page's alarm link."""
    page.locator(f'#alarm-head h2 a[href="/asset/{asset}"]').click()
    page.wait_for_selector("#asset-summary", timeout=TIMEOUT_MS)
    expect(page.locator("#shapley")).to_have_attribute("data-primary", MODALITY_RE)
    for modality in MODALITIES:
        expect(page.locator(f'[data-modality="{modality}"]')).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator('[data-modality="vibration"] .js-plotly-plot').first).to_be_visible(
        timeout=TIMEOUT_MS
    )
    no_personal_data(page, redacted)


def check_evidence(page: Page, expl: dict, redacted: tuple[str, ...] = ()) -> None:
    """An explanation on the page: Shapley bars with the primary modality; each present
    modality's panel with its data drawn and the model's attribution from ``expl`` (envelope
    bands, thermal attribution, saliency over the image, the driving note tokens); where the
    explanation has none for a modality the page says so; no planted personal data."""
    shap = page.locator("#shapley")
    expect(shap).to_have_attribute("data-primary", expl["primary"], timeout=TIMEOUT_MS)
    expect(shap).to_contain_text(f"score {expl['score']:.3f}")
    for modality in expl["shapley"]:
        expect(shap.locator(".js-plotly-plot")).to_contain_text(modality)
    evidence = expl.get("evidence") or {}
    assert evidence, "the explanation carries no in-modality evidence"
    for modality in MODALITIES:
        panel = page.locator(f'[data-modality="{modality}"]')
        expect(panel).to_be_visible(timeout=TIMEOUT_MS)
        if modality in evidence and modality != "notes":
            expect(panel.locator(".js-plotly-plot").first).to_be_visible(timeout=TIMEOUT_MS)
    vib = page.locator('[data-modality="vibration"]')
    if "vibration" in evidence:
        for marker in ("BPFO", "BPFI", "BSF", "FTF", "1x", "2x"):
            expect(vib).to_contain_text(marker)
        expect(vib).to_contain_text("zone")
        bands = evidence["vibration"]["bands"]
        if bands:
            top = bands[0]["hz"]
            expect(page.locator("#vibration-attribution")).to_contain_text(f"{top:.1f} Hz")
            expect(vib.locator(".scatterlayer .point").first).to_be_attached()
        else:  # no band raised the score: said, not drawn
            expect(vib).to_contain_text("No vibration attribution from the model")
    if "thermal" in evidence:
        expect(page.locator('[data-modality="thermal"]')).to_contain_text(
            "model attribution in colour"
        )
    camera = page.locator('[data-modality="camera"]')
    if "camera" in evidence:
        rows, cols = evidence["camera"]["grid"]
        expect(page.locator("#camera-saliency")).to_contain_text(f"{rows}x{cols}")
        expect(camera).to_contain_text("saliency overlaid")
    else:  # no image in that window: the page says there is no saliency, shows none
        expect(camera).to_contain_text("No saliency from the model for this window")
    tokens = [t for t in (evidence.get("notes") or {}).get("tokens", []) if t["weight"] > 0]
    notes = page.locator('[data-modality="notes"]')
    if tokens:
        heaviest = max(tokens, key=lambda t: t["weight"])["text"]
        expect(page.locator("#note-drivers mark.driver").first).to_have_text(heaviest)
        expect(notes.locator(".note").first).to_be_visible()
    no_personal_data(page, redacted)


def no_personal_data(page: Page, redacted: tuple[str, ...]) -> None:
    text = page.locator("main").inner_text()
    for bit in redacted:
        assert bit not in text, f"personal data {bit!r} shown"


def acceptance_steps(
    page: Page,
    base: str,
    alarm: dict,
    user: tuple[str, str],
    *,
    prefix: str = "",
    redacted: tuple[str, ...] = (),
) -> None:
    """Issue 6's acceptance for ``alarm`` (as the alarm API lists it): ``user`` logs in, sees
    the overview, opens the alarm from the alarm list, sees each modality's evidence,
    acknowledges it, reloads and still sees it acknowledged, then follows the alarm's asset
    link to the asset page and its evidence."""
    login(page, base, *user)
    open_alarm_and_acknowledge(
        page,
        base,
        alarm_id=int(alarm["id"]),
        asset=alarm["asset"],
        fault=alarm.get("fault_class") or alarm["source"],  # the API: source
        explanation=alarm["explanation"],
        who=user[0],
        prefix=prefix,
        redacted=redacted,
    )
    asset_page_from_alarm(page, alarm["asset"], redacted)


def acceptance_against_serve(
    workdir: Path,
    config: Path,
    api_base: str,
    registry: Path,
    store: Path,
    alarm: dict,
    user: tuple[str, str],
) -> None:
    """:func:`acceptance_steps` against a running ``plantwatch serve`` (its alarm API at
    ``api_base``, without /api/v1) and the store ``plantwatch ingest`` wrote, in a
    ``plantwatch dashboard`` started here, for ``alarm`` as serve's API listed it."""
    with (
        dashboard_process(config, store, api_base, registry, workdir) as (base, _log, _p),
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        acceptance_steps(page, base, alarm, user, prefix="serve-")
        shot(page, "serve-asset")
        page.close()
