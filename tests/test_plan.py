"""Plan files: schema, line-numbered errors, built-in plans, and the Problem they build."""

from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import portfolio_mkt as pm
from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.plan import builtin_plans, load_plan

GOOD = """\
name: small
outcome: revenue
assets:
  - {id: a, market: US, channel: search, expected_return: 3.0, volatility: 0.2, current: 50}
  - {id: b, market: RU, channel: social, expected_return: 2.0, volatility: 0.3, current: 50}
budget: 100
"""


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def error_of(path: Path) -> PlanFileError:
    with pytest.raises(PlanFileError) as info:
        load_plan(path)
    return info.value


# ---------------------------------------------------------------------------- built-in plans


def test_builtin_plans_listed():
    assert {"quarterly_2m", "us_ru_creators", "monthly_100k"} <= set(builtin_plans())


def test_quarterly_returns_are_mqls_per_dollar():
    plan = load_plan("quarterly_2m")
    mqls = {"paid_search": (400e3, 2400), "paid_social": (500e3, 1800), "content": (300e3, 1200),
            "events": (400e3, 600), "email": (200e3, 1500), "traditional": (200e3, 300)}
    for asset, (spend, mql) in mqls.items():
        assert plan.expected_return[asset] == pytest.approx(mql / spend, rel=1e-12)
        assert plan.current[asset] == spend
    assert plan.budget == 2_000_000
    assert plan.current.sum() == 2_000_000
    # stated volatilities are relative: std = 0.15 * 0.006 for search; pair correlation 0.4
    cov = plan.covariance
    assert cov.loc["paid_search", "paid_search"] == pytest.approx((0.15 * 0.006) ** 2)
    corr = cov.loc["paid_search", "paid_social"] / math.sqrt(
        cov.loc["paid_search", "paid_search"] * cov.loc["paid_social", "paid_social"])
    assert corr == pytest.approx(0.4)


def test_quarterly_curves_calibrated_at_current_spend():
    plan = load_plan("quarterly_2m")
    curves = plan.response_curves()
    mu = plan.posterior_return()
    for asset, curve in curves.items():
        x0 = plan.current[asset]
        avg = float(np.asarray(curve.value(np.array([x0])))[0]) / x0
        assert avg == pytest.approx(mu[asset], rel=1e-10)
    # search saturates at k = 0.8 x current spend (from its 'saturation' column)
    assert curves["paid_search"].k == pytest.approx(0.8 * 400_000)
    # the content view: +15% with 60% confidence moves the return by 9%
    assert mu["content"] == pytest.approx(0.004 * 1.09)


def test_quarterly_problem_solves_with_brand_floor():
    plan = load_plan("quarterly_2m")
    problem = plan.to_problem()
    names = [c.name for c in problem.constraints]
    assert {"brand_floor", "email_list_capacity", "shift_limit"} <= set(names)
    alloc = pm.solve(problem)
    brand = alloc.spend[["events", "traditional"]].sum()
    assert brand >= 150_000 - 1e-3
    assert alloc.spend.sum() == pytest.approx(2_000_000, rel=1e-6)
    # shift limit 60%: every channel within +-60% of last quarter
    ratio = alloc.spend / plan.current
    assert ((ratio > 0.4 - 1e-6) & (ratio < 1.6 + 1e-6)).all()


def test_us_ru_model_alone_favours_us_about_70_30():
    plan = load_plan("us_ru_creators")
    strategic = ["committed_anya", "committed_dmitri", "ru_penetration", "creator_exploration"]
    model_only = pm.solve(plan.to_problem(exclude=strategic))
    market = plan.assets["market"]
    us_share = model_only.spend.groupby(market).sum()["US"] / model_only.spend.sum()
    assert 0.65 <= us_share <= 0.75
    with_strategy = pm.solve(plan.to_problem())
    ru_share = with_strategy.spend.groupby(market).sum()["RU"] / with_strategy.spend.sum()
    assert ru_share >= 0.40 - 1e-6
    assert with_strategy.spend["ru_creator_anya"] == pytest.approx(60_000, abs=1e-2)
    # the strategy costs expected revenue and buys lower risk
    assert with_strategy.expected_outcome < model_only.expected_outcome
    assert with_strategy.risk < model_only.risk


