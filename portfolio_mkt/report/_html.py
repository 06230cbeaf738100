"""One self-contained HTML page per plan: inline CSS, figures as base64 PNG, no network."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from typing import Any

import pandas as pd

__all__ = ["render_html", "SECTIONS"]

#: Section id -> heading, in page order (tests check that each one is present).
SECTIONS = {
    "summary": "The recommendation in brief",
    "recommendation": "Recommended spend against current spend",
    "frontier": "Risk and return: the efficient frontier",
    "response-curves": "Response curves: where the next dollar still works",
    "marginal-roi": "Marginal ROI by asset",
    "constraint-prices": "What each strategic constraint costs",
    "scenarios": "Scenarios: what if",
    "confidence": "How sure we are: confidence ranges",
    "bias-audit": "Is the data biased? Bias audit",
    "approvals": "What needs a human: approval flags",
    "assumptions": "Assumptions and notes",
}

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2733;
background:#f6f8fa;line-height:1.45}
main{max-width:1020px;margin:0 auto;padding:24px 28px 60px;background:#fff}
h1{font-size:1.6em;margin:0 0 4px} h2{font-size:1.2em;margin:34px 0 8px;border-bottom:2px solid
#e4e8ee;padding-bottom:4px} .sub{color:#5b6875;margin:0 0 16px}
table{border-collapse:collapse;font-size:.88em;margin:8px 0 4px}
th,td{padding:4px 9px;border-bottom:1px solid #e4e8ee;text-align:right}
th{background:#f0f3f7;font-weight:600} td:first-child,th:first-child{text-align:left}
td.txt{text-align:left} .up{color:#1f7a3f} .down{color:#b23b2e}
.kpis{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0}
.kpi{background:#f0f5fb;border-radius:8px;padding:10px 14px;min-width:170px}
.kpi b{display:block;font-size:1.35em} .kpi span{color:#5b6875;font-size:.85em}
.na{background:#fff8e6;border-left:4px solid #e0a800;padding:8px 12px;color:#5c4a00}
.flag{background:#fdecea;border-left:4px solid #c0392b;padding:6px 12px;margin:4px 0}
.ok{background:#eaf7ee;border-left:4px solid #2a9d55;padding:6px 12px}
img{max-width:100%;height:auto;margin:6px 0} ul{margin:6px 0 6px 18px;padding:0}
footer{color:#7b8794;font-size:.8em;margin-top:40px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _money(x: float, cur: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{cur}{x:,.0f}"


def _num(x: Any, digits: int = 4) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if math.isnan(v):
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _pct(x: Any, signed: bool = True) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(v):
        return "–"
    return f"{v:+.1%}" if signed else f"{v:.1%}"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return f'<p class="na">The {_e(alt)} figure could not be drawn.</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _na(reason: str) -> str:
    return f'<p class="na">Not available for this plan: {_e(reason.rstrip(". "))}.</p>'


def _table(frame: pd.DataFrame, formats: dict[str, Any] | None = None,
           index_label: str | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_e(c)}</th>" for c in [index_label or frame.index.name or ""]
                   + list(frame.columns))
    rows = []
    for idx, r in frame.iterrows():
        cells = [f'<td class="txt">{_e(idx)}</td>']
        for c in frame.columns:
            v = r[c]
            fmt = formats.get(c)
            if fmt is not None:
                txt, cls = fmt(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                txt, cls = _num(v), ""
            else:
                txt, cls = ("" if v is None or (isinstance(v, float) and math.isnan(v))
                            else _e(v)), "txt"
            cells.append(f'<td class="{cls}">{txt}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _signed_money(cur: str) -> Any:
    def fmt(v: Any) -> tuple[str, str]:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return "–", ""
        if math.isnan(x):
            return "–", ""
        cls = "up" if x > 0.5 else "down" if x < -0.5 else ""
        sign = "+" if x > 0.5 else "−" if x < -0.5 else ""
        return f"{sign}{cur}{abs(x):,.0f}", cls
    return fmt


def _signed_pct(v: Any) -> tuple[str, str]:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–", ""
    if math.isnan(x):
        return "new", "up"
    return _pct(x), "up" if x > 0.0005 else "down" if x < -0.0005 else ""


def _plain_pct(v: Any) -> tuple[str, str]:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–", ""
    if math.isnan(x):
        return "–", ""
    if abs(x) < 1e-6:
        return "0.0%", ""
    if abs(x) < 0.001:
        return ("<0.1%" if x > 0 else ">−0.1%"), ""
    return _pct(x), "up" if x > 0.0005 else "down" if x < -0.0005 else ""


def _small(v: Any, scale: float) -> tuple[str, str]:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "–", ""
    if math.isnan(x):
        return "–", ""
    return (_num(0.0) if abs(x) < scale else _num(x)), ""


def _summary(run: Any) -> str:
    a = run.allocation
    cur = run.currency
    t = run.table
    kpis = [
        (f"{_num(a.expected_outcome)}", f"expected {run.outcome}"),
        (f"±{_num(a.risk)}", f"risk (one standard deviation of {run.outcome})"),
        (_money(float(t['recommended'].sum()), cur), f"spent of a {_money(a.budget, cur)} budget"),
    ]
    lines = []
    if run.current_point is not None:
        gain = a.expected_outcome - run.current_point[1]
        rel = gain / run.current_point[1] if run.current_point[1] else float("nan")
        kpis.append((f"{gain:+,.0f}", f"{run.outcome} vs keeping current spend ({_pct(rel)})"))
        lines.append(
            f"Keeping today's spend would give about {_num(run.current_point[1])} {run.outcome} "
            f"with risk ±{_num(run.current_point[0])}; the recommendation gives "
            f"{_num(a.expected_outcome)} with risk ±{_num(a.risk)}."
        )
    if run.outcome_interval is not None:
        lo, hi = run.outcome_interval
        lines.append(f"Allowing for estimation uncertainty, the expected {run.outcome} lies "
                     f"between {_num(lo)} and {_num(hi)} (bootstrap interval).")
    if "change" in t.columns:
        up = t[t["change"] > 0.005 * a.budget].sort_values("change", ascending=False)
        down = t[t["change"] < -0.005 * a.budget].sort_values("change")
        if len(up):
            lines.append("Increase: " + ", ".join(
                f"{i} ({_signed_money(cur)(r['change'])[0]})" for i, r in up.iterrows()) + ".")
        if len(down):
            lines.append("Decrease: " + ", ".join(
                f"{i} ({_signed_money(cur)(r['change'])[0]})" for i, r in down.iterrows()) + ".")
    market = t["market"] if "market" in t.columns else None
    if market is not None and market.astype(str).str.len().gt(0).all() and market.nunique() > 1:
        def split(spend: pd.Series) -> str:
            g = spend.groupby(market.reindex(spend.index)).sum()
            g = g / g.sum()
            return " / ".join(f"{k} {v:.0%}" for k, v in g.sort_values(ascending=False).items())

        txt = f"Split by market: {split(t['recommended'])}"
        if getattr(run, "model_only", None) is not None:
            txt += (f"; the model alone, without the strategy constraints, would choose "
                    f"{split(run.model_only.spend)}")
        lines.append(txt + ".")
    binding = [n for n in a.binding if n != "budget"]
    if binding:
        lines.append("Strategy constraints that hold the plan in place: " + ", ".join(binding)
                     + " (their price is below).")
    else:
        lines.append("No strategy constraint binds: the recommendation is what returns and "
                     "risk alone favour.")
    n_flags = 0 if run.approvals is None else len(run.approvals)
    lines.append(f"{n_flags} change(s) need a human's approval." if n_flags else
                 "No change needs approval under the plan's rules.")
    k = "".join(f'<div class="kpi"><b>{_e(v)}</b><span>{_e(s)}</span></div>' for v, s in kpis)
    return f'<div class="kpis">{k}</div><ul>' + "".join(f"<li>{_e(x)}</li>" for x in lines) \
        + "</ul>"


def _frontier_cost(run: Any) -> str:
    eq = getattr(run, "equal_risk", None)
    if eq is not None:
        return (
            "<p>At the same risk as the recommendation (±"
            f"{_num(eq['risk'])}), the model alone — without the strategy constraints — "
            f"would reach {_num(eq['outcome_without'])} expected {_e(run.outcome)}: the "
            f"strategy costs {_num(eq['outcome_cost'])} "
            f"({_plain_pct(eq['outcome_cost_pct'])[0].lstrip('+')}) at equal risk.</p>"
        )
    cost = getattr(run, "frontier_cost", None)
    if cost is None or not len(cost) or run.chosen_point is None:
        return ""
    c = cost.dropna(subset=["outcome_cost"])
    if not len(c):
        return ""
    risk = run.chosen_point[0]
    row = c.iloc[int((c["risk"] - risk).abs().to_numpy().argmin())]
    without = float(row.get("outcome_without", float("nan")))
    pct = float(row["outcome_cost"]) / without if without else float("nan")
    return (
        "<p>The dashed curve is what the model alone could reach without the strategy "
        f"constraints. At a risk of about ±{_num(row['risk'])}, the strategy costs about "
        f"{_num(row['outcome_cost'])} expected {_e(run.outcome)}"
        + (f" ({_plain_pct(pct)[0].lstrip('+')})" if pct == pct else "") + ".</p>"
    )


def _audit_frame(audit: pd.DataFrame) -> pd.DataFrame:
    a = audit.copy()
    if {"attribute", "group"} <= set(a.columns):
        a.index = pd.Index([f"{r.attribute}: {r.group}" for r in a.itertuples()], name="group")
        a = a.drop(columns=["attribute", "group"])
    keep = {"periods_observed": "periods observed", "share_of_rows": "share of rows",
            "share_of_spend": "share of spend", "share_of_outcome": "share of outcome",
            "return": "return", "effective_n": "effective sample size",
            "relative_se": "relative error", "flagged": "flagged", "reason": "reason"}
    cols = [c for c in keep if c in a.columns]
    return a[cols].rename(columns=keep) if cols else a


def render_html(run: Any, figures: dict[str, bytes]) -> str:
    """Render the report of a solved plan as one self-contained HTML page.

    Parameters
    ----------
    run : PlanRun
        The solved plan (see :func:`portfolio_mkt.report.run_plan`).
    figures : dict
        Figure name -> PNG bytes (see :func:`portfolio_mkt.report.make_figures`).

    Returns
    -------
    str
        The HTML document. Sections whose inputs are unavailable say so.
    """
    cur = run.currency
    a = run.allocation
    body: dict[str, str] = {}
    body["summary"] = _summary(run)

    t = run.table.copy()
    fm = {
        "current": lambda v: (_money(float(v), cur), ""),
        "recommended": lambda v: (_money(float(v), cur), ""),
        "change": _signed_money(cur),
        "change_pct": _signed_pct,
        "share": lambda v: (_pct(v, signed=False), ""),
        "expected_outcome": lambda v: (_num(v), ""),
        "marginal_roi": lambda v: (_num(v, 3), ""),
        "confidence": lambda v: (_pct(v, signed=False), ""),
    }
    t = t.rename_axis("asset")
    if "marginal_roi" in t.columns and float(t["marginal_roi"].abs().max()) < 0.05:
        t["marginal_roi"] = t["marginal_roi"] * 1000.0
        t = t.rename(columns={"marginal_roi": f"{run.outcome} per extra {cur}1,000"})
        fm[f"{run.outcome} per extra {cur}1,000"] = lambda v: (_num(v, 3), "")
    t = t.rename(columns={"expected_outcome": f"expected {run.outcome}",
                          "change_pct": "change %"})
    fm[f"expected {run.outcome}"] = fm["expected_outcome"]
    fm["change %"] = fm["change_pct"]
    body["recommendation"] = (
        "<p>Spend per asset: today, recommended, and the change. Expected "
        f"{_e(run.outcome)} is read on each asset's response curve at the recommended spend.</p>"
        + _table(t, fm) + _img(figures.get("allocation"), "current vs recommended spend")
    )

    if run.frontier is not None and len(run.frontier):
        body["frontier"] = (
            "<p>Each point is the best expected outcome for its level of risk. The star is the "
            "recommendation; the square is today's spend. Moving right buys more expected "
            f"{_e(run.outcome)} with more uncertainty.</p>" + _frontier_cost(run)
            + _img(figures.get("frontier"), "efficient frontier")
        )
    else:
        body["frontier"] = _na(run.unavailable.get("frontier", "no frontier was computed"))

    curve_note = (
        "Curves flatten as spend grows (saturation): the slope at the star is what the next "
        "dollar earns." if run.curves else
        "This plan has no response curves: returns are straight lines (every dollar earns the "
        "same), so diminishing returns are not modelled; add a 'response' section."
    )
    body["response-curves"] = f"<p>{_e(curve_note)}</p>" + _img(
        figures.get("response_curves"), "response curves")

    body["marginal-roi"] = (
        f"<p>{_e(run.outcome)} from the next unit of money in each asset at the recommendation. "
        "Without risk and constraints, funded assets end with equal marginal ROI; gaps show "
        "where risk or strategy holds spend in place.</p>"
        + _img(figures.get("marginal_roi"), "marginal ROI")
    )

    if run.prices is not None and len(run.prices):
        p = run.prices
        cols = [c for c in ("kind", "binding", "outcome_price", "outcome_price_pct",
                            "risk_change", "dual") if c in p.columns]
        tol_out = 1e-6 * max(abs(float(a.expected_outcome)), 1.0)
        tol_risk = 1e-6 * max(abs(float(a.risk)), 1.0)
        lines = []
        for name, r in p.iterrows():
            price = r.get("outcome_price")
            if price is None or (isinstance(price, float) and math.isnan(price)):
                lines.append(f"{name}: could not be priced ({r.get('message', '')}).")
                continue
            rc = float(r.get("risk_change", float("nan")))
            more = "higher" if rc > 0 else "lower"
            risk_txt = (f"without it risk would be {_num(abs(rc))} {more}"
                        if not math.isnan(rc) and abs(rc) > 1e-9 * max(a.risk, 1) else
                        "it does not change risk")
            if abs(float(price)) <= 1e-6 * max(abs(a.expected_outcome), 1.0):
                lines.append(f"{name} costs nothing at this plan (it does not bind).")
            else:
                lines.append(
                    f"{name} costs {_num(price)} expected {run.outcome} "
                    f"({_plain_pct(r.get('outcome_price_pct'))[0].lstrip('+')}); {risk_txt}."
                )
        body["constraint-prices"] = (
            "<p>Each strategic constraint was removed and the plan re-solved: the difference is "
            "what the strategy costs in expected outcome and what it buys in risk.</p><ul>"
            + "".join(f"<li>{_e(x)}</li>" for x in lines) + "</ul>"
            + _table(p[cols].rename(columns={"dual": "marginal price (dual)"}), {
                "outcome_price_pct": _plain_pct,
                "outcome_price": lambda v: _small(v, tol_out),
                "risk_change": lambda v: _small(v, tol_risk),
                "binding": lambda v: (_e(v), "txt")})
        )
    else:
        body["constraint-prices"] = _na(run.unavailable.get(
            "prices", "this plan has no strategic constraints"))

    if run.scenarios is not None and len(run.scenarios):
        s = run.scenarios
        cols = [c for c in ("status", "budget", "expected_outcome", "outcome_change_pct",
                            "risk", "risk_change", "message") if c in s.columns]
        body["scenarios"] = (
            "<p>The same plan re-solved under other assumptions; changes are against the "
            "base.</p>" + _table(s[cols], {
                "budget": lambda v: (_money(float(v), cur), ""),
                "outcome_change_pct": _plain_pct,
                "risk_change": lambda v: _small(v, 1e-6 * max(abs(float(a.risk)), 1.0)),
                "status": lambda v: (_e(v), "txt"),
                "message": lambda v: (_e("" if v is None or v != v else v), "txt")})
        )
        if run.scenario_spend is not None:
            body["scenarios"] += "<p>Recommended spend per scenario:</p>" + _table(
                run.scenario_spend, {c: (lambda v: (_money(float(v), cur), ""))
                                     for c in run.scenario_spend.columns}, "asset")
    else:
        body["scenarios"] = _na(run.unavailable.get("scenarios", "no scenarios"))

    lo, hi = a.expected_outcome - a.risk, a.expected_outcome + a.risk
    no_cov = getattr(run.problem, "covariance", None) is None
    risk_range = (
        "<p>This plan has no covariance, so the spread of results around the expected "
        f"{_e(run.outcome)} is not modelled (add a 'covariance' section or volatilities).</p>"
    ) if no_cov else (
        f"<p>Outcome range from the risk model: in about two periods out of three the "
        f"{_e(run.outcome)} should land between {_num(lo)} and {_num(hi)} (expected "
        f"{_num(a.expected_outcome)} ± one standard deviation; about 19 in 20 between "
        f"{_num(a.expected_outcome - 2 * a.risk)} and {_num(a.expected_outcome + 2 * a.risk)})."
        " This is the noise in results; the uncertainty of the estimates themselves is "
        "below.</p>"
    )
    if run.outcome_interval is not None:
        ilo, ihi = run.outcome_interval
        risk_range += (f"<p>Estimation uncertainty: the expected {_e(run.outcome)} itself lies "
                       f"between {_num(ilo)} and {_num(ihi)} "
                       f"({_pct(run.confidence_level or 0.9, False)} bootstrap interval).</p>")
    if run.confidence is not None:
        c = run.confidence
        body["confidence"] = risk_range + (
            f"<p>{_pct(run.confidence_level or 0.9, False)} intervals (low end to high end) "
            "from re-estimating and re-solving on resampled history; 'confidence' is the "
            "share of resamples that agree on the direction of change.</p>"
            + _table(c.rename_axis("asset").rename(columns={
                "spend": "recommended", "lower": "low end", "upper": "high end"}),
                {k: (lambda v: (_money(float(v), cur), ""))
                 for k in ("current", "recommended", "low end", "high end")}
                | {"change": _signed_money(cur),
                   "direction": lambda v: (_e(v), "txt"),
                   "confidence": lambda v: (_pct(v, False), "")})
        )
    else:
        body["confidence"] = risk_range + _na(
            run.unavailable.get("confidence", "no confidence ranges"))

    if run.audit is not None:
        flags = "".join(f'<p class="flag">{_e(f)}</p>' for f in run.audit_flags) or \
            '<p class="ok">No group is under-represented in the history.</p>'
        body["bias-audit"] = (
            "<p>How much of the history each market and channel contributes. A model trained "
            "mostly on one market's data is least reliable for the others.</p>" + flags
            + _table(_audit_frame(run.audit), {
                k: (lambda v: (_pct(v, False), "")) for k in (
                    "share of rows", "share of spend", "share of outcome", "relative error")}
                | {"flagged": lambda v: ("yes" if bool(v) else "", "txt")})
        )
    else:
        body["bias-audit"] = _na(run.unavailable.get("audit", "no history"))

    if run.approvals is not None and len(run.approvals):
        msgs = run.approvals["message"] if "message" in run.approvals.columns else \
            run.approvals.astype(str).agg(" ".join, axis=1)
        body["approvals"] = "".join(f'<p class="flag">{_e(m)}</p>' for m in msgs)
    elif run.approvals is not None:
        body["approvals"] = '<p class="ok">No change needs approval under the plan\'s rules.</p>'
    else:
        body["approvals"] = _na("no approval rules were checked")

    notes = list(dict.fromkeys(run.notes))
    notes.append(f"Solved by {a.solver} ({a.status}) in {a.solve_time * 1000:.0f} ms; every "
                 "constraint was checked at the answer.")
    notes.append(f"Risk is the standard deviation of total {run.outcome} implied by the "
                 "covariance of returns; expected outcome comes from the response curves or "
                 "linear returns.")
    body["assumptions"] = "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"

    parts = [f'<section id="{sid}"><h2>{_e(head)}</h2>{body[sid]}</section>'
             for sid, head in SECTIONS.items()]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(run.name)} – budget recommendation</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{_e(run.name)}: budget recommendation</h1>"
        f"<p class=\"sub\">{_e(run.title)}</p>" + "".join(parts)
        + f"<footer>portfolio_mkt report, generated {stamp}. Self-contained: no network "
        "needed.</footer></main></body></html>\n"
    )
