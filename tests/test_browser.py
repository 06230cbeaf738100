"""The report of every built-in plan in a real browser (headless Chromium, 1280 px wide): no
horizontal overflow of the page or of any table, every figure loaded and visible.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it). Without it the
test is skipped with that reason, except in CI (``CI`` set), where a missing browser fails.
Set ``PORTFOLIO_MKT_SCREENSHOTS=1`` to refresh the screenshots kept in ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import run_plan, write_outputs

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "docs" / "screenshots"
PLANS = sorted(p.stem for p in (REPO / "portfolio_mkt" / "data").iterdir()
               if p.suffix in (".yaml", ".toml"))
WIDTH = 1280


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _chromium()
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium); "
                ".ci/run installs it and runs this test", allow_module_level=True)

_PROBE = """<script>
window.addEventListener('load', function () {
  var d = document.documentElement;
  var imgs = Array.prototype.map.call(document.images, function (i) {
    var r = i.getBoundingClientRect(), s = getComputedStyle(i);
    return {alt: i.alt, natural: i.naturalWidth, width: r.width, height: r.height,
            left: r.left, right: r.right, visible: s.visibility !== 'hidden' &&
            s.display !== 'none' && i.complete};
  });
  var wraps = Array.prototype.map.call(document.querySelectorAll('.table-wrap'),
    function (w) { return {scroll: w.scrollWidth, client: w.clientWidth,
                           section: w.closest('section').id}; });
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({scroll: d.scrollWidth, client: d.clientWidth,
                                    body: document.body.scrollWidth, imgs: imgs,
                                    wraps: wraps});
  document.body.appendChild(out);
});
</script>"""


def _chrome(*args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--hide-scrollbars", "--mute-audio", "--no-first-run",
           f"--window-size={WIDTH},2200", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _report(plan: str, directory: Path) -> Path:
    if plan == "demo":
        from portfolio_mkt.commands.demo import demo_run

        run = demo_run(n_points=8, progress=False)
    else:
        run = run_plan(load_plan(plan), n_points=8, n_resamples=8, progress=False)
    write_outputs(run, directory)
    return directory / "report.html"


@pytest.fixture(scope="module", params=["demo", *PLANS])
def rendered(request, tmp_path_factory):
    if CHROMIUM is None:
        pytest.fail("CI is set but Chromium is missing: .ci/run installs the Debian package")
    d = tmp_path_factory.mktemp(request.param)
    report = _report(request.param, d / "out")
    probe = d / "probe.html"
    html = report.read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    res = _chrome("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the probe did not run in Chromium: {res.stderr[-2000:]}"
    import html as htmllib

    data = json.loads(htmllib.unescape(m.group(1)))
    shot = d / f"{request.param}.png"
    res = _chrome(f"--screenshot={shot}", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    if os.environ.get("PORTFOLIO_MKT_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SHOTS / f"{request.param}.png")
    return request.param, data, shot


def test_no_horizontal_overflow(rendered):
    plan, data, _ = rendered
    assert data["client"] == WIDTH or data["client"] <= WIDTH
    assert data["scroll"] <= data["client"], f"{plan}: the page is wider than the window"
    assert data["body"] <= data["client"], plan


def test_no_table_needs_scrolling(rendered):
    plan, data, _ = rendered
    wide = [w for w in data["wraps"] if w["scroll"] > w["client"] + 1]
    assert not wide, f"{plan}: tables wider than the page column: {wide}"


def test_every_figure_is_visible(rendered):
    plan, data, _ = rendered
    alts = {i["alt"] for i in data["imgs"]}
    assert {"current vs recommended spend", "response curves", "marginal ROI"} <= alts, plan
    if plan != "monthly_100k" or "efficient frontier" in alts:
        assert "efficient frontier" in alts, f"{plan}: no frontier chart"
    for img in data["imgs"]:
        assert img["visible"] and img["natural"] > 100, (plan, img)
        assert img["width"] > 200 and img["height"] > 100, (plan, img)
        assert img["left"] >= 0 and img["right"] <= data["client"], (plan, img)


def test_screenshots_are_kept_for_the_docs():
    for plan in ["demo", *PLANS]:
        shot = SHOTS / f"{plan}.png"
        assert shot.exists() and shot.stat().st_size > 10_000, (
            f"docs/screenshots/{plan}.png is missing: run PORTFOLIO_MKT_SCREENSHOTS=1 "
            "python -m pytest tests/test_browser.py")


# ---- the sections wired in from the other packages: whole pieces, deals, exploration, the
# ---- weekly plan and plan versus actual, all on one page

FULL_PLAN = """
name: every_section
outcome: revenue
currency: USD
budget: 100000
min_spend: 15000
assets:
  - {id: search_brand_and_generic_us, channel: search, expected_return: 3.0, current: 30000,
     volatility: 0.3}
  - {id: social_us, channel: social, expected_return: 2.6, current: 25000, volatility: 0.3}
  - {id: video_us, channel: video, expected_return: 2.2, current: 20000, volatility: 0.3}
  - {id: creator_anya, channel: creator, expected_return: 2.4, current: 10000, volatility: 0.4}
  - {id: creator_dmitri, channel: creator, expected_return: 2.3, current: 8000, volatility: 0.4}
  - {id: radio, channel: radio, expected_return: 1.6, current: 7000, volatility: 0.3}