def test_monthly_toml_plan():
    plan = load_plan("monthly_100k")
    assert plan.path.suffix == ".toml"
    assert plan.budget == 100_000
    assert list(plan.expected_return.index) == ["search", "paid_social", "video", "influencers"]
    alloc = pm.solve(plan.to_problem())
    assert alloc.spend["video"] >= 10_000 - 1e-3  # video_presence floor: 10% of budget


def test_scenario_budget_and_cost_shock():
    plan = load_plan("monthly_100k")
    up = plan.to_problem(scenario="budget +20%")
    assert up.budget == pytest.approx(120_000)
    shocked = plan.to_problem(scenario="social CPMs +20%")
    assert shocked.expected_return["paid_social"] == pytest.approx(3.2 / 1.2)
    assert shocked.expected_return["search"] == pytest.approx(4.5)


def test_inline_plan_and_csv_assets(tmp_path):
    (tmp_path / "assets.csv").write_text(
        "id,market,expected_return,volatility,current\na,US,3.0,0.2,60\nb,RU,2.0,0.3,40\n")
    p = write(tmp_path, """\
        name: csv
        assets: assets.csv
        covariance: {volatility: absolute, correlation: 0.5}
        budget: {amount: 100, mode: cap}
        risk: {objective: max_return}
        caps: [{where: {market: US}, amount: 0.7, unit: share}]
    """)
    plan = load_plan(p)
    assert plan.covariance.loc["a", "b"] == pytest.approx(0.5 * 0.2 * 0.3)
    alloc = pm.solve(plan.to_problem())
    # max return with a 70% US cap: 70 in US (return 3), 30 in RU (return 2)
    assert alloc.spend["a"] == pytest.approx(70, rel=1e-5)
    assert alloc.expected_outcome == pytest.approx(70 * 3 + 30 * 2, rel=1e-5)


def test_covariance_csv(tmp_path):
    (tmp_path / "cov.csv").write_text(",a,b\na,0.04,0.01\nb,0.01,0.09\n")
    p = write(tmp_path, GOOD + "covariance: cov.csv\n")
    plan = load_plan(p)
    assert plan.covariance.loc["b", "b"] == 0.09


# ------------------------------------------------------------------------------------- errors


def test_wrong_type_names_file_field_line(tmp_path):
    p = write(tmp_path, GOOD.replace("budget: 100", "budget: lots"))
    err = error_of(p)
    assert err.file == str(p) and err.field == "budget" and err.line == 6
    assert f"{p}, line 6" in str(err) and "expected a number" in str(err)
    assert "got the text 'lots'" in str(err)


def test_unknown_field_with_suggestion(tmp_path):
    p = write(tmp_path, GOOD + "risk:\n  risk_aversoin: 2\n")
    err = error_of(p)
    assert err.field == "risk.risk_aversoin" and err.line == 8
    assert "unknown field 'risk_aversoin'" in str(err) and "risk_aversion" in str(err)


def test_unknown_asset_field_in_list(tmp_path):
    text = GOOD.replace("current: 50}\n  - {id: b", "current: 50, colour: red}\n  - {id: b")
    err = error_of(write(tmp_path, text))
    assert err.field == "assets[0].colour" and err.line == 4


def test_negative_budget(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("budget: 100", "budget: -100")))
    assert err.field == "budget" and err.line == 6 and "positive" in str(err)


def test_negative_budget_amount_in_mapping(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("budget: 100", "budget:\n  amount: -5")))
    assert err.field == "budget.amount" and err.line == 7


def test_locks_over_budget(tmp_path):
    p = write(tmp_path, GOOD + "locks:\n  - {asset: a, amount: 60}\n  - {asset: b, amount: 70}\n")
    err = error_of(p)
    assert err.field == "locks[1].amount" and err.line == 9
    assert "130" in str(err) and "budget of 100" in str(err)


def test_unknown_asset_in_lock_suggests(tmp_path):
    text = GOOD.replace("id: a,", "id: us_search,") + "locks:\n  - {asset: us_serch, amount: 10}\n"
    err = error_of(write(tmp_path, text))
    assert err.field == "locks[0].asset" and err.line == 8 and "us_search" in str(err)


