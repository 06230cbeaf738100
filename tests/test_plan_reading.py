"""Reading plan files safely: bounds, aliases, duplicate keys, data paths, plain-word messages."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portfolio_mkt.exceptions import PlanFileError
from portfolio_mkt.plan import load_plan

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
name: small
outcome: revenue
assets:
  - {id: a, market: US, channel: search, expected_return: 3.0, volatility: 0.2, current: 50}
  - {id: b, market: RU, channel: social, expected_return: 2.0, volatility: 0.3, current: 50}
budget: 100
"""


def write(folder: Path, text: str | bytes, name: str = "plan.yaml") -> Path:
    p = folder / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(textwrap.dedent(text))
    return p


def error_of(path: Path, **kwargs) -> PlanFileError:
    with pytest.raises(PlanFileError) as info:
        load_plan(path, **kwargs)
    return info.value


# ------------------------------------------------------------------------------ YAML bounds


def alias_bomb(levels: int) -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    return "\n".join(lines) + "\nname: bomb\nbudget: 100\n"


def test_alias_bomb_refused_at_once_with_line(tmp_path):
    path = write(tmp_path, alias_bomb(12))  # 9 * 7**11 strings when expanded
    t0 = time.perf_counter()
    err = error_of(path)
    assert time.perf_counter() - t0 < 1.0
    assert err.line == 1 and "anchors (&a) are not allowed" in str(err)


def test_alias_refused_even_without_anchor_first(tmp_path):
    # an alias to an anchor defined earlier: the anchor is refused first, on its line
    err = error_of(write(tmp_path, GOOD + "description: &d hello\noutcome2: *d\n"))
    assert err.line == 7 and "anchors (&d)" in str(err)


@pytest.mark.parametrize("style", ["block", "flow"])
def test_deep_nesting_is_a_clear_error(tmp_path, style):
    depth = 5000 if style == "flow" else 300
    if style == "flow":
        text = "name: deep\nbudget: 100\nassets: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "name: deep\nbudget: 100\n" + "".join(
            " " * i + f"k{i}:\n" for i in range(depth)
        ) + " " * depth + "v: 1\n"
    err = error_of(write(tmp_path, text))
    assert "nested more than 20 levels" in str(err)
    assert err.line is not None


def test_deep_nesting_in_toml(tmp_path):
    text = 'name = "deep"\nbudget = 100\nassets = ' + "[" * 3000 + "]" * 3000 + "\n"
    err = error_of(write(tmp_path, text, "plan.toml"))
    assert "nested more than 20 levels" in str(err)


