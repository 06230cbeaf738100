"""The wide-data ``fit`` command in-process, and the Robyn / Meridian files end to end."""

from __future__ import annotations

import argparse
import io
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

from portfolio_mkt.commands.mmm import add_wide_arguments, register, run_fit_wide
from portfolio_mkt.mmm import MediaMixModel
from portfolio_mkt.simulate_kpi import simulate_kpi

REPO = Path(__file__).resolve().parents[1]


def _public() -> Path:
    for p in (os.environ.get("PORTFOLIO_MKT_PUBLIC_DATA"), REPO.parent / "shared/data/public",
              REPO.parent.parent / "shared/data/public"):
        if p and Path(p).is_dir():
            return Path(p)
    pytest.skip("public data sets (../shared/data/public) not found")


def _run(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["fit-kpi", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_fit_wide(args, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory):
    w = simulate_kpi(104, 3, seed=1)
    path = tmp_path_factory.mktemp("mmm") / "data.csv"
    w.data.to_csv(path, index=False)
    return path, w


def test_fit_prints_quality_decomposition_curves_and_writes(sim_csv, tmp_path):
    path, w = sim_csv
    budget = float(w.truth.historical_spend.sum())
    code, out, err = _run([str(path), "--kpi", "kpi", "--channels", "tv,search,social",
                           "--controls", "price", "--budget", str(budget),
                           "--out", str(tmp_path)])
    assert code == 0, err
    for text in ("Fit quality", "out_of_sample", "Decomposition", "baseline", "price",
                 "Planning curves", "logistic(", "Recommended spend"):
        assert text in out
    for f in ("fit_quality.csv", "decomposition.csv", "curves.csv", "parameters.csv",
              "allocation.csv"):
        assert (tmp_path / f).is_file()
    alloc = pd.read_csv(tmp_path / "allocation.csv", index_col=0)
    assert alloc["recommended"].sum() == pytest.approx(budget, rel=1e-6)
    # the command's allocation earns within 3% of the true optimum on this world
    _, best = w.truth.optimum(budget)
    assert w.truth.outcome(alloc["recommended"]) >= 0.97 * best


def test_bad_input_exit_code_2(sim_csv, tmp_path):
    path, _ = sim_csv
    code, _, err = _run([str(path), "--kpi", "revenue", "--channels", "tv"])
    assert code == 2 and "'revenue'" in err and "--kpi" in err
    code, _, err = _run([str(tmp_path / "missing.csv"), "--kpi", "kpi", "--channels", "tv"])
    assert code == 2 and "not found" in err
    code, _, err = _run([str(path), "--kpi", "kpi"])
    assert code == 2 and "--channels" in err


def test_add_wide_arguments_on_existing_fit_parser(sim_csv):
    # the long-format ``fit`` has a HISTORY positional and --out / --budget already
    path, _ = sim_csv
    p = argparse.ArgumentParser()
    p.add_argument("history")
    p.add_argument("--budget", type=float)
    p.add_argument("--out")
    add_wide_arguments(p, positional=False)
    args = p.parse_args([str(path), "--kpi", "kpi", "--channels", "tv,search,social"])
    assert args.channels == ["tv", "search", "social"]
    out, err = io.StringIO(), io.StringIO()
    assert run_fit_wide(args, out, err) == 0


def test_robyn_simulated_weekly_end_to_end(tmp_path):
    path = _public() / "robyn" / "dt_simulated_weekly.csv"
    code, out, err = _run([str(path), "--kpi", "revenue", "--date", "DATE",
                           "--channels", "tv_S,ooh_S,print_S,facebook_S,search_S",
                           "--controls", "competitor_sales_B,events,newsletter",
                           "--budget", "70000", "--out", str(tmp_path)])
    assert code == 0, err
    assert "events=event1" in out  # categorical control became dummies
    q = pd.read_csv(tmp_path / "fit_quality.csv", index_col=0)
    assert q.loc["out_of_sample", "mape"] < 0.15
    assert q.loc["in_sample", "r2"] > 0.85


def test_meridian_geo_media_several_geos():
    d = pd.read_csv(_public() / "meridian" / "geo_media.csv")
    d = d[d["geo"].isin(["Geo0", "Geo1", "Geo5", "Geo12"])].copy()
    d["revenue"] = d["conversions"] * d["revenue_per_conversion"]
    channels = [f"Channel{i}_spend" for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MediaMixModel(kpi="revenue", channels=channels, date="time", geo="geo",
                          controls=["competitor_activity_score_control",
                                    "sentiment_score_control"],
                          n_starts=1, pooling=10.0).fit(d)
    assert len(m.curves_) == 16
    assert m.fit_quality_.loc["out_of_sample", "r2"] > 0.8
    assert m.fit_quality_.loc["out_of_sample", "mape"] < 0.15
    alloc = __import__("portfolio_mkt").solve(m.problem())
    assert alloc.spend.sum() == pytest.approx(m.assets_["current_spend"].sum(), rel=1e-6)
