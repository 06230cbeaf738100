"""The HTML report: every section and figure present, self-contained, honest when inputs are
missing, and numbers that match a direct solve."""

from __future__ import annotations

import base64
import re

import pytest
from bs4 import BeautifulSoup

import portfolio_mkt as pm
from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import SECTIONS, make_figures, render_html, run_plan, write_report

FIGURES = {"allocation", "frontier", "response curves", "marginal ROI"}


@pytest.fixture(scope="module")
def us_ru_run():
    return run_plan(load_plan("us_ru_creators"), n_points=6, progress=False)


@pytest.fixture(scope="module")
def us_ru_soup(us_ru_run, tmp_path_factory):
    path = write_report(us_ru_run, tmp_path_factory.mktemp("report"))
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_every_section_present_in_order(us_ru_soup):
    ids = [s["id"] for s in us_ru_soup.find_all("section")]
    assert ids == list(SECTIONS)
    for sid, heading in SECTIONS.items():
        assert us_ru_soup.find("section", id=sid).h2.get_text() == heading


def test_figures_are_inline_png(us_ru_soup):
    imgs = us_ru_soup.find_all("img")
    alts = {img["alt"] for img in imgs}
    assert {"current vs recommended spend", "efficient frontier", "response curves",
            "marginal ROI"} <= alts
    for img in imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"


def test_no_network_references(us_ru_soup):
    html = str(us_ru_soup)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not us_ru_soup.find_all(["script", "link", "iframe"])
    assert us_ru_soup.find("style") is not None


def test_recommendation_table_matches_solve(us_ru_soup):
    direct = pm.solve(load_plan("us_ru_creators").to_problem())
    table = us_ru_soup.find("section", id="recommendation").table
    rows = {tr.find_all("td")[0].get_text(): [td.get_text() for td in tr.find_all("td")]
            for tr in table.tbody.find_all("tr")}
    header = [th.get_text() for th in table.thead.find_all("th")]
    col = header.index("recommended spend")
    for asset, spend in direct.spend.items():
        assert rows[asset][col] == f"${spend:,.0f}"
    assert rows["ru_creator_anya"][header.index("change")] in ("0", "$0", "")


def test_constraint_prices_in_plain_words(us_ru_soup, us_ru_run):
    text = us_ru_soup.find("section", id="constraint-prices").get_text(" ")
    price = us_ru_run.prices.loc["ru_penetration", "outcome_price"]
    assert f"ru_penetration costs {price:,.0f} expected revenue" in text
    assert "risk would be" in text and "higher" in text
    assert "creator_exploration costs nothing" in text


def test_scenarios_and_approvals(us_ru_soup):
    scen = us_ru_soup.find("section", id="scenarios").get_text(" ")
    assert "model only (no strategy)" in scen and "budget +20%" in scen
    approvals = us_ru_soup.find("section", id="approvals")
    assert approvals.find("p", class_="flag") is not None
    rows = {tr.find_all("td")[0].get_text(): tr.find_all("td")[-1].get_text()
            for tr in approvals.table.tbody.find_all("tr")}
    assert "ru_search" in rows and "moves more than the change allowed" in rows["ru_search"]


def test_unavailable_sections_say_so(us_ru_soup):
    for sid in ("confidence", "bias-audit"):
        na = us_ru_soup.find("section", id=sid).find("p", class_="na")
        assert na is not None and "Not available for this plan" in na.get_text()
        assert "history" in na.get_text()


def test_summary_compares_with_current(us_ru_soup, us_ru_run):
    text = us_ru_soup.find("section", id="summary").get_text(" ")
    assert f"{us_ru_run.allocation.expected_outcome:,.0f}" in text
    assert "against keeping today's spend" in text
    assert "ru_penetration" in text  # a binding strategy constraint is named


def test_frontier_missing_is_explained():
    run = run_plan(load_plan("monthly_100k"), frontier=False, scenarios=False, prices=False,
                   confidence=False)
    soup = BeautifulSoup(render_html(run, make_figures(run)), "html.parser")
    assert [s["id"] for s in soup.find_all("section")] == list(SECTIONS)
    assert soup.find("section", id="frontier").find("p", class_="na") is not None
    assert soup.find("section", id="frontier").find("img") is None
    assert soup.find("section", id="response-curves").find("img") is not None