def test_unknown_attribute_in_where(tmp_path):
    err = error_of(write(tmp_path, GOOD + "floors:\n  - {where: {region: EU}, amount: 10}\n"))
    assert err.field == "floors[0].where.region" and err.line == 8
    assert "market" in str(err)


def test_share_above_one(tmp_path):
    text = GOOD + "floors:\n  - {where: {market: RU}, amount: 30, unit: share}\n"
    err = error_of(write(tmp_path, text))
    assert err.field == "floors[0]" and err.line == 8 and "0.3 for 30%" in str(err)


def test_missing_csv(tmp_path):
    err = error_of(write(tmp_path, "name: x\nassets: nowhere.csv\nbudget: 10\n"))
    assert err.field == "assets" and err.line == 2 and "file not found" in str(err)


def test_missing_required_field(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("budget: 100\n", "")))
    assert err.field == "budget" and "required" in str(err)


def test_yaml_syntax_error_line(tmp_path):
    err = error_of(write(tmp_path, "name: x\nbudget: [1, 2\nassets: []\n"))
    assert err.line is not None and "not valid YAML" in str(err)


def test_several_errors_reported_together(tmp_path):
    text = GOOD.replace("budget: 100", "budget: -1")
    text = text.replace("name: small\n", "name: small\nfoo: 1\n")
    err = error_of(write(tmp_path, text))
    fields = [e[0] for e in err.errors]
    assert "budget" in fields and "foo" in fields
    assert "2 problems" in str(err)


def test_toml_errors_name_lines(tmp_path):
    p = write(tmp_path, """\
        name = "x"
        budget = "lots"

        [[assets]]
        id = "a"
        expected_return = 0.1

        [[assets]]
        id = "b"
        expected_return = 0.1
        colour = "red"
    """, "plan.toml")
    err = error_of(p)
    by_field = {f: line for f, line, _ in err.errors}
    assert by_field["budget"] == 2
    assert by_field["assets[1].colour"] == 11


def test_toml_syntax_error(tmp_path):
    err = error_of(write(tmp_path, 'name = "x"\nbudget = \n', "plan.toml"))
    assert err.line == 2 and "not valid TOML" in str(err)


def test_unknown_builtin_name_suggests():
    with pytest.raises(PlanFileError, match="quarterly_2m"):
        load_plan("quarterly_2n")


def test_nothing_runs_on_invalid_plan(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(pm, "solve", lambda *a, **k: called.append(1))
    with pytest.raises(PlanFileError):
        load_plan(write(tmp_path, GOOD.replace("budget: 100", "budget: -1")))
    assert not called


def test_scenario_drop_unknown_constraint(tmp_path):
    text = GOOD + "scenarios:\n  - {name: s, drop_constraints: [nope]}\n"
    err = error_of(write(tmp_path, text))
    assert err.field == "scenarios[0].drop_constraints[0]" and err.line == 8


def test_expected_return_from_last_outcome(tmp_path):
    text = """\
        name: x
        assets:
          - {id: a, current: 200, last_outcome: 50}
          - {id: b, current: 100, last_outcome: 40}
        budget: 300
    """
    plan = load_plan(write(tmp_path, text))
    pd.testing.assert_series_equal(
        plan.expected_return, pd.Series({"a": 0.25, "b": 0.4}), check_names=False)


def test_docs_examples_are_valid_plans(tmp_path):
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "plan_files.md").read_text()
    blocks = re.findall(r"```(yaml|toml)\n(.*?)```", text, re.S)
    full = [(kind, body) for kind, body in blocks if body.lstrip().startswith("name")]
    assert {kind for kind, _ in full} == {"yaml", "toml"}
    for i, (kind, body) in enumerate(full):
        plan = load_plan(write(tmp_path, body, f"doc{i}.{kind}"))
        assert pm.solve(plan.to_problem()).status.startswith("optimal")
    # the annotated YAML example is the built-in quarterly plan
    yaml_plan = load_plan(write(tmp_path, full[0][1], "doc_q.yaml"))
    builtin = load_plan("quarterly_2m")
    pd.testing.assert_series_equal(yaml_plan.expected_return, builtin.expected_return)
    pd.testing.assert_frame_equal(yaml_plan.covariance, builtin.covariance)


