"""Hostile text in a plan never runs: not in the report (escaped by the template engine) and
not in a spreadsheet (CSV formula injection neutralised by the OWASP rule); Parquet stays exact.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from portfolio_mkt.plan import load_plan
from portfolio_mkt.report import make_figures, render_html, run_plan, write_outputs
from portfolio_mkt.report._io import csv_safe, neutralise_formulas

HOSTILE = Path(__file__).parent / "data" / "hostile_report_plan.yaml"

# every text field of the plan file reaches the page: the plan name, description, outcome,
# currency, asset ids, attribute values, tags, constraint names and scenario names
PAYLOADS = [
    "<script>alert('name')</script>",
    "<img src=x onerror=alert('desc')>",
    "<b onmouseover=alert(1)>revenue</b>",
    "<script>alert('cur')</script>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(2)>',
    "<iframe src=javascript:alert(3)>",
    'x" onerror="alert(4)',
    "<style>body{display:none}</style>",
    "<script>alert('floor')</script>",
    "<script>alert('sc')</script>",
]


@pytest.fixture(scope="module")
def hostile_out(tmp_path_factory):
    run = run_plan(load_plan(HOSTILE), n_points=4, progress=False, confidence=False)
    out = tmp_path_factory.mktemp("hostile")
    write_outputs(run, out)
    return run, out


def test_no_injected_element_or_attribute(hostile_out):
    run, out = hostile_out
    html = (out / "report.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["script", "iframe", "svg", "object", "embed"])
    assert all("kpi" in b.parent.get("class", []) for b in soup.find_all("b"))
    assert len(soup.find_all("style")) == 1  # the page's own stylesheet only
    for img in soup.find_all("img"):
        assert img["src"].startswith("data:image/png;base64,")
        assert set(img.attrs) == {"alt", "src"}
    for tag in soup.find_all(True):
        assert not [a for a in tag.attrs if a.lower().startswith("on")], tag.name
        assert set(tag.attrs) <= {"alt", "src", "class", "id", "lang", "charset", "name",
                                  "content", "scope"}, tag.attrs


def test_hostile_text_is_shown_as_text(hostile_out):
    run, out = hostile_out
    soup = BeautifulSoup((out / "report.html").read_text(encoding="utf-8"), "html.parser")
    text = soup.get_text(" ")
    for payload in PAYLOADS:
        if payload.startswith("<b "):  # the outcome label is shown inside longer phrases
            assert "onmouseover=alert(1)" in text
            continue
        assert payload in text, payload
    assert soup.title.get_text().startswith("<script>alert('name')</script>")


def test_every_template_value_is_escaped_in_a_bare_render():
    """The renderer itself escapes (not only data that went through the plan loader)."""
    run = run_plan(load_plan(HOSTILE), frontier=False, scenarios=False, prices=False,
                   confidence=False)
    run.notes.append("<script>alert('note')</script>")
    run.name = "<script>alert('renamed')</script>"
    html = render_html(run, make_figures(run))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in html


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://evil")'])
def test_formula_cells_neutralised(cell):
    assert neutralise_formulas(cell) == "'" + cell


@pytest.mark.parametrize("value", [-3.5, -1, 0, 2.0, "ok", "a=b", None, True])
def test_other_values_unchanged(value):
    assert neutralise_formulas(value) is value or neutralise_formulas(value) == value


def test_every_csv_written_is_neutralised_and_parquet_exact(hostile_out):
    run, out = hostile_out
    csvs = sorted(out.glob("*.csv"))
    assert len(csvs) >= 8
    dangerous = ("=", "+", "-", "@", "\t", "\r")
    for path in csvs:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        cells = list(frame.columns) + [v for col in frame.columns for v in frame[col]]
        for v in cells:
            if v.startswith(dangerous):
                # only numbers may start with a minus sign
                float(v)
    rec_csv = pd.read_csv(out / "recommendation.csv", index_col=0)
    assert "'=HYPERLINK(\"http://evil\")" in rec_csv.index
    assert (rec_csv.loc["'=HYPERLINK(\"http://evil\")", "channel"]) == "'-2+3"
    # negative numbers stay numbers
    assert pd.api.types.is_float_dtype(rec_csv["change"]) and (rec_csv["change"] < 0).any()
    # Parquet keeps the exact text and numbers
    rec_pq = pd.read_parquet(out / "recommendation.parquet")
    assert '=HYPERLINK("http://evil")' in rec_pq.index
    assert rec_pq.loc['=HYPERLINK("http://evil")', "channel"] == "-2+3"
    assert rec_pq["recommended"].to_numpy() == pytest.approx(
        run.table["recommended"].to_numpy(), rel=0, abs=0)


def test_csv_safe_keeps_numbers_and_shape():
    f = pd.DataFrame({"a": ["=x", "y"], "b": [-1.25, 2.0]}, index=pd.Index(["-i", "j"]))
    safe = csv_safe(f)
    assert safe.shape == f.shape
    assert list(safe["b"]) == [-1.25, 2.0]
    back = pd.read_csv(io.StringIO(safe.to_csv()), index_col=0)
    assert list(back.index) == ["'-i", "j"] and list(back["a"]) == ["'=x", "y"]