def test_history_plan_has_confidence_and_audit(tmp_path):
    run = run_plan(load_plan("us_ru_weekly"), frontier=False, scenarios=False, prices=False,
                   n_resamples=6, progress=False)
    assert run.confidence is not None and "confidence" in run.table.columns
    assert run.confidence["confidence"].between(0, 1).all()
    # today's spend is kept across resamples, so every resample is feasible
    assert not any("failed" in n for n in run.notes)
    soup = BeautifulSoup(write_report(run, tmp_path / "r.html").read_text(), "html.parser")
    audit = soup.find("section", id="bias-audit")
    assert "RU is under-represented" in audit.get_text()
    assert audit.find("p", class_="flag") is not None
    conf = soup.find("section", id="confidence")
    assert conf.find("table") is not None and conf.find("p", class_="na") is None


def test_fallbacks_agree_with_scenarios_module(monkeypatch):
    """Without portfolio_mkt.scenarios the report re-solves itself: same numbers."""
    from portfolio_mkt.report import _analysis

    plan = load_plan("quarterly_2m")
    full = run_plan(plan, frontier=False, confidence=False)
    real = _analysis.public

    def missing(attr):
        return None if attr in ("scenarios", "constraint_prices", "Scenario") else real(attr)

    monkeypatch.setattr(_analysis, "public", missing)
    own = run_plan(plan, frontier=False, confidence=False)
    for sc in ("base", "budget +20%", "budget -15%", "no events", "cautious"):
        assert own.scenarios.loc[sc, "expected_outcome"] == pytest.approx(
            full.scenarios.loc[sc, "expected_outcome"], rel=1e-5)
    price = full.prices.loc["shift_limit", "outcome_price"]
    assert price > 1.0  # the shift limit binds in this plan
    assert own.prices.loc["shift_limit", "outcome_price"] == pytest.approx(price, rel=1e-3)


def test_outcome_range_from_risk_model(us_ru_soup, us_ru_run):
    a = us_ru_run.allocation
    text = us_ru_soup.find("section", id="confidence").get_text(" ")
    assert f"between {a.expected_outcome - a.risk:,.0f} and {a.expected_outcome + a.risk:,.0f}" \
        in text


def test_frontier_against_model_alone(us_ru_soup, us_ru_run):
    cost = us_ru_run.frontier_cost.dropna(subset=["outcome_cost"])
    assert len(cost) and (cost["outcome_cost"] >= -1e-6 * us_ru_run.allocation.expected_outcome
                          ).all()
    text = us_ru_soup.find("section", id="frontier").get_text(" ")
    assert "model alone" in text and "the strategy costs" in text
    # exact cost at equal risk: the model-only problem at the recommendation's risk
    plan = load_plan("us_ru_creators")
    base = us_ru_run.allocation
    free = pm.solve(plan.to_problem().without(*plan.strategic_constraints()).replace(
        objective="max_return", max_risk=base.risk))
    cost = free.expected_outcome - base.expected_outcome
    assert cost > 0
    assert us_ru_run.equal_risk["outcome_cost"] == pytest.approx(cost, rel=1e-4)
    assert f"strategy costs {cost:,.0f}" in text


def test_plan_without_covariance_renders(tmp_path):
    p = tmp_path / "nocov.yaml"
    p.write_text("name: nocov\nassets:\n"
                 "  - {id: a, market: US, expected_return: 3.0, current: 60}\n"
                 "  - {id: b, market: RU, expected_return: 2.0, current: 40}\n"
                 "budget: 100\nrisk: {objective: max_return}\n"
                 "caps: [{name: us_cap, where: {market: US}, amount: 0.7, unit: share}]\n")
    run = run_plan(load_plan(p), n_points=4, progress=False)
    soup = BeautifulSoup(render_html(run, make_figures(run)), "html.parser")
    assert [s["id"] for s in soup.find_all("section")] == list(SECTIONS)
    assert "no covariance" in soup.find("section", id="frontier").get_text()
    assert "not modelled" in soup.find("section", id="confidence").get_text()
    # max return with a 70% US cap: the cap costs exactly 30 x (3 - 2) = 30
    assert run.prices.loc["us_cap", "outcome_price"] == pytest.approx(30, rel=1e-5)


def test_a_failing_figure_does_not_sink_the_report(monkeypatch):
    from portfolio_mkt.report import _figures

    def boom(*args, **kwargs):
        raise ValueError("bad curve")

    monkeypatch.setattr(_figures, "curves_figure", boom)
    run = run_plan(load_plan("monthly_100k"), frontier=False, scenarios=False, prices=False,
                   confidence=False)
    figures = make_figures(run)
    assert "response_curves" not in figures and "allocation" in figures
    soup = BeautifulSoup(render_html(run, figures), "html.parser")
    text = soup.find("section", id="response-curves").get_text()
    assert "could not be drawn" in text
    assert "bad curve" in run.unavailable["figure:response_curves"]
