"""The ``deals`` sub-command (registered on a fresh parser until the registry lands)."""

from __future__ import annotations

import argparse
import textwrap

from portfolio_mkt.commands import integer as cmd


def _run(argv):
    ap = argparse.ArgumentParser()
    cmd.register(ap.add_subparsers())
    args = ap.parse_args(argv)
    return args.func(args)


DEALS = textwrap.dedent("""
    deals:
      tickets:
        - {fee: 20000}
      limits:
        - {where: {market: US, channel: influencer}, at_most: 1}
    exploration:
      share: 0.1
      candidates:
        new_creator_1: {mean: 3.0, se: 0.8, noise_sd: 20000}
        new_creator_2: {mean: 1.0, se: 0.2, noise_sd: 20000}
""")


def test_deals_command_prints_plan_and_tests(tmp_path, capsys):
    f = tmp_path / "deals.yaml"
    f.write_text(DEALS)
    assert _run(["deals", "us_ru_creators", "--deals", str(f)]) == 0
    out = capsys.readouterr().out
    assert "Whole-piece plan 'us_ru_creators': optimal" in out
    assert "new_creator_1" in out and "weeks" in out
    assert "Constraint prices are those of the continuous relaxation" in out
    # at most one US influencer is booked
    us_inf = [ln for ln in out.splitlines() if ln.startswith("us_creator") and "True" in ln]
    assert len(us_inf) <= 1


def test_bad_deals_file_exits_2(tmp_path, capsys):
    f = tmp_path / "deals.yaml"
    f.write_text("deals:\n  tickets:\n    - {fe: 1}\n")
    assert _run(["deals", "us_ru_creators", "--deals", str(f)]) == 2
    assert "deals.tickets.0" in capsys.readouterr().err


def test_infeasible_deals_exit_1(tmp_path, capsys):
    f = tmp_path / "deals.yaml"
    f.write_text("deals:\n  tickets:\n    - {fee: 500000, name: huge}\n"
                 "  limits:\n    - {at_least: 4, name: four}\n")
    assert _run(["deals", "us_ru_creators", "--deals", str(f), "--no-min-spend"]) == 1
    err = capsys.readouterr().err
    # the 500K ticket cannot meet the RU creator locked at exactly 50K: the smallest conflict
    assert "huge" in err and "committed_dmitri" in err