def test_deep_nesting_exits_2_on_the_command_line(tmp_path):
    text = "name: deep\nbudget: 100\nassets: " + "[" * 5000 + "]" * 5000 + "\n"
    path = write(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-m", "portfolio_mkt.cli", "plan", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    assert "nested more than 20 levels" in proc.stderr


def test_file_size_bounded(tmp_path):
    text = GOOD + "description: " + "x" * 300_000 + "\n"
    err = error_of(write(tmp_path, text))
    assert "larger than 262,144 bytes" in str(err)


def test_duplicate_key_names_both_lines(tmp_path):
    text = GOOD.replace("budget: 100\n", "budget: 1000000\nrisk: {risk_aversion: 1}\nbudget: 100\n")
    err = error_of(write(tmp_path, text))
    assert "'budget' appears twice (lines 6 and 8)" in str(err)
    assert err.line == 8 and err.field == "budget"


def test_duplicate_key_inside_a_list_item(tmp_path):
    text = GOOD + "floors:\n  - where: {market: US}\n    amount: 10\n    amount: 20\n"
    err = error_of(write(tmp_path, text))
    assert "'amount' appears twice (lines 9 and 10)" in str(err)
    assert err.field == "floors[0].amount"


def test_non_text_key_quoted_hint(tmp_path):
    err = error_of(write(tmp_path, GOOD + "current: {2024: 5}\n"))
    assert "2024" in str(err) and "quotes" in str(err) and err.line == 7


def test_extremely_long_integer(tmp_path):
    err = error_of(write(tmp_path, GOOD.replace("budget: 100", "budget: " + "9" * 6000)))
    assert isinstance(err, PlanFileError)


def test_python_tags_refused(tmp_path):
    text = GOOD + "description: !!python/object/apply:os.system ['echo hacked']\n"
    err = error_of(write(tmp_path, text))
    assert "not valid YAML" in str(err) and err.line == 7


# ------------------------------------------------------------------------------ messages


def test_empty_file_says_empty(tmp_path):
    for text in ("", "# only a comment\n"):
        err = error_of(write(tmp_path, text))
        assert "empty" in str(err) and "NoneType" not in str(err)


def test_toml_in_a_yaml_file(tmp_path):
    err = error_of(write(tmp_path, 'name = "x"\nbudget = 100\n'))
    assert "looks like TOML" in str(err) and ".toml" in str(err) and "got str" not in str(err)


def test_yaml_in_a_toml_file(tmp_path):
    err = error_of(write(tmp_path, GOOD, "plan.toml"))
    assert "looks like YAML" in str(err)


def test_a_list_is_not_a_plan(tmp_path):
    err = error_of(write(tmp_path, "- a\n- b\n"))
    assert "holds a list" in str(err)


@pytest.mark.parametrize("data", [b"\x00\x01\x02binary", b"\xff\xfe\xfa junk: 1\n"])
def test_binary_junk(tmp_path, data):
    err = error_of(write(tmp_path, data))
    assert "binary" in str(err)


# ------------------------------------------------------------------------------ data paths


def plan_with_assets(folder: Path, assets: str, name: str = "plan.yaml") -> Path:
    return write(folder, f"name: p\nassets: {assets}\nbudget: 100\n", name)


def test_path_outside_folder_refused_and_allowed_explicitly(tmp_path):
    (tmp_path / "assets.csv").write_text("id,expected_return\na,1.0\nb,2.0\n")
    sub = tmp_path / "plans"
    sub.mkdir()
    path = plan_with_assets(sub, "../assets.csv")
    err = error_of(path)
    assert "outside the plan's folder" in str(err) and "--allow-outside-paths" in str(err)
    assert "allow_outside=True" in str(err) and err.line == 2
    plan = load_plan(path, allow_outside=True)
    assert list(plan.expected_return) == [1.0, 2.0]


def test_absolute_path_refused(tmp_path):
    err = error_of(plan_with_assets(tmp_path, "/etc/passwd"))
    assert "outside the plan's folder" in str(err)
    assert "root:" not in str(err)


def test_symlink_out_of_the_folder_refused(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "assets.csv").write_text("id,expected_return\na,1.0\n")
    plans = tmp_path / "plans"
    plans.mkdir()
    os.symlink(secret / "assets.csv", plans / "assets.csv")
    err = error_of(plan_with_assets(plans, "assets.csv"))
    assert "outside the plan's folder" in str(err)


def test_relative_paths_resolve_against_the_plan_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "assets.csv").write_text("id,expected_return\na,1.0\n")
    path = plan_with_assets(tmp_path, "assets.csv")
    monkeypatch.chdir("/")
    assert load_plan(path).expected_return["a"] == 1.0


def test_device_refused(tmp_path):
    err = error_of(plan_with_assets(tmp_path, "/dev/zero"), allow_outside=True)
    assert "not a regular file" in str(err)


@pytest.mark.parametrize("field", ["assets", "history", "covariance"])
def test_file_contents_never_echoed(tmp_path, field):
    marker = "root:x:0:0:SECRET-MARKER:/root:/bin/bash"
    (tmp_path / "passwd").write_text(marker + "\ndaemon:x:1:1:SECRET-TWO:/usr/sbin\n")
    if field == "assets":
        text = "name: p\nassets: passwd\nbudget: 100\n"
    elif field == "history":
        text = "name: p\nhistory: passwd\nbudget: 100\n"
    else:
        text = ("name: p\nassets:\n  - {id: a, expected_return: 1}\n"
                "covariance: passwd\nbudget: 100\n")
    err = error_of(write(tmp_path, text))
    assert "SECRET" not in str(err) and "root:x" not in str(err), str(err)


