# ruff: noqa: E501
"""Write the hostile plan corpus (run once; the files are committed).

Every file here is fed to ``load_plan`` + ``to_problem`` by ``tests/test_hostile_plans.py``.
A file whose name starts with ``ok_`` must load; every other file must fail with the
library's own error, quickly, naming the file.

    python tests/hostile/_make_corpus.py
"""

from __future__ import annotations

import os
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"

BASE = """\
name: hostile
outcome: revenue
currency: USD
assets:
  - {id: a, market: US, channel: search, tags: [brand], expected_return: 3.0, volatility: 0.2, current: 50}
  - {id: b, market: RU, channel: social, expected_return: 2.0, volatility: 0.3, current: 50}
budget: 100
"""

FIELDS_WRONG = {
    "name": "name: [1, 2]",
    "description": "description: {a: 1}",
    "outcome": "outcome: 5",
    "currency": "currency: [USD]",
    "assets": "assets: 5",
    "history": "history: 5",
    "covariance": "covariance: 5",
    "budget": "budget: [1]",
    "risk": "risk: 5",
    "current": "current: [1, 2]",
    "locks": "locks: 5",
    "roster": "roster: 5",
    "floors": "floors: 5",
    "caps": "caps: {a: 1}",
    "response_floors": "response_floors: 5",
    "shift_limit": "shift_limit: fast",
    "turnover": "turnover: [1]",
    "response": "response: 5",
    "halo": "halo: 5",
    "views": "views: 5",
    "approval": "approval: 5",
    "scenarios": "scenarios: 5",
    "min_spend": "min_spend: lots",
}

NESTED_WRONG = {
    "lock_minimum_text": "locks: [{asset: a, amount: 10, minimum: 'no'}]",
    "lock_amount_bool": "locks: [{asset: a, amount: true}]",
    "floor_unit": "floors: [{where: {market: US}, amount: 0.1, unit: percent}]",
    "floor_share_above_one": "floors: [{where: {market: US}, amount: 30, unit: share}]",
    "view_confidence_2": "views: [{asset: a, change: 0.1, confidence: 2}]",
    "view_both_targets": "views: [{asset: a, where: {market: US}, change: 0.1, confidence: 0.5}]",
    "risk_objective": "risk: {objective: maximise}",
    "risk_aversion_negative": "risk: {risk_aversion: -1}",
    "budget_mode_case": "budget_mode: CAP",
    "shift_relative_text": "shift_limit: {max_change: 0.5, relative: 'false'}",
    "halo_self": "halo: [{source: a, target: a, lift: 0.1}]",
    "halo_unknown": "halo: [{source: a, target: zz, lift: 0.1}]",
    "correlation_unknown_asset": ("covariance: {correlation: 0.1, pairs: "
                                  "[{assets: [a, zz], value: 0.5}]}"),
    "correlation_out_of_range": "covariance: {correlation: 1.5}",
    "response_unknown_family": "response: {family: cubic}",
    "response_negative_params": "response: {assets: {a: {family: log, params: {beta: -1, k: -1}}}}",
    "scenario_unknown_drop": "scenarios: [{name: x, drop_constraints: [nothing]}]",
    "scenario_duplicate_name": "scenarios: [{name: x}, {name: x}]",
    "scenario_budget_minus_100": "scenarios: [{name: x, budget_change: -1}]",
    "where_wrong_case": "floors: [{where: {market: us}, amount: 10}]",
    "where_unknown_attribute": "caps: [{where: {country: US}, amount: 10}]",
    "lock_over_budget": "locks: [{asset: a, amount: 1.0e+9}]",
    "unknown_field": "budjet: 100",
    "key_not_text": "2024: x",
    "key_yes_becomes_true": "yes: 1",
    "nan_in_current": "current: {a: .nan}",
    "nan_text_in_current": "current: {a: 'nan'}",
    "inf_in_current": "current: {a: .inf, b: 1}",
    "negative_current": "current: {a: -5, b: 1}",
    "timestamp_value": "turnover: 2024-01-01",
    "null_in_list": "floors: [null]",
    "approval_confidence_text": "approval: {min_confidence: high}",
}