covariance:
  volatility: relative
  correlation: 0.2
response:
  family: exponential
  calibrate: current
risk:
  risk_aversion: 1.0
"""
NEW_SECTIONS = ("whole-pieces", "creator-deals", "exploration", "weekly-plan", "plan-vs-actual")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    import pandas as pd

    from portfolio_mkt.loop import Workspace, record_actuals, record_plan

    if CHROMIUM is None:
        pytest.fail("CI is set but Chromium is missing: .ci/run installs the Debian package")
    d = tmp_path_factory.mktemp("full")
    plan_file = d / "every_section.yaml"
    plan_file.write_text(FULL_PLAN, encoding="utf-8")
    ws_path = d / "ws.db"
    with Workspace(ws_path) as ws:
        record_plan(ws, plan_file, start="2026-01-05", n_periods=8, freq="7D")
        al = ws.allocations()
        f = al["asset"].map(lambda a: 0.2 if a == "video_us" else 1.02)
        record_actuals(ws, pd.DataFrame({"period": al["period"], "asset": al["asset"],
                                         "spend": al["spend"], "outcome": al["expected"] * f}))
    plan = load_plan(str(plan_file))
    plan.deals = {"tickets": [{"name": "creator_fees", "fee": 12000,
                               "where": {"channel": "creator"}}],
                  "conflicts": [["creator_anya", "creator_dmitri"]]}
    plan.exploration = {"share": 0.1, "hurdle": 2.0, "candidates": {
        "new_creator_kim": {"mean": 1.6, "se": 0.8, "noise_sd": 2000},
        "new_creator_lev": {"mean": 1.0, "se": 0.1, "noise_sd": 2000}}}
    plan.window = {"weeks": 13, "start": "2026-01-05",
                   "adstock": {"family": "geometric", "alpha": 0.4},
                   "seasonality": [{"weeks": ["2026-02-09", "2026-02-16"], "multiplier": 1.4}]}
    from portfolio_mkt.commands._common import plan_vs_actual

    run = run_plan(plan, n_points=8, n_resamples=0, confidence=False, progress=False,
                   actuals=plan_vs_actual(plan, ws_path)[0])
    write_outputs(run, d / "out")
    report = d / "out" / "report.html"
    probe = d / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"),
                     encoding="utf-8")
    res = _chrome("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"the probe did not run in Chromium: {res.stderr[-2000:]}"
    import html as htmllib

    data = json.loads(htmllib.unescape(m.group(1)))
    shot = d / "every_section.png"
    cmd = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--hide-scrollbars", f"--window-size={WIDTH},9000", f"--screenshot={shot}",
           report.as_uri()]
    subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("PORTFOLIO_MKT_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SHOTS / "every_section.png")
    return run, report.read_text(encoding="utf-8"), data, shot


def test_new_sections_render_without_overflow(full):
    run, html, data, _ = full
    for sid in NEW_SECTIONS:
        assert f'<section id="{sid}">' in html, sid
    assert run.whole.applied and run.deals.integer is not None and run.window is not None
    assert run.actuals is not None and len(run.actuals.alerts)
    assert data["scroll"] <= data["client"] and data["body"] <= data["client"]
    wide = [w for w in data["wraps"] if w["scroll"] > w["client"] + 1]
    assert not wide, f"tables wider than the page column: {wide}"
    sections = {w["section"] for w in data["wraps"]}
    assert set(NEW_SECTIONS) <= sections


def test_new_figures_are_visible(full):
    _, _, data, _ = full
    alts = {i["alt"] for i in data["imgs"]}
    assert {"weekly plan", "plan versus actual per asset"} <= alts
    for img in data["imgs"]:
        assert img["visible"] and img["natural"] > 100, img
        assert img["width"] > 200 and img["height"] > 100, img
        assert img["left"] >= 0 and img["right"] <= data["client"], img