def test_halo_lifts_enter_the_problem(tmp_path):
    plan = load_plan("quarterly_2m")
    halo = plan.to_problem().halo
    assert halo.loc["content", "paid_search"] == pytest.approx(0.0004)
    assert halo.loc["paid_search", "content"] == 0.0
    # linear plan: a lift adds lift * source spend to the expected outcome
    text = GOOD + "risk: {objective: max_return}\nhalo:\n  - {source: b, target: a, lift: 0.5}\n"
    text += "locks:\n  - {asset: b, amount: 40}\n"
    alloc = pm.solve(load_plan(write(tmp_path, text)).to_problem())
    assert alloc.expected_outcome == pytest.approx(60 * 3.0 + 40 * 2.0 + 40 * 0.5, rel=1e-6)


def test_halo_unknown_asset(tmp_path):
    err = error_of(write(tmp_path, GOOD + "halo:\n  - {source: b, target: zz, lift: 0.1}\n"))
    assert err.field == "halo[0].target" and err.line == 8


def test_monthly_reproduces_the_guides_example_split():
    # seed 003: "the optimal allocation for a $100,000 monthly budget is $45,000 in search,
    # $25,000 in paid social, $20,000 in video, and $10,000 in influencer campaigns"
    alloc = pm.solve(load_plan("monthly_100k").to_problem())
    expected = pd.Series({"search": 45e3, "paid_social": 25e3, "video": 20e3,
                          "influencers": 10e3})
    assert (alloc.spend[expected.index] - expected).abs().max() < 1_000


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_line_numbers_property(tmp_path_factory, fmt):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=25, deadline=None)
    @given(n=st.integers(1, 6), data=st.data())
    def check(n, data):
        k = data.draw(st.integers(0, n - 1))
        field = data.draw(st.sampled_from(["expected_return", "current", "volatility"]))
        lines = ['name = "p"', "budget = 100"] if fmt == "toml" else ["name: p", "budget: 100",
                                                                       "assets:"]
        bad_line = None
        for i in range(n):
            lines.append("[[assets]]" if fmt == "toml" else f"  - id: a{i}")
            if fmt == "toml":
                lines.append(f'id = "a{i}"')
            for f in ("expected_return", "current", "volatility"):
                value = '"oops"' if (i == k and f == field) else "1.0"
                lines.append(f"{f} = {value}" if fmt == "toml" else f"    {f}: {value}")
                if i == k and f == field:
                    bad_line = len(lines)
        path = tmp_path_factory.mktemp("prop") / f"p.{fmt}"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(PlanFileError) as info:
            load_plan(path)
        assert info.value.field == f"assets[{k}].{field}"
        assert info.value.line == bad_line

    check()


FOUR = """\
name: four
assets:
  - {id: a, market: US, expected_return: 4.0, current: 25}
  - {id: b, market: US, expected_return: 3.0, current: 25}
  - {id: c, market: RU, expected_return: 2.0, current: 25}
  - {id: d, market: RU, expected_return: 1.0, current: 25}
budget: 100
risk: {objective: max_return}
"""


def test_roster_only_listed_assets_get_spend(tmp_path):
    plan = load_plan(write(tmp_path, FOUR + "roster: [b, c]\n"))
    alloc = pm.solve(plan.to_problem())
    assert alloc.spend["a"] == pytest.approx(0, abs=1e-6)
    assert alloc.spend["b"] == pytest.approx(100, rel=1e-6)
    assert "roster" in plan.strategic_constraints()


def test_locked_asset_must_be_on_roster(tmp_path):
    text = FOUR + "roster: [a]\nlocks:\n  - {asset: d, amount: 10}\n"
    err = error_of(write(tmp_path, text))
    assert err.field == "locks[0].asset" and "not on the roster" in str(err)


def test_shift_limit_scalar_and_turnover(tmp_path):
    # max return moves money from d to a; a 20% shift limit keeps every asset within +-5
    alloc = pm.solve(load_plan(write(tmp_path, FOUR + "shift_limit: 0.2\n")).to_problem())
    assert alloc.spend["a"] == pytest.approx(30, rel=1e-5)
    assert alloc.spend["d"] == pytest.approx(20, rel=1e-5)
    # turnover 10% of budget: at most 10 of total absolute change -> 5 moves from d to a
    alloc = pm.solve(load_plan(write(tmp_path, FOUR + "turnover: 0.1\n", "t.yaml")).to_problem())
    assert alloc.spend["a"] == pytest.approx(30, rel=1e-5)
    assert alloc.spend["d"] == pytest.approx(20, rel=1e-5)