def test_pure_python_reader_refuses_the_same(tmp_path, monkeypatch):
    """Without libyaml the checks run while composing, with the same messages."""
    from portfolio_mkt.plan import _read

    monkeypatch.setattr(_read, "_FastLoader", None)
    assert "anchors (&a)" in str(error_of(write(tmp_path, alias_bomb(12))))
    deep = "name: deep\nbudget: 100\nassets: " + "[" * 5000 + "]" * 5000 + "\n"
    assert "nested more than 20" in str(error_of(write(tmp_path, deep)))
    dup = GOOD.replace("budget: 100\n", "budget: 1000000\nbudget: 100\n")
    assert "appears twice (lines 6 and 7)" in str(error_of(write(tmp_path, dup)))
    assert load_plan(write(tmp_path, GOOD.replace("budget: 100", "budget: 1e2"))).budget == 100


def test_reading_time_grows_with_size_not_with_aliases(tmp_path):
    """A plan of the largest size is read (and refused for a duplicate at its end) in time
    proportional to its size: seconds, not the minutes of an alias expansion."""
    rows = "".join(f"  - {{id: a{i}, expected_return: 1.5, current: 10}}\n" for i in range(20_000))
    text = "name: big\nbudget: 100\nassets:\n" + rows
    text = text[: 260_000].rsplit("\n", 1)[0] + "\n"
    path = write(tmp_path, text + "budget: 1\n")  # a duplicate key at the very end
    t0 = time.perf_counter()
    err = error_of(path)
    assert "appears twice" in str(err)
    assert time.perf_counter() - t0 < 8.0  # about 2 s with eight helpers on two cores


def test_describe_plan_uses_the_bounded_reader(tmp_path):
    from portfolio_mkt.plan import describe_plan

    deep = "description: x\nassets: " + "[" * 5000 + "]" * 5000 + "\n"
    assert describe_plan(write(tmp_path, deep)) == ""
    assert describe_plan(write(tmp_path, alias_bomb(12), "b.yaml")) == ""
    assert describe_plan(write(tmp_path, "description: hello\n", "c.yaml")) == "hello"


def test_mutated_plan_text_fails_only_with_plan_errors(tmp_path_factory):
    """Random edits of a valid plan's text (YAML punctuation, duplicated or dropped lines,
    control characters) load or raise PlanFileError, never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from portfolio_mkt.exceptions import PortfolioMktError

    base = GOOD + "floors: [{name: us, where: {market: US}, amount: 10}]\nshift_limit: 0.5\n"
    folder = tmp_path_factory.mktemp("mutate")
    pieces = st.sampled_from(["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\t", "\x00", "'",
                              '"', "#", "!!", "<<: ", ".nan", "1e999", "\u202e", "\ufeff",
                              "9" * 50, "\n  ", "---\n", "= "])
    edit = st.tuples(st.sampled_from(["insert", "dup_line", "drop_line"]),
                     st.integers(0, 10_000), pieces)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(edits=st.lists(edit, min_size=1, max_size=4),
           fmt=st.sampled_from(["plan.yaml", "plan.toml"]))
    def check(edits, fmt):
        text = base
        for kind, pos, piece in edits:
            lines = text.split("\n")
            i = pos % max(len(lines), 1)
            if kind == "insert":
                j = pos % (len(text) + 1)
                text = text[:j] + piece + text[j:]
            elif kind == "dup_line":
                text = "\n".join([*lines[: i + 1], lines[i], *lines[i + 1:]])
            else:
                text = "\n".join(lines[:i] + lines[i + 1:])
        path = folder / fmt
        path.write_text(text, encoding="utf-8")
        try:
            plan = load_plan(path)
            plan.to_problem()
        except PlanFileError as exc:
            assert str(path) in str(exc)
        except PortfolioMktError:
            pass

    check()