BUDGETS = {
    "budget_true": "budget: true",
    "budget_quoted": 'budget: "100"',
    "budget_nan": "budget: .nan",
    "budget_nan_text": "budget: 'NaN'",
    "budget_inf": "budget: .inf",
    "budget_huge_float": "budget: 1.0e+400",
    "budget_huge_int": "budget: " + "9" * 400,
    "budget_more_digits_than_python_reads": "budget: " + "9" * 6000,
    "budget_negative": "budget: -100",
    "budget_zero": "budget: 0",
    "budget_null": "budget:",
    "budget_complex_text": "budget: 1+2j",
    "budget_list_of_text": "budget: [a, b]",
}

TEXT_FIELDS_XSS = "<script>alert(1)</script>"


def write(name: str, text: str | bytes) -> None:
    path = HERE / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def with_budget(line: str) -> str:
    return BASE.replace("budget: 100\n", line + "\n")


def main() -> None:
    for old in HERE.glob("*.*ml"):
        old.unlink()
    for old in DATA.glob("*"):
        old.unlink()
    DATA.mkdir(exist_ok=True)

    # ---- aliases, anchors, nesting
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        p, c = chr(96 + i), chr(97 + i)
        levels.append(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]")
    write("alias_bomb.yaml", "\n".join(levels) + "\nname: bomb\nbudget: 100\n")
    write("alias_bomb_in_a_field.yaml",
          BASE + "description: &d [" + ",".join(["x"] * 50) + "]\n"
          + "".join(f"x{i}: &x{i} [*{'d' if i == 0 else f'x{i - 1}'}, "
                    f"*{'d' if i == 0 else f'x{i - 1}'}]\n" for i in range(40)))
    write("alias_merge_key.yaml", "defaults: &d {amount: 10}\n" + BASE
          + "floors:\n  - <<: *d\n    where: {market: US}\n")
    write("anchor_only.yaml", BASE.replace("outcome: revenue", "outcome: &o revenue"))
    write("deep_flow_list.yaml", BASE + "floors: " + "[" * 5000 + "]" * 5000 + "\n")
    write("deep_flow_mapping.yaml", BASE + "risk: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n")
    write("deep_block_mapping.yaml",
          BASE + "".join(" " * i + f"k{i}:\n" for i in range(200)) + " " * 200 + "v: 1\n")
    write("deep_toml.toml", 'name = "deep"\nbudget = 100\nassets = '
          + "[" * 3000 + "]" * 3000 + "\n")
    write("deep_toml_inline_tables.toml", 'name = "deep"\nbudget = 100\nrisk = '
          + "{a = " * 2000 + "1" + "}" * 2000 + "\n")

    # ---- duplicate keys
    write("dup_budget.yaml", BASE.replace("budget: 100\n", "budget: 1000000\nbudget: 100\n"))
    write("dup_floor_amount.yaml",
          BASE + "floors:\n  - where: {market: US}\n    amount: 10\n    amount: 0\n")
    write("dup_key_in_flow_mapping.yaml",
          BASE.replace("expected_return: 3.0,", "expected_return: 3.0, expected_return: 30,"))
    write("dup_toml.toml", 'name = "x"\nbudget = 1000000\nbudget = 100\n')

    # ---- not a plan
    write("empty.yaml", "")
    write("comments_only.yaml", "# nothing here\n# at all\n")
    write("toml_in_yaml.yaml", 'name = "x"\nbudget = 100\n[[assets]]\nid = "a"\n')
    write("yaml_in_toml.toml", BASE)
    write("json_list.yaml", "[1, 2, 3]\n")
    write("scalar.yaml", "hello\n")
    write("multi_document.yaml", BASE + "---\n" + BASE)
    rng = random.Random(12)
    write("binary_junk.yaml", bytes(rng.randrange(256) for _ in range(4096)))
    write("nul_bytes.yaml", BASE.encode() + b"\x00\x00description: x\n")
    write("latin1.yaml", BASE.replace("hostile", "caf\u00e9").encode("latin-1"))
    write("utf16.yaml", BASE.encode("utf-16"))
    write("python_tag.yaml", BASE + "description: !!python/object/apply:os.system ['echo x']\n")
    write("python_name_tag.toml", BASE.replace("name: hostile", 'name = "x"'))

    # ---- budgets and numbers
    for name, line in BUDGETS.items():
        write(f"{name}.yaml", with_budget(line))
    write("huge_returns.yaml", BASE.replace("expected_return: 3.0", "expected_return: 1.0e+308")
          .replace("expected_return: 2.0", "expected_return: 1.0e+308")
          + "response: {family: exponential}\n")
    write("huge_volatility_overflow.yaml", BASE.replace("volatility: 0.2", "volatility: 1.0e+300")
          .replace("volatility: 0.3", "volatility: 1.0e+300")
          + "covariance: {volatility: absolute}\n")
    write("partial_current.yaml", BASE.replace(", current: 50}", "}", 1))
    write("partial_current_mapping.yaml", BASE.replace(", current: 50", "")
          + "current: {a: 40}\n")

    # ---- wrong types, every top-level field and some nested ones
    for field, line in FIELDS_WRONG.items():
        write(f"wrongtype_{field}.yaml", BASE + line + "\n"
              if field not in ("name", "outcome", "assets", "budget", "currency")
              else BASE.replace(next(x for x in BASE.splitlines()
                                     if x.startswith(field + ":")), line))
    for name, line in NESTED_WRONG.items():
        write(f"bad_{name}.yaml", BASE + line + "\n")

    # ---- data paths
    (DATA / "assets.csv").write_text("id,expected_return,current\na,1.0,10\nb,2.0,20\n")
    (DATA / "garbage.csv").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
    (DATA / "ragged.csv").write_text("id,expected_return\na,1.0,3,4\nb\n\"unclosed,2\n")
    (DATA / "passwd_like.csv").write_text(
        "root:x:0:0:SECRET-MARKER:/root:/bin/bash\ndaemon:x:1:1:SECRET:/usr/sbin\n")
    (DATA / "current_gap.csv").write_text("id,expected_return,current\na,1.0,10\nb,2.0,\n")
    (DATA / "inf_return.csv").write_text("id,expected_return\na,1.0\nb,inf\n")
    (DATA / "negative_min.csv").write_text("id,expected_return,min_spend\na,1.0,-5\nb,2.0,0\n")
    (DATA / "formula_ids.csv").write_text(
        "id,market,expected_return,current\n=cmd|' /C calc'!A0,US,1.0,10\n+1+1,RU,2.0,20\n"
        "-2+3,RU,1.5,5\n@SUM(1),US,1.2,5\n")
    (DATA / "history_junk.csv").write_text("period,asset,spend\n1,a,x\n2,b,\n")
    for link, target in (("link_passwd.csv", "/etc/passwd"), ("link_loop.csv", "link_loop.csv"),
                         ("link_up.csv", "../../../README.md"), ("link_zero.csv", "/dev/zero")):
        os.symlink(target, DATA / link)
    plans = {
        "path_parent": "assets: ../README.md",
        "path_parent_deep": "assets: ../../../../../../../../etc/passwd",
        "path_absolute_passwd": "assets: /etc/passwd",
        "path_home": "assets: ~/.bashrc",
        "path_dev_zero": "assets: /dev/zero",
        "path_dev_random_covariance": ("assets: data/assets.csv\ncovariance: /dev/urandom"),
        "path_proc": "assets: /proc/self/environ",
        "path_symlink_passwd": "assets: data/link_passwd.csv",
        "path_symlink_loop": "assets: data/link_loop.csv",
        "path_symlink_up": "assets: data/link_up.csv",
        "path_symlink_zero": "assets: data/link_zero.csv",
        "path_directory": "assets: data",
        "path_missing": "assets: data/nope.csv",
        "path_empty_string": "assets: ''",
        "path_history_passwd": "history: /etc/passwd",
        "path_history_inside_passwd_like": "history: data/passwd_like.csv",
        "path_assets_passwd_like": "assets: data/passwd_like.csv",
        "path_covariance_passwd_like": "assets: data/assets.csv\ncovariance: data/passwd_like.csv",
        "csv_garbage": "assets: data/garbage.csv",
        "csv_ragged": "assets: data/ragged.csv",
        "csv_current_gap": "assets: data/current_gap.csv",
        "csv_inf_return": "assets: data/inf_return.csv",
        "csv_negative_min_spend": "assets: data/negative_min.csv",
        "history_junk": "history: data/history_junk.csv",
    }
    for name, line in plans.items():
        write(f"{name}.yaml", f"name: {name}\n{line}\nbudget: 100\n")

    # ---- hostile strings: must load (escaping is the report's job)
    x = TEXT_FIELDS_XSS
    write("ok_script_in_every_text_field.yaml", f"""\
name: '{x}'
description: '{x} <img src=x onerror=alert(1)>'
outcome: '{x}'
currency: '{x}'
assets:
  - {{id: '{x}', market: '{x}', channel: '<b>c</b>', tier: '{x}', creator: '{x}', tags: ['{x}'], expected_return: 3.0, volatility: 0.2, current: 50, attributes: {{note: '{x}'}}}}
  - {{id: 'b"><svg onload=alert(1)>', market: RU, channel: social, expected_return: 2.0, volatility: 0.3, current: 50}}
budget: 100
locks: [{{asset: '{x}', amount: 10, name: '{x} lock'}}]
roster: {{assets: ['{x}', 'b"><svg onload=alert(1)>'], name: '{x} roster'}}
floors: [{{name: '{x} floor', where: {{market: '{x}'}}, amount: 5}}]
caps: [{{name: '{x} cap', where: {{tags: '{x}'}}, amount: 90}}]
response_floors: [{{name: '{x} rf', where: {{channel: '<b>c</b>'}}, level: 1}}]
shift_limit: {{max_change: 0.9, name: '{x} shift'}}
turnover: {{limit: 0.9, name: '{x} turnover'}}
views: [{{name: '{x} view', asset: '{x}', change: 0.1, confidence: 0.5}}]
approval: {{protect_tags: ['{x}']}}
scenarios:
  - {{name: '{x} scenario', description: '{x}', drop_constraints: ['{x} floor']}}
  - {{name: '{x} shock', cost_shocks: [{{where: {{creator: '{x}'}}, change: 0.2}}]}}
""")
    write("ok_formula_injection_ids.yaml",
          "name: '=HYPERLINK(\"http://x\")'\noutcome: '+1+1'\ncurrency: '@SUM(1)'\n"
          "assets: data/formula_ids.csv\nbudget: 100\n")
    write("ok_unicode_tricks.yaml", BASE.replace("name: hostile",
          "name: \"\u202eevil\u202c \u200b zero-width \U0001F600\"")
          .replace("currency: USD", "currency: \"\u20bd\""))
    write("ok_long_name.yaml", BASE.replace("name: hostile", "name: " + "n" * 100_000))
    write("ok_tiny_numbers.yaml", BASE.replace("expected_return: 2.0", "expected_return: 1.0e-300")
          .replace("volatility: 0.3", "volatility: 1.0e-300"))
    write("ok_many_assets.yaml", "name: many\nbudget: 1000000\nassets:\n" + "".join(
        f"  - {{id: a{i}, market: m{i % 7}, expected_return: {1 + (i % 13) / 10}, "
        f"volatility: 0.2, current: {1000 + i}}}\n" for i in range(300)))
    write("many_bad_rows.toml", 'name = "x"\nbudget = 100\n' + "".join(
        f'[[assets]]\nid = "a{i}"\nexpected_return = "x"\n' for i in range(1000)))
    write("many_bad_rows.yaml", "name: x\nbudget: 100\nassets:\n" + "".join(
        f"  - {{id: a{i}, expected_return: 'x', volatility: true}}\n" for i in range(1000)))
    write("ok_toml_plan.toml", """\
name = "<script>alert(1)</script>"
currency = "EUR"
budget = 100
[[assets]]
id = "a"
expected_return = 3.0
current = 50
[[assets]]
id = "b"
expected_return = 2.0
current = 50
""")


if __name__ == "__main__":
    main()
