"""The README's media-mix section runs as shown and its plan is good on the simulator's truth.

``tests/test_docs.py`` already executes every README Python block (in one namespace); this
file checks the media-mix section on its own: the Python block is self-contained, its plan
spends the budget and is close to the true optimum of the simulated world, and the
command line shown beside it runs on a file with those columns.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import warnings
from pathlib import Path

import pytest

from portfolio_mkt.cli import main
from portfolio_mkt.simulate_kpi import simulate_kpi

REPO = Path(__file__).resolve().parents[1]
HEADING = "## One KPI per week? Fit a media-mix model"


def _section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert HEADING in text, "README.md lost its media-mix section"
    body = text.split(HEADING, 1)[1]
    return body.split("\n## ", 1)[0]


def _fence(section: str, info: str) -> str:
    match = re.search(rf"^```{info}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert match, f"no ```{info} block in the README's media-mix section"
    return match.group(1)


def test_readme_python_block_runs_alone_and_plans_near_the_true_optimum():
    code = _fence(_section(), "python")
    assert len([line for line in code.splitlines() if line.strip()]) <= 6
    namespace: dict = {"__name__": "__main__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the example world must fit without any warning
        exec(compile(code, "<README media-mix block>", "exec"), namespace)  # noqa: S102
    plan, weekly = namespace["plan"], namespace["weekly"]
    assert plan.spend.sum() == pytest.approx(100_000, rel=1e-6)
    seed = int(re.search(r"seed=(\d+)", code).group(1))
    world = simulate_kpi(104, 3, seed=seed)
    assert world.data.equals(weekly)
    _, best = world.truth.optimum(100_000)
    hist = world.truth.historical_spend
    regret = 1 - world.truth.outcome(plan.spend) / best
    hist_regret = 1 - world.truth.outcome(hist * 100_000 / hist.sum()) / best
    assert regret < 0.03
    assert regret < hist_regret


def test_readme_command_runs_on_a_wide_file(tmp_path, monkeypatch):
    command = _fence(_section(), "bash").replace("\\\n", " ")
    argv = shlex.split(command)
    assert argv[:3] == ["portfolio-mkt", "fit", "data.csv"]
    kpi = argv[argv.index("--kpi") + 1]
    seed = int(re.search(r"seed=(\d+)", _fence(_section(), "python")).group(1))
    world = simulate_kpi(104, 3, seed=seed)
    world.data.rename(columns={"kpi": kpi}).to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        code = main(argv[1:], out=out, err=err)
    assert code == 0, err.getvalue()
    assert "search" in out.getvalue()
    written = list((tmp_path / "results").iterdir())
    assert written, "--out results/ wrote nothing"
