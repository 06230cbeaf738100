"""The command line is a registry of command modules that load nothing heavy for --help/list;
--help claims only files that are written; --allow-outside-paths reaches load_plan."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from portfolio_mkt.cli import COMMAND_MODULES, build_parser, main

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("cvxpy", "numpy", "pandas", "scipy", "matplotlib", "sklearn", "pydantic", "clarabel",
         "osqp", "highspy", "jinja2", "joblib", "tqdm")

# Run the command line with the package's __init__ replaced by an empty namespace, so the test
# measures what cli.py and the command modules import themselves, whatever __init__ does.
_PROBE = textwrap.dedent("""
    import sys, types, io, contextlib, time
    pkg = types.ModuleType("portfolio_mkt"); pkg.__path__ = [{path!r}]
    sys.modules["portfolio_mkt"] = pkg
    t = time.perf_counter()
    from portfolio_mkt.cli import main
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main({argv!r}, out=buf)
    elapsed = time.perf_counter() - t
    heavy = sorted(m for m in {heavy!r} if m in sys.modules)
    print(code, elapsed, ",".join(heavy) or "-")
""")


def _probe(argv: list[str]) -> tuple[int, float, list[str]]:
    code = _PROBE.format(path=str(REPO / "portfolio_mkt"), argv=argv, heavy=HEAVY)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert res.returncode == 0, res.stderr
    rc, elapsed, heavy = res.stdout.split()
    return int(rc), float(elapsed), [] if heavy == "-" else heavy.split(",")


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["plan", "--help"], ["demo", "--help"],
                                  ["fit", "--help"], ["frontier", "--help"]])
def test_help_and_list_load_no_heavy_module(argv):
    rc, _, heavy = _probe(argv)
    assert rc == 0
    assert heavy == [], f"`portfolio-mkt {' '.join(argv)}` imported {heavy}"


def test_help_with_the_real_package_is_light_once_init_is_lazy():
    """With the real ``portfolio_mkt/__init__``: --help is light if __init__ itself is."""
    res = subprocess.run([sys.executable, "-c", "import sys, portfolio_mkt; "
                          "print('cvxpy' in sys.modules)"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    if res.stdout.strip() == "True":
        pytest.skip("portfolio_mkt/__init__.py imports cvxpy eagerly (core's file): --help "
                    "cannot be light until it loads the engine lazily")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", "import sys; from portfolio_mkt.cli import main;"
                          " main(['list']);"
                          f" print(sorted(m for m in {HEAVY!r} if m in sys.modules))"],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert res.stdout.strip().splitlines()[-1] == "[]"


def test_registry_uses_every_installed_module():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"demo", "list", "plan", "frontier", "scenarios", "fit"} <= set(sub.choices)
    import pkgutil

    import portfolio_mkt.commands as commands

    on_disk = {m.name for m in pkgutil.iter_modules(commands.__path__)
               if not m.name.startswith("_")}
    assert set(COMMAND_MODULES) == on_disk, "every command module is registered, statically"
    for name in COMMAND_MODULES:
        assert callable(getattr(commands, name).register)
    for expected in ("replan", "record", "actuals", "monitor", "override", "backtest", "deals",
                     "fit-kpi"):
        assert expected in sub.choices


def _help_text(*argv: str) -> str:
    buf = io.StringIO()
    assert main([*argv, "--help"], out=buf, err=io.StringIO()) == 0
    return " ".join(buf.getvalue().split())


@pytest.mark.parametrize("command,plan,claimed", [
    ("frontier", "us_ru_creators", ["frontier.csv", "frontier.parquet", "frontier.png",
                                    "strategy_cost_at_equal_risk.csv",
                                    "strategy_cost_at_equal_risk.parquet"]),
    ("scenarios", "monthly_100k", ["scenarios.csv", "scenarios.parquet", "scenario_spend.csv",
                                   "scenario_spend.parquet"]),
])
def test_help_claims_only_files_that_are_written(command, plan, claimed, tmp_path):
    text = _help_text(command)
    assert "report.html" not in text and "PNG plots" not in text
    for stem in {c.split(".")[0] for c in claimed}:
        assert stem in text
    out = tmp_path / "out"
    code = main([command, plan, "--out", str(out), "--points", "4"] if command == "frontier"
                else [command, plan, "--out", str(out)], out=io.StringIO(), err=io.StringIO())
    assert code == 0
    written = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert written == set(claimed)


def test_fit_help_does_not_claim_a_report():
    text = _help_text("fit")
    assert "report.html" not in text and "estimates" in text


def test_allow_outside_paths_reaches_load_plan(monkeypatch):
    from portfolio_mkt.commands import _common

    seen = {}

    def fake_load_plan(path, allow_outside=False):
        seen["allow_outside"] = allow_outside
        raise _common.Unavailable("stop here")

    import portfolio_mkt.plan as plan_module

    monkeypatch.setattr(plan_module, "load_plan", fake_load_plan)
    err = io.StringIO()
    assert main(["plan", "x.yaml", "--allow-outside-paths"], out=io.StringIO(), err=err) == 2
    assert seen == {"allow_outside": True}
    main(["plan", "x.yaml"], out=io.StringIO(), err=io.StringIO())
    assert seen == {"allow_outside": False}


def test_progress_bars_wait_before_showing():
    """Bars appear only for work that lasts more than a couple of seconds."""
    from portfolio_mkt.report._analysis import _progress

    bar = _progress(3, "x", True)
    try:
        assert bar.delay >= 1.0 and not bar.disable
    finally:
        bar.close()
    assert _progress(3, "x", False).disable


def test_no_solver_banner_on_the_terminal(tmp_path):
    """HiGHS prints a banner on its first use; the command line never shows it."""
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, "-m", "portfolio_mkt.cli", "frontier", "us_ru_weekly",
                          "--points", "4", "--no-progress"], capture_output=True, text=True,
                         env=env, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Efficient frontier" in res.stdout
    assert "HiGHS" not in res.stdout and "HiGHS" not in res.stderr
