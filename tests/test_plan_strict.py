"""Strict types and plain-word messages in plan files: nothing silently coerced or zeroed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.plan import in_plan_words, load_plan

BASE = """\
name: s
assets:
  - {id: a, market: US, channel: search, tags: [brand], expected_return: 3.0, current: 50}
  - {id: b, market: RU, channel: social, expected_return: 2.0, current: 50}
"""


def load_text(tmp_path: Path, extra: str, budget: str = "budget: 100\n", base: str = BASE):
    p = tmp_path / "plan.yaml"
    p.write_text(textwrap.dedent(base) + budget + textwrap.dedent(extra))
    return load_plan(p)


def error_of(tmp_path: Path, extra: str = "", budget: str = "budget: 100\n",
             base: str = BASE) -> PlanFileError:
    with pytest.raises(PlanFileError) as info:
        load_text(tmp_path, extra, budget, base)
    return info.value


@pytest.mark.parametrize(
    ("budget", "words"),
    [
        ("budget: true\n", "got true (true/false is not a number)"),
        ('budget: "100"\n', "got the text '100'; write numbers without quotes"),
        ("budget: {amount: '100'}\n", "got the text '100'; write numbers without quotes"),
        ("budget: .nan\n", "expected a finite number"),
        ("budget: .inf\n", "expected a finite number"),
        ("budget: 1.0e+400\n", "expected a finite number"),
        ("budget: " + "9" * 400 + "\n", "too large"),
    ],
)
def test_budget_strict_and_readable(tmp_path, budget, words):
    err = error_of(tmp_path, budget=budget)
    assert err.field.startswith("budget") and err.line == 5
    assert words in str(err), str(err)
    assert "True" not in str(err) and "NoneType" not in str(err)


def test_budget_true_is_one_readable_sentence(tmp_path):
    err = error_of(tmp_path, budget="budget: true\n")
    assert str(err).endswith(
        "field 'budget': expected a number or a mapping with fields amount, mode; "
        "got true (true/false is not a number)"
    )


def test_yaml_12_exponents_are_numbers(tmp_path):
    assert load_text(tmp_path, "", budget="budget: 1e2\n").budget == 100.0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("risk: {risk_aversion: '2'}\n", "risk.risk_aversion"),
        ("locks: [{asset: a, amount: 10, minimum: 'no'}]\n", "locks[0].minimum"),
        ("locks: [{asset: a, amount: 10, minimum: 1}]\n", "locks[0].minimum"),
        ("shift_limit: {max_change: 0.5, relative: 'no'}\n", "shift_limit.relative"),
        ("floors: [{where: {market: US}, amount: 10, strategic: 'yes'}]\n",
         "floors[0].strategic"),
        ("current: {a: .nan}\n", "current.a"),
        ("current: {a: '40'}\n", "current.a"),
        ("views: [{asset: a, change: 0.1, confidence: '0.5'}]\n", "views[0].confidence"),
    ],
)
def test_strict_fields(tmp_path, extra, field):
    err = error_of(tmp_path, extra)
    assert err.field == field, str(err)
    assert err.line == 6


def test_wrong_case_filter_lists_values(tmp_path):
    err = error_of(tmp_path, "floors: [{where: {market: us}, amount: 10}]\n")
    assert "did you mean 'US'?" in str(err) and "are: RU, US" in str(err)
    assert err.field == "floors[0].where.market" and err.line == 6


def test_unknown_tag_and_scenario_remove_values_listed(tmp_path):
    err = error_of(tmp_path, "scenarios: [{name: x, remove: {tags: Brand}}]\n")
    assert "did you mean 'brand'?" in str(err) and err.field == "scenarios[0].remove.tags"


def test_partial_current_in_table_is_an_error(tmp_path):
    base = BASE.replace(", current: 50}\n", "}\n", 1)  # a has none, b has 50
    err = error_of(tmp_path, base=base)
    assert "asset 'a' has no current spend" in str(err) and err.field == "assets[0]"


def test_partial_current_mapping_is_an_error(tmp_path):
    base = BASE.replace(", current: 50", "")
    err = error_of(tmp_path, "current: {a: 40}\n", base=base)
    assert "no current spend for 'b'" in str(err) and err.field == "current"
    plan = load_text(tmp_path, "current: {a: 40, b: 0}\n", base=base)
    assert plan.current.to_dict() == {"a": 40.0, "b": 0.0}


def test_partial_current_in_csv_names_the_line(tmp_path):
    (tmp_path / "assets.csv").write_text(
        "id,expected_return,current\na,1.0,10\nb,2.0,\nc,1.5,nan\n"
    )
    p = tmp_path / "plan.yaml"
    p.write_text("name: p\nassets: assets.csv\nbudget: 100\n")
    with pytest.raises(PlanFileError) as info:
        load_plan(p)
    assert "asset 'b' has no current spend (line 3 of assets.csv)" in str(info.value)


def test_infinite_in_csv(tmp_path):
    (tmp_path / "assets.csv").write_text("id,expected_return\na,1.0\nb,inf\n")
    p = tmp_path / "plan.yaml"
    p.write_text("name: p\nassets: assets.csv\nbudget: 100\n")
    with pytest.raises(PlanFileError) as info:
        load_plan(p)
    assert "infinite for asset 'b' (line 3 of assets.csv)" in str(info.value)


def test_in_plan_words():
    msg = "the caps allow at most 10. Loosen the caps or use budget_mode='cap'."
    assert in_plan_words(msg).endswith("use 'mode: cap' under the plan's budget.")
    assert "risk_aversion: 2" in in_plan_words("raise risk_aversion=2")
    assert "budget_mode" not in in_plan_words("budget_mode must be 'exact'")


def test_engine_errors_reach_the_planner_in_plan_words(tmp_path):
    """An infeasible exact budget says the plan's 'mode: cap', not budget_mode='cap'."""
    import portfolio_mkt as pm

    plan = load_text(tmp_path, "", base=BASE.replace("current: 50}", "current: 50, max_spend: 20}"))
    with pytest.raises(pm.exceptions.InfeasibleError) as info:
        pm.solve(plan.to_problem())
    assert "mode: cap" in in_plan_words(str(info.value))


def test_thousands_of_bad_rows_list_twenty(tmp_path):
    rows = "".join(f'[[assets]]\nid = "a{i}"\nexpected_return = "x"\n' for i in range(3000))
    p = tmp_path / "plan.toml"
    p.write_text('name = "x"\nbudget = 100\n' + rows)
    with pytest.raises(PlanFileError) as info:
        load_plan(p)
    text = str(info.value)
    assert "(3000 problems; the first 20 are shown)" in text
    assert text.count("expected a number") == 20 and len(info.value.errors) == 20
    assert f"{p}, line 5: field 'assets[0].expected_return'" in text