def test_share_floor_and_money_cap(tmp_path):
    text = FOUR + textwrap.dedent("""\
        floors:
          - {name: ru_floor, where: {market: RU}, amount: 0.3, unit: share}
        caps:
          - {name: a_cap, where: {asset: a}, amount: 50}
    """)
    alloc = pm.solve(load_plan(write(tmp_path, text)).to_problem())
    expected = {"a": 50, "b": 20, "c": 30, "d": 0}
    for k, v in expected.items():
        assert alloc.spend[k] == pytest.approx(v, abs=1e-4)


def test_min_risk_objective_with_min_outcome(tmp_path):
    text = GOOD.replace("budget: 100", "budget: 100\nrisk: {objective: min_risk, min_outcome: 280}")
    plan = load_plan(write(tmp_path, text))
    alloc = pm.solve(plan.to_problem())
    assert alloc.expected_outcome == pytest.approx(280, rel=1e-5)


def test_history_plan_with_asset_overrides(tmp_path):
    hist = Path(builtin_plans()["us_ru_weekly"]).parent / "us_ru_history.csv"
    shutil.copy(hist, tmp_path / hist.name)
    hist = hist.name
    base = load_plan(write(tmp_path, f"name: h\nhistory: {hist}\nbudget: 500000\n"))
    assert set(base.expected_return.index) == {"us_search", "us_social", "us_video",
                                               "ru_search", "ru_social", "ru_video"}
    assert base.current.sum() == pytest.approx(500_000, rel=1e-6)
    text = (f"name: h\nhistory: {hist}\nbudget: 500000\n"
            "assets:\n  - {id: ru_search, expected_return: 9.9, tags: [priority]}\n")
    over = load_plan(write(tmp_path, text, "o.yaml"))
    assert over.expected_return["ru_search"] == 9.9
    others = base.expected_return.drop("ru_search")
    pd.testing.assert_series_equal(over.expected_return.drop("ru_search"), others,
                                   check_names=False)
    assert over.assets.loc["ru_search", "tags"] == "priority"
    assert over.assets.loc["ru_search", "market"] == "RU"
    alloc = pm.solve(over.to_problem())
    assert alloc.spend.idxmax() == "ru_search"


def test_history_plan_unknown_asset_in_table(tmp_path):
    hist = Path(builtin_plans()["us_ru_weekly"]).parent / "us_ru_history.csv"
    shutil.copy(hist, tmp_path / hist.name)
    hist = hist.name
    text = (f"name: h\nhistory: {hist}\nbudget: 500000\n"
            "assets:\n  - {id: de_search, expected_return: 2.0}\n")
    err = error_of(write(tmp_path, text))
    assert err.field == "assets" and "de_search" in str(err) and "not in the history" in str(err)


def test_fuzzed_plans_fail_only_with_plan_errors(tmp_path_factory):
    """Any junk in any field gives a PlanFileError (or a library error when solving), never a
    raw pandas/pydantic/cvxpy traceback."""
    import copy

    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from portfolio_mkt.exceptions import PortfolioMktError

    base = yaml.safe_load(GOOD + textwrap.dedent("""\
        covariance: {volatility: relative, correlation: 0.2}
        risk: {risk_aversion: 1.0}
        locks: [{asset: a, amount: 10}]
        floors: [{name: ru, where: {market: RU}, amount: 0.2, unit: share}]
        shift_limit: 0.5
        scenarios: [{name: up, budget_change: 0.1}]
    """))

    def leaves(node, path=()):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from leaves(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from leaves(v, (*path, i))
        yield path

    paths = [p for p in leaves(base) if p]
    junk = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                     st.lists(st.integers(-5, 5), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
    d = tmp_path_factory.mktemp("fuzz")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(paths), value=junk)
    def check(path, value):
        plan = copy.deepcopy(base)
        node = plan
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        p = d / "fuzz.yaml"
        p.write_text(yaml.safe_dump(plan))
        try:
            loaded = load_plan(p)
        except PlanFileError:
            return
        try:
            pm.solve(loaded.to_problem())
        except PortfolioMktError:
            pass

    check()
