"""One self-contained HTML page per plan: inline CSS, figures as base64 PNG, no network.

The page is rendered by a Jinja2 template with autoescape on. Python only builds plain data
(paragraph texts, table cells, figure bytes); it never writes markup, so a plan name, an asset
id, an attribute value, a constraint name or a currency containing ``<script>`` is shown as
text and never runs.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from ._format import DUST, as_float, money, number, percent, signed_money, week_label

__all__ = ["render_html", "SECTIONS", "OPTIONAL_SECTIONS"]

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

#: Sections shown only when the plan has them, after the recommendation, in this order.
OPTIONAL_SECTIONS = {
    "whole-pieces": "Whole pieces: no token amounts",
    "creator-deals": "Creator deals: tickets, rate cards and counts",
    "exploration": "Exploration tests: room for new assets",
    "weekly-plan": "The plan week by week",
    "plan-vs-actual": "Plan versus actual",
}

_MINUS = "−"
Cell = dict[str, str]
Block = dict[str, Any]


def _env() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("portfolio_mkt.report", "templates"),
        autoescape=True,  # every value is escaped, whatever the file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )


# ---- blocks ----------------------------------------------------------------------------------


def _p(text: str, cls: str = "") -> Block:
    return {"kind": "p", "text": text, "cls": cls}


def _ul(items: list[str]) -> Block:
    return {"kind": "ul", "items": list(items)}


def _img(png: bytes | None, alt: str) -> Block:
    data = base64.b64encode(png).decode("ascii") if png else ""
    return {"kind": "img", "alt": alt, "data": data}


def _na(reason: str) -> Block:
    return _p(f"Not available for this plan: {reason.rstrip('. ')}.", "na")


def _cell(text: str, cls: str = "num") -> Cell:
    return {"text": text, "cls": cls}


def _table(frame: pd.DataFrame, formats: dict[str, Callable[[Any], Cell]] | None = None,
           index_label: str = "", headers: dict[str, str] | None = None,
           caption: str = "") -> Block:
    """A table block: ``formats`` maps a column to a cell formatter, ``headers`` renames."""
    formats = formats or {}
    headers = headers or {}
    head = [index_label or str(frame.index.name or "")] + [headers.get(str(c), str(c))
                                                          for c in frame.columns]
    rows = []
    for idx, r in frame.iterrows():
        cells = [_cell(str(idx), "txt")]
        for c in frame.columns:
            v = r[c]
            fmt = formats.get(str(c))
            if fmt is not None:
                cells.append(fmt(v))
            elif as_float(v) is not None:
                cells.append(_cell(number(v, minus=_MINUS)))
            else:
                cells.append(_cell("" if v is None else str(v), "txt"))
        rows.append(cells)
    return {"kind": "table", "head": head, "rows": rows, "caption": caption}


# ---- cell formatters ---------------------------------------------------------------------------


def _money_cell(cur: str) -> Callable[[Any], Cell]:
    return lambda v: _cell(money(v, cur, missing="–"))


def _signed_money_cell(cur: str) -> Callable[[Any], Cell]:
    def fmt(v: Any) -> Cell:
        x = as_float(v)
        text = signed_money(v, cur, minus=_MINUS)
        cls = "" if x is None or math.isnan(x) else "up" if x >= DUST else \
            "down" if x <= -DUST else ""
        return _cell(text, ("num " + cls).strip())
    return fmt


def _pct_cell(signed: bool = True, missing: str = "–") -> Callable[[Any], Cell]:
    def fmt(v: Any) -> Cell:
        x = as_float(v)
        text = percent(v, signed=signed, missing=missing, minus=_MINUS)
        cls = "" if x is None or math.isnan(x) or not signed else \
            "up" if x >= 0.0005 else "down" if x <= -0.0005 else ""
        return _cell(text, ("num " + cls).strip())
    return fmt


def _num_cell(digits: int = 3) -> Callable[[Any], Cell]:
    return lambda v: _cell(number(v, digits, minus=_MINUS))


def _outcome_cell(v: Any) -> Cell:
    """Outcomes are shown like money amounts: whole units, no dust."""
    return _cell(money(v, "", missing="–").replace("-", _MINUS))


def _text_cell(v: Any) -> Cell:
    return _cell("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v), "txt")


def _yes(v: Any) -> Cell:
    return _cell("yes" if bool(v) and not (isinstance(v, float) and math.isnan(v)) else "no",
                 "txt")


# ---- sections ----------------------------------------------------------------------------------


def _m(x: Any, cur: str) -> str:
    return money(x, cur).replace("-", _MINUS)


def _o(x: Any) -> str:
    return money(x, "").replace("-", _MINUS)


def _roi(outcome: float, spend: float) -> float:
    return outcome / spend if spend > DUST else float("nan")


def _per_unit(run: Any, cur: str) -> tuple[float, str]:
    """Scale and words for 'outcome per money': per 1 or, for small ratios, per 1,000."""
    a = run.allocation
    spent = float(a.spend.sum()) if hasattr(a, "spend") else float(a.budget)
    roi = abs(_roi(float(a.expected_outcome), spent))
    if roi == roi and roi < 0.05:
        return 1000.0, money(1000, cur)
    return 1.0, f"{cur or ''}1"


def _members(run: Any, name: str) -> set[str]:
    """Assets a constraint applies to (best effort, for the 'why' of a move)."""
    cons = next((c for c in getattr(run.problem, "constraints", ()) if c.name == name), None)
    if cons is None:
        return set()
    spend = getattr(cons, "spend", None)
    if isinstance(spend, dict):
        return set(map(str, spend))
    where = getattr(cons, "where", None)
    assets = getattr(run.problem, "assets", None)
    if not isinstance(where, dict) or not isinstance(assets, pd.DataFrame):
        return set()
    mask = pd.Series(True, index=assets.index)
    for col, val in where.items():
        if col not in assets.columns:
            return set()
        vals = val if isinstance(val, (list, tuple, set)) else [val]
        if col == "tags":
            tags = assets[col].astype(str).str.split(";")
            mask &= tags.map(lambda t, vs=vals: bool(set(t) & {str(v) for v in vs}))
        else:
            mask &= assets[col].astype(str).isin([str(v) for v in vals])
    return set(map(str, assets.index[mask]))


def _moves(run: Any, cur: str, top: int = 3) -> list[str]:
    t = run.table
    a = run.allocation
    if "change" not in t.columns:
        return []
    big = t[t["change"].abs() >= max(0.005 * float(a.budget), DUST)]
    big = big.reindex(big["change"].abs().sort_values(ascending=False).index).head(top)
    binding = [n for n in a.binding if n not in ("budget", "long_only", "whole_pieces")]
    member = {n: _members(run, n) for n in binding}
    w = getattr(run, "whole", None)
    raised = set(w.raised) if w is not None and w.applied else set()
    dropped = set(w.dropped) if w is not None and w.applied else set()
    median_roi = float(t.loc[t["recommended"] > DUST, "marginal_roi"].median()) \
        if (t["recommended"] > DUST).any() else float("nan")
    median_roi *= _per_unit(run, cur)[0]
    out = []
    kinds = {c.name: type(c).__name__ for c in getattr(run.problem, "constraints", ())}
    floors = [n for n in binding if member.get(n) and "Floor" in kinds.get(n, "")]
    delta = float(getattr(run.problem, "risk_aversion", 0.0) or 0.0)
    k, per = _per_unit(run, cur)
    shift = [c for c in getattr(run.problem, "constraints", ())
             if c.name in binding and getattr(c, "max_change", None) is not None
             and getattr(c, "relative", False)]
    for asset, r in big.iterrows():
        ch = float(r["change"])
        verb = "up" if ch > 0 else "down"
        held = [n for n, m in member.items() if str(asset) in m]
        pct = as_float(r.get("change_pct"))
        for c in shift:
            limit = float(c.max_change)
            if pct is not None and pct == pct and abs(abs(pct) - limit) <= 1e-4 + 1e-3 * limit:
                held.append(f"{c.name} (at its ±{percent(limit)} limit)")
        mroi = float(r["marginal_roi"]) * k
        unit = f"next {per}"
        if str(asset) in raised:
            why = (f"raised to the minimum meaningful spend of {money(w.minimum, cur)} "
                   "(whole pieces)")
        elif str(asset) in dropped:
            why = (f"below the minimum meaningful spend of {money(w.minimum, cur)}: "
                   "not funded (whole pieces)")
        elif held:
            why = ("capped by " if any("limit)" in h for h in held) else "required by ") \
                + ", ".join(held)
        elif ch < 0 and floors:
            why = "money moves to meet " + ", ".join(floors)
        elif ch > 0:
            why = (f"the {unit} here still earns {number(mroi)} {run.outcome}, more than "
                   "elsewhere" if not math.isnan(median_roi) and mroi >= median_roi else
                   f"it spreads risk (the {unit} earns {number(mroi)})")
        elif not math.isnan(median_roi) and mroi < median_roi:
            why = f"its returns flatten: the {unit} earns only {number(mroi)} here"
        elif delta > 0:
            why = f"to lower risk (the {unit} still earns {number(mroi)})"
        else:
            why = "other assets earn more per money"
        out.append(f"{asset} {verb} {signed_money(ch, cur, minus=_MINUS)} "
                   f"({percent(r.get('change_pct'), signed=True, minus=_MINUS, missing='new')}"
                   f"): {why}.")
    return out


def _risk_trade(run: Any, cur: str) -> list[Block]:
    """When the plan gives up expected outcome for lower risk, say so in words."""
    a = run.allocation
    om = getattr(run, "outcome_max", None)
    if om is None:
        return []
    gap = float(om.expected_outcome) - float(a.expected_outcome)
    if gap <= 1e-6 * max(abs(float(a.expected_outcome)), 1.0) or gap < DUST:
        return []
    delta = float(run.problem.risk_aversion)
    budget = float(a.budget)
    per_var = delta / (2.0 * budget)
    worth = per_var * (float(om.risk) ** 2 - float(a.risk) ** 2)
    out = run.outcome
    blocks = [_p(
        f"This plan trades expected {out} for lower risk. The plan with the most expected "
        f"{out} under the same constraints reaches {_o(om.expected_outcome)} with risk "
        f"±{_o(om.risk)}; the recommendation gives up {_o(gap)} of it to bring risk down to "
        f"±{_o(a.risk)}. The risk setting is risk aversion δ = {number(delta)}: the plan counts "
        f"risk as a cost of δ / (2 × budget) × risk² in {out}, so risk of ±{_o(a.risk)} costs "
        f"{_o(per_var * float(a.risk) ** 2)} and ±{_o(om.risk)} would cost "
        f"{_o(per_var * float(om.risk) ** 2)}; lowering risk from ±{_o(om.risk)} to "
        f"±{_o(a.risk)} is worth {_o(worth)} to this plan, more than the {_o(gap)} of expected "
        f"{out} it gives up. A lower risk aversion (--risk-aversion) moves the plan towards the "
        "outcome-maximising one.", "warn")]
    k, per = _per_unit(run, cur)
    roi_row = f"{out} per {per} spent"
    rows: dict[str, list[float]] = {"expected " + out: [], "risk (±1 standard deviation)": [],
                                    roi_row: []}
    cols = []
    if run.current_point is not None:
        cols.append("today's spend")
        spent = float(run.table["current"].sum()) if "current" in run.table else float("nan")
        rows["expected " + out].append(run.current_point[1])
        rows["risk (±1 standard deviation)"].append(run.current_point[0])
        rows[roi_row].append(_roi(run.current_point[1], spent) * k)
    for label, alloc in (("recommended", a), ("outcome-maximising", om)):
        cols.append(label)
        rows["expected " + out].append(float(alloc.expected_outcome))
        rows["risk (±1 standard deviation)"].append(float(alloc.risk))
        rows[roi_row].append(_roi(float(alloc.expected_outcome), float(alloc.spend.sum())) * k)
    frame = pd.DataFrame(rows, index=cols).T
    frame.index.name = ""
    fm = {c: (lambda v: _cell(number(v, 3) if abs(as_float(v) or 0) < 100 else _o(v)))
          for c in frame.columns}
    blocks.append(_table(frame, fm, caption="The recommendation beside the plan that "
                                              "maximises expected outcome (same constraints)"))
    return blocks


def _summary(run: Any, cur: str) -> list[Block]:
    a = run.allocation
    t = run.table
    out = run.outcome
    rec_out = float(a.expected_outcome)
    spent = float(t["recommended"].sum())
    interval = run.outcome_interval
    kpis: list[dict[str, str]] = []
    rng = (f"range {_o(interval[0])} to {_o(interval[1])}" if interval is not None else "")
    kpis.append({"value": _o(rec_out), "label": f"expected {out}, recommended", "note": rng})
    k, per = _per_unit(run, cur)
    roi = _roi(rec_out, spent) * k
    roi_note = ""
    if interval is not None and spent > DUST:
        roi_note = (f"range {number(interval[0] / spent * k)} to "
                    f"{number(interval[1] / spent * k)}")
    kpis.append({"value": number(roi), "label": f"{out} per {per} spent (ROI)",
                 "note": roi_note})
    blocks: list[Block] = []
    lead = (f"Spend {_m(spent, cur)} of the {_m(a.budget, cur)} budget as recommended to expect "
            f"{_o(rec_out)} {out}")
    if interval is not None:
        lead += (f" ({percent(run.confidence_level or 0.9)} range {_o(interval[0])} to "
                 f"{_o(interval[1])})")
    if run.current_point is not None:
        cur_out = float(run.current_point[1])
        cur_spent = float(t["current"].sum()) if "current" in t.columns else float("nan")
        gain = rec_out - cur_out
        kpis.append({"value": _o(cur_out), "label": f"expected {out} at today's spend",
                     "note": f"ROI {number(_roi(cur_out, cur_spent) * k)} per {per}"})
        kpis.append({"value": signed_money(gain, "", minus=_MINUS),
                     "label": f"incremental {out} of the recommendation",
                     "note": percent(gain / cur_out, signed=True, minus=_MINUS)
                     if cur_out else ""})
        lead += (f", {signed_money(gain, '', minus=_MINUS)} against keeping today's spend "
                 f"({_o(cur_out)}).")
    else:
        lead += "."
    kpis.append({"value": f"±{_o(a.risk)}", "label": f"risk (one standard deviation of {out})",
                 "note": ""})
    blocks.append({"kind": "kpis", "items": kpis})
    blocks.append(_p(lead, "lead"))
    if run.budget_warning:
        blocks.append(_p(run.budget_warning, "warn"))
    if run.current_point is not None and rec_out < float(run.current_point[1]) - DUST:
        reasons = []
        if run.current_breaks:
            reasons.append("today's spend does not meet " + ", ".join(run.current_breaks)
                           + "; meeting it moves money to assets that earn less")
        om = getattr(run, "outcome_max", None)
        if om is not None and float(om.expected_outcome) - rec_out > DUST:
            reasons.append("the plan accepts less expected outcome for lower risk (below)")
        blocks.append(_p(
            "Why less than today: " + ("; ".join(reasons) if reasons else
                                       "the constraints of the plan") + ".", "warn"))
    blocks.extend(_risk_trade(run, cur))
    moves = _moves(run, cur)
    if moves:
        blocks.append(_p("The moves that matter most:"))
        blocks.append(_ul(moves))
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
        blocks.append(_p(txt + "."))
    binding = [n for n in a.binding if n not in ("budget", "long_only", "whole_pieces")]
    if binding:
        blocks.append(_p("Strategy constraints that hold the plan in place: "
                         + ", ".join(binding) + " (their price is below)."))
    approvals = approval_lines(run)
    if approvals:
        blocks.append(_p(f"Needs sign-off: {len(approvals)} asset(s) — "
                         + ", ".join(a for a, _ in approvals) + " (see the approval flags)."))
    elif run.approvals is not None:
        blocks.append(_p("No change needs sign-off under the plan's rules."))
    return blocks


def approval_lines(run: Any) -> list[tuple[str, str]]:
    """One line per asset, each distinct message once."""
    ap = run.approvals
    if ap is None or not len(ap):
        return []
    msgs = ap["message"].astype(str) if "message" in ap.columns else \
        ap.astype(str).agg(" ".join, axis=1)
    assets = ap["asset"].astype(str) if "asset" in ap.columns else msgs
    grouped: dict[str, list[str]] = {}
    for asset, msg in zip(assets, msgs, strict=True):
        lst = grouped.setdefault(asset, [])
        if msg not in lst:
            lst.append(msg)
    return [(asset, " ".join(m)) for asset, m in grouped.items()]


_RULES = {"max_change": "moves more than the change allowed without approval",
          "protected_tags": "cuts a protected asset",
          "min_confidence": "the direction of change is not certain enough"}


def _approval_blocks(run: Any, cur: str, lines: list[tuple[str, str]]) -> list[Block]:
    """One row per asset that needs sign-off, each reason once, money in the currency."""
    ap = run.approvals
    if not {"asset", "rule"} <= set(ap.columns) or "change" not in run.table.columns:
        return [_p(m, "flag") for _, m in lines]
    rows = []
    for asset, group in ap.groupby(ap["asset"].astype(str), sort=False):
        reasons = list(dict.fromkeys(_RULES.get(str(r), str(r)) for r in group["rule"]))
        t = run.table.loc[asset] if asset in run.table.index else None
        rows.append({
            "asset": asset,
            "current": float(t["current"]) if t is not None else float("nan"),
            "recommended": float(t["recommended"]) if t is not None else float("nan"),
            "change": float(t["change"]) if t is not None else float("nan"),
            "change_pct": float(t["change_pct"]) if t is not None else float("nan"),
            "reason": "; ".join(reasons),
        })
    frame = pd.DataFrame(rows).set_index("asset")
    return [
        _p(f"{len(frame)} asset(s) change by more than the plan lets the model decide alone; "
           "each needs a person's sign-off.", "flag"),
        _table(frame, {"current": _money_cell(cur), "recommended": _money_cell(cur),
                       "change": _signed_money_cell(cur), "change_pct": _pct_cell(True, "new"),
                       "reason": lambda v: _cell(str(v), "wrap")}, "asset",
               {"current": "current spend", "recommended": "recommended spend",
                "change": "change", "change_pct": "change %",
                "reason": "why it needs sign-off"}),
    ]


def _recommendation(run: Any, cur: str, figures: dict[str, bytes]) -> list[Block]:
    t = run.table.copy().rename_axis("asset")
    t = t.drop(columns=["tags"], errors="ignore")  # in recommendation.csv; too wide for the page
    out = run.outcome
    om = getattr(run, "outcome_max", None)
    if om is not None and float(om.expected_outcome) - float(run.allocation.expected_outcome) \
            < DUST:
        om = None
    if om is not None and "current" in t.columns:
        t.insert(list(t.columns).index("recommended") + 1, "outcome_max",
                 om.spend.reindex(t.index).astype(float))
    actual = getattr(run, "current_actual", None)
    if actual is not None and "current" in t.columns:
        t.insert(list(t.columns).index("current"), "last_period", actual.reindex(t.index))
    roi_scale, roi_head = 1.0, f"{out} per extra {cur or ''}1"
    if "marginal_roi" in t.columns and float(t["marginal_roi"].abs().max()) < 0.05:
        roi_scale, roi_head = 1000.0, f"{out} per extra {money(1000, cur)}"
        t["marginal_roi"] = t["marginal_roi"] * roi_scale
    headers = {
        "market": "market", "channel": "channel", "tier": "tier", "tags": "tags",
        "last_period": "spent last period", "current": "current spend",
        "recommended": "recommended spend", "outcome_max": "outcome-maximising spend",
        "change": "change", "change_pct": "change %", "share": "share of budget",
        "expected_outcome": f"expected {out}", "marginal_roi": roi_head,
        "confidence": "confidence in direction",
    }
    fm = {
        "last_period": _money_cell(cur), "current": _money_cell(cur),
        "recommended": _money_cell(cur), "outcome_max": _money_cell(cur),
        "change": _signed_money_cell(cur), "change_pct": _pct_cell(True, "new"),
        "share": _pct_cell(False), "expected_outcome": _outcome_cell,
        "marginal_roi": _num_cell(3), "confidence": _pct_cell(False),
        "market": _text_cell, "channel": _text_cell, "tier": _text_cell,
        "tags": lambda v: _cell(", ".join(t for t in str(v or "").split(";") if t), "wrap"),
    }
    blocks = [_p(f"Spend per asset in {cur or 'money'}: today, recommended, and the change. "
                 f"Expected {out} is read on each asset's response curve at the recommended "
                 "spend.")]
    if run.current_note:
        blocks.append(_p(run.current_note))
    blocks.append(_table(t, fm, "asset", headers))
    blocks.append(_img(figures.get("allocation"), "current vs recommended spend"))
    return blocks


def _frontier_blocks(run: Any, cur: str, figures: dict[str, bytes]) -> list[Block]:
    if run.frontier is None or not len(run.frontier):
        return [_na(run.unavailable.get("frontier", "no frontier was computed"))]
    blocks = [_p("Each point is the best expected outcome for its level of risk. The star is "
                 "the recommendation; the square is today's spend. Moving right buys more "
                 f"expected {run.outcome} with more uncertainty.")]
    w = getattr(run, "whole", None)
    if w is not None and w.applied:
        blocks.append(_p(
            "The frontier is drawn for the booked assets of the whole-piece plan (each at 0 or "
            f"at least {money(w.minimum, cur)}); a spend with token amounts, such as today's, "
            "may lie above it."))
    f = run.frontier
    if "status" in f.columns:
        from ..status import normalize_status

        st = f["status"].map(normalize_status)
        n_inacc = int((st == "optimal_inaccurate").sum())
        n_bad = int((~st.isin(["optimal", "optimal_inaccurate", "time_limit"])).sum())
        if n_inacc:
            blocks.append(_p(f"{n_inacc} point(s) were solved only approximately "
                             "(optimal_inaccurate): they are drawn hollow.", "warn"))
        if n_bad:
            blocks.append(_p(f"{n_bad} point(s) could not be solved and are not drawn.", "warn"))
    eq = getattr(run, "equal_risk", None)
    if eq is not None:
        cost = max(float(eq["outcome_cost"]), 0.0) if float(eq["outcome_cost"]) > \
            -1e-6 * max(abs(float(eq["outcome_with"])), 1.0) else float(eq["outcome_cost"])
        if cost < DUST:
            blocks.append(_p(
                f"At the same risk as the recommendation (±{_o(eq['risk'])}), the model alone — "
                "without the strategy constraints — reaches the same expected "
                f"{run.outcome}: the strategy costs nothing at equal risk."))
        else:
            blocks.append(_p(
                f"At the same risk as the recommendation (±{_o(eq['risk'])}), the model alone — "
                f"without the strategy constraints — would reach {_o(eq['outcome_without'])} "
                f"expected {run.outcome}: the strategy costs {_o(cost)} "
                f"({percent(cost / float(eq['outcome_without']) if eq['outcome_without'] else 0)})"
                " at equal risk."))
    fc = getattr(run, "frontier_cost", None)
    if fc is not None and len(fc) and "outcome_cost" in fc.columns:
        bad = fc[fc["status"] != "optimal"] if "status" in fc.columns else fc.iloc[:0]
        if len(bad):
            blocks.append(_p(f"{len(bad)} equal-risk comparison(s) could not be confirmed to "
                             "solver accuracy and are marked in strategy_cost_at_equal_risk.csv."
                             , "warn"))
    blocks.append(_img(figures.get("frontier"), "efficient frontier"))
    return blocks


def _prices_blocks(run: Any, cur: str) -> list[Block]:
    a = run.allocation
    if run.prices is None or not len(run.prices):
        return [_na(run.unavailable.get("prices", "this plan has no strategic constraints"))]
    p = run.prices
    out = run.outcome
    tol_out = 1e-6 * max(abs(float(a.expected_outcome)), 1.0)
    tol_risk = 1e-6 * max(abs(float(a.risk)), 1.0)
    lines = []
    for name, r in p.iterrows():
        price = as_float(r.get("outcome_price"))
        if price is None or math.isnan(price):
            lines.append(f"{name}: could not be priced ({r.get('message', '')}).")
            continue
        rc = as_float(r.get("risk_change"))
        rc = float("nan") if rc is None else rc
        if abs(price) <= max(tol_out, DUST) and (math.isnan(rc) or abs(rc) <= tol_risk):
            lines.append(f"{name} costs nothing at this plan (it does not bind).")
            continue
        risk_txt = ("it does not change risk" if math.isnan(rc) or abs(rc) <= tol_risk else
                    f"without it risk would be {_o(abs(rc))} {'higher' if rc > 0 else 'lower'}")
        if price > tol_out:
            lines.append(f"{name} costs {_o(price)} expected {out} "
                         f"({percent(r.get('outcome_price_pct'))}); {risk_txt}.")
        elif price < -tol_out:
            lines.append(f"{name} does not cost expected {out}: without it the plan would "
                         f"expect {_o(-price)} less, because the plan would then take less "
                         f"risk; {risk_txt}.")
        else:
            lines.append(f"{name} costs no expected {out}; {risk_txt}.")
    cols = [c for c in ("kind", "binding", "objective_cost", "outcome_price", "outcome_price_pct",
                        "risk_change", "dual") if c in p.columns]
    headers = {"kind": "kind", "binding": "binding",
               "objective_cost": "cost to the plan's objective",
               "outcome_price": f"{out} gained without it",
               "outcome_price_pct": "as a share", "risk_change": "risk change without it",
               "dual": "marginal value (dual)"}

    def small(tol: float) -> Callable[[Any], Cell]:
        def fmt(v: Any) -> Cell:
            x = as_float(v)
            if x is None or math.isnan(x):
                return _cell("–")
            return _cell("0" if abs(x) <= max(tol, DUST) else signed_money(x, "", _MINUS))
        return fmt

    def dual(v: Any) -> Cell:
        x = as_float(v)
        if x is None or math.isnan(x):
            return _cell("–")
        return _cell(number(0.0 if abs(x) < 1e-6 else x, 3, minus=_MINUS))

    def objective_cell(v: Any) -> Cell:
        x = as_float(v)
        if x is None or math.isnan(x):
            return _cell("–")
        if x < -max(tol_out, DUST):  # marked, never shown as a negative cost
            return _cell("not confirmed", "txt mark")
        return _cell(_o(max(x, 0.0)))

    return [
        _p("Each strategic constraint was removed and the plan re-solved: the difference is "
           "what the strategy costs in expected outcome and what it buys in risk. The cost to "
           "the plan's objective (expected outcome minus the charge for risk) is never "
           "negative: removing a constraint can only help the objective, even when expected "
           "outcome alone falls because the plan then takes less risk."),
        _ul(lines),
        _table(p[cols], {"outcome_price_pct": _pct_cell(True), "outcome_price": small(tol_out),
                         "objective_cost": objective_cell,
                         "risk_change": small(tol_risk), "binding": _yes, "kind": _text_cell,
                         "dual": dual}, "constraint", headers),
    ]


def _scenario_blocks(run: Any, cur: str) -> list[Block]:
    a = run.allocation
    if run.scenarios is None or not len(run.scenarios):
        return [_na(run.unavailable.get("scenarios", "no scenarios"))]
    s = run.scenarios
    cols = [c for c in ("status", "budget", "expected_outcome", "outcome_change_pct", "risk",
                        "risk_change", "message") if c in s.columns]
    headers = {"status": "status", "budget": "budget",
               "expected_outcome": f"expected {run.outcome}",
               "outcome_change_pct": f"{run.outcome} change", "risk": "risk",
               "risk_change": "risk change", "message": "note"}
    blocks = [
        _p("The same plan re-solved under other assumptions; changes are against the base."),
        _table(s[cols], {"budget": _money_cell(cur), "outcome_change_pct": _pct_cell(True),
                         "expected_outcome": _outcome_cell, "risk": _outcome_cell,
                         "risk_change": _signed_money_cell(""), "status": _text_cell,
                         "message": lambda v: _cell("" if v is None or v != v else str(v),
                                                    "wrap")}, "scenario", headers),
    ]
    if run.scenario_spend is not None:
        blocks.append(_p(f"Recommended spend per scenario ({cur or 'money'}):"))
        blocks.append(_table(run.scenario_spend,
                             {str(c): _money_cell(cur) for c in run.scenario_spend.columns},
                             "asset"))
    del a
    return blocks


def _confidence_blocks(run: Any, cur: str) -> list[Block]:
    a = run.allocation
    out = run.outcome
    no_cov = getattr(run.problem, "covariance", None) is None
    if no_cov:
        blocks = [_p("This plan has no covariance, so the spread of results around the "
                     f"expected {out} is not modelled (add a 'covariance' section or "
                     "volatilities).")]
    else:
        e, r = float(a.expected_outcome), float(a.risk)
        blocks = [_p(
            f"Outcome range from the risk model: in about two periods out of three the {out} "
            f"should land between {_o(e - r)} and {_o(e + r)} (expected {_o(e)} ± one standard "
            f"deviation; about 19 in 20 between {_o(e - 2 * r)} and {_o(e + 2 * r)}). This is "
            "the noise in results; the uncertainty of the estimates themselves is below.")]
    if run.outcome_interval is not None:
        ilo, ihi = run.outcome_interval
        blocks.append(_p(f"Estimation uncertainty: the expected {out} itself lies between "
                         f"{_o(ilo)} and {_o(ihi)} ({percent(run.confidence_level or 0.9)} "
                         "bootstrap interval)."))
    if run.confidence is not None:
        c = run.confidence.rename_axis("asset")
        blocks.append(_p(
            f"{percent(run.confidence_level or 0.9)} intervals (low end to high end) from "
            "re-estimating and re-solving on resampled history; 'confidence' is the share of "
            "resamples that agree on the direction of change."))
        blocks.append(_table(c, {
            "current": _money_cell(cur), "spend": _money_cell(cur), "lower": _money_cell(cur),
            "upper": _money_cell(cur), "change": _signed_money_cell(cur),
            "direction": _text_cell, "confidence": _pct_cell(False)}, "asset", {
            "current": "current spend", "spend": "recommended spend", "lower": "low end",
            "upper": "high end", "confidence": "confidence in direction"}))
    else:
        blocks.append(_na(run.unavailable.get("confidence", "no confidence ranges")))
    return blocks


def _audit_blocks(run: Any) -> list[Block]:
    if run.audit is None:
        return [_na(run.unavailable.get("audit", "no history"))]
    a = run.audit.copy()
    if {"attribute", "group"} <= set(a.columns):
        a.index = pd.Index([f"{r.attribute}: {r.group}" for r in a.itertuples()], name="group")
        a = a.drop(columns=["attribute", "group"])
    keep = {"periods_observed": "periods observed", "share_of_rows": "share of rows",
            "share_of_spend": "share of spend", "share_of_outcome": "share of outcome",
            "return": "return", "effective_n": "effective sample size",
            "relative_se": "relative error", "flagged": "flagged", "reason": "reason"}
    cols = [c for c in keep if c in a.columns]
    a = a[cols] if cols else a
    pct = {c: _pct_cell(False) for c in ("share_of_rows", "share_of_spend", "share_of_outcome",
                                         "relative_se")}
    blocks = [_p("How much of the history each market and channel contributes. A model "
                 "trained mostly on one market's data is least reliable for the others.")]
    blocks += [_p(f, "flag") for f in dict.fromkeys(run.audit_flags)] or [
        _p("No group is under-represented in the history.", "ok")]
    blocks.append(_table(a, pct | {"flagged": _yes, "reason": _text_cell}, "group", keep))
    return blocks


def render_html(run: Any, figures: dict[str, bytes]) -> str:
    """Render the report of a solved plan as one self-contained HTML page.

    Every text that comes from the plan (names, ids, attributes, constraint names, currency,
    messages) is escaped by the template engine.

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
    cur = run.currency or ""
    a = run.allocation
    body: dict[str, list[Block]] = {"summary": _summary(run, cur)}
    body["recommendation"] = _recommendation(run, cur, figures)
    body["frontier"] = _frontier_blocks(run, cur, figures)
    curve_note = (
        "Curves flatten as spend grows (saturation): the slope at the star is what the next "
        f"{cur or 'unit of money'} earns." if run.curves else
        "This plan has no response curves: returns are straight lines (every dollar earns the "
        "same), so diminishing returns are not modelled; add a 'response' section."
    )
    body["response-curves"] = [_p(curve_note), _img(figures.get("response_curves"),
                                                    "response curves")]
    body["marginal-roi"] = [
        _p(f"{run.outcome} from the next unit of money in each asset at the recommendation. "
           "Without risk and constraints, funded assets end with equal marginal ROI; gaps show "
           "where risk or strategy holds spend in place."),
        _img(figures.get("marginal_roi"), "marginal ROI")]
    body["constraint-prices"] = _prices_blocks(run, cur)
    body["scenarios"] = _scenario_blocks(run, cur)
    body["confidence"] = _confidence_blocks(run, cur)
    body["bias-audit"] = _audit_blocks(run)
    lines = approval_lines(run)
    if lines:
        body["approvals"] = _approval_blocks(run, cur, lines)
    elif run.approvals is not None:
        body["approvals"] = [_p("No change needs approval under the plan's rules.", "ok")]
    else:
        body["approvals"] = [_na("no approval rules were checked")]
    notes = list(dict.fromkeys(run.notes))
    notes.append(f"Solved by {a.solver} ({a.status}) in {a.solve_time * 1000:.0f} ms; every "
                 "constraint was checked at the answer.")
    notes.append(f"Risk is the standard deviation of total {run.outcome} implied by the "
                 "covariance of returns; expected outcome comes from the response curves or "
                 "linear returns.")
    notes.append(f"Money is in {cur or 'the plan’s currency unit'}, rounded to whole units; "
                 "amounts under half a unit are shown as 0.")
    body["assumptions"] = [_ul(notes)]
    body.update(_optional_blocks(run, cur, figures))
    order = list(SECTIONS)
    at = order.index("recommendation") + 1
    order[at:at] = [sid for sid in OPTIONAL_SECTIONS if sid in body]
    heads = SECTIONS | OPTIONAL_SECTIONS
    sections = [{"id": sid, "heading": heads[sid], "blocks": body[sid]} for sid in order]
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _env().get_template("report.html").render(
        name=run.name, title=run.title, sections=sections, stamp=stamp) + "\n"


# ---- optional sections: whole pieces, deals, exploration, weekly plan, plan vs actual ------


def _optional_blocks(run: Any, cur: str, figures: dict[str, bytes]) -> dict[str, list[Block]]:
    from ._whole import whole_lines

    out: dict[str, list[Block]] = {}
    w = getattr(run, "whole", None)
    if w is not None and w.applied:
        t = pd.DataFrame({"continuous": w.continuous_spend,
                          "whole": run.allocation.spend.reindex(w.continuous_spend.index)})
        t = t.loc[w.token_assets]
        out["whole-pieces"] = [
            _ul(whole_lines(w, lambda v: money(v, cur), run.outcome,
                            str(getattr(run.problem, "objective", "utility")))),
            _table(t, {"continuous": _money_cell(cur), "whole": _money_cell(cur)}, "asset",
                   {"continuous": "continuous plan", "whole": "whole-piece plan"}),
        ]
    d = getattr(run, "deals", None)
    if d is not None:
        blocks = _deals_blocks(run, d, cur)
        if blocks:
            out["creator-deals"] = blocks
        if d.exploration is not None:
            out["exploration"] = _exploration_blocks(run, d.exploration, cur)
    win = getattr(run, "window", None)
    if win is not None:
        out["weekly-plan"] = _window_blocks(run, win, cur, figures)
    elif "weekly-plan" in run.unavailable:
        out["weekly-plan"] = [_na(run.unavailable["weekly-plan"])]
    act = getattr(run, "actuals", None)
    if act is not None:
        out["plan-vs-actual"] = _actuals_blocks(run, act, cur, figures)
    elif "plan-vs-actual" in run.unavailable:
        out["plan-vs-actual"] = [_na(run.unavailable["plan-vs-actual"])]
    return out


def _deals_blocks(run: Any, d: Any, cur: str) -> list[Block]:
    if d.integer is None:
        return [_na(d.error)] if d.error else []
    g = d.integer
    rel = g.relaxation.spend if g.relaxation is not None else None
    status = ("proven optimal" if g.status == "optimal"
              else f"stopped by a limit ({g.status}): the best plan found")
    lines = [
        f"Deals applied: {', '.join(d.rules) or 'none'}.",
        f"The whole-piece plan is {status}, proven gap {percent(g.gap)} "
        f"({g.nodes} nodes): no plan in whole pieces can do better than {_o(g.bound)}.",
        f"The continuous plan (fees split to the dollar) reaches {_o(g.relaxation_objective)};"
        f" the whole-piece plan {_o(g.objective)}: whole pieces cost "
        f"{_o(max(g.cost_of_whole_pieces, 0.0))} of the objective.",
        f"{int(g.funded.sum())} of {len(g.funded)} assets booked.",
    ]
    t = pd.DataFrame({"spend": g.spend, "booked": g.funded})
    if rel is not None:
        t["continuous"] = rel.reindex(t.index)
    if g.units.notna().any():
        t["units"] = g.units
    t = t.rename_axis("asset")
    blocks = [_ul(lines), _table(
        t, {"spend": _money_cell(cur), "continuous": _money_cell(cur), "booked": _yes,
            "units": lambda v: _cell("–" if v != v else f"{int(v)}")},
        "asset", {"spend": "whole-piece spend", "continuous": "continuous spend",
                  "booked": "booked", "units": "units bought"})]
    if d.error:
        blocks.append(_na(d.error))
    blocks.append(_p("Constraint prices for these rules are those of the continuous "
                     "relaxation: whole-piece programs have no prices of their own."))
    return blocks


def _exploration_blocks(run: Any, e: Any, cur: str) -> list[Block]:
    lines = [f"{money(e.reserved, cur)} reserved for tests of assets with little history; "
             f"{money(e.allocated, cur)} given to {len(e.tests)} readable test(s) "
             f"({e.rule} rule). An asset is worth scaling when it returns more than "
             f"{number(e.hurdle)} {run.outcome} per {cur or 'unit of money'} (the hurdle)."]
    if e.leftover > 0.5:
        lines.append(f"{money(e.leftover, cur)} of the reserve fits no readable test and goes "
                     "back to the plan.")
    blocks = [_ul(lines)]
    if len(e.tests):
        t = e.tests[["budget", "weeks", "weekly_spend", "mde", "scale_if"]].rename_axis("asset")
        blocks.append(_table(
            t, {"budget": _money_cell(cur), "weeks": lambda v: _cell(f"{int(v)}"),
                "weekly_spend": _money_cell(cur), "mde": _num_cell(3),
                "scale_if": _num_cell(3)}, "asset",
            {"budget": "test budget", "weeks": "weeks", "weekly_spend": "per week",
             "mde": "smallest return the test can detect",
             "scale_if": "scale it if the measured return exceeds"}))
        blocks.append(_p("Each test is large and long enough to read: with this weekly spend "
                         "and the asset's weekly noise, a return at the hurdle is detected at "
                         "a 5% one-sided level with 80% power."))
    else:
        blocks.append(_na("no candidate is worth a readable test within the reserve"))
    if len(e.skipped):
        s = e.skipped.rename_axis("asset")[["why"]]
        blocks.append(_table(s, {"why": lambda v: _cell(str(v), "wrap")}, "asset",
                             {"why": "not tested because"}))
    return blocks


def _window_blocks(run: Any, win: Any, cur: str, figures: dict[str, bytes]) -> list[Block]:
    out = run.outcome
    wp = win.problem
    lines = [
        f"The budget of {money(wp.budget, cur)} is spread over {wp.T} weeks, choosing when as "
        f"well as where ({win.status}). Expected {out} {_o(win.expected_outcome)} = "
        f"{_o(win.window_outcome)} inside the window + {_o(win.tail_outcome)} landing in the "
        f"{wp.horizon} weeks after it (carryover); the spend before the window alone brings "
        f"{_o(win.carry_in_outcome)}. Risk over the window ±{_o(win.risk)}.",
    ]
    t = win.timing or {}
    if t.get("value") is not None:
        lines.append(
            f"Value of timing: {_o(t['value'])} of the objective ({percent(t['share'], True)}) "
            "over the best plan that spends the same every week.")
    elif t:
        lines.append(f"Value of timing not measured: {t.get('note', 'no flat plan')}.")
    on_off = _on_off_cells(win)
    if on_off is not None:
        s = win.search
        booked = int(on_off.notna().to_numpy().sum())
        lines.append(
            f"Whole pieces per week: {booked} of {on_off.size} asset-weeks are booked, each at "
            "least its minimum, the others at 0 (branch and bound: "
            f"{s.get('status', '?')}, proven gap {number(s.get('gap'), 2)}).")
    lines.extend(dict.fromkeys(win.notes))
    blocks: list[Block] = [_ul(lines), _img(figures.get("weekly_plan"), "weekly plan")]
    spend = win.spend.copy()
    top = spend.sum().sort_values(ascending=False).index
    if len(top) > 8:  # the page stays readable: the rest in one column
        rest = spend[top[8:]].sum(axis=1)
        spend = spend[top[:8]].assign(other=rest)
    spend.index = pd.Index([week_label(w) for w in spend.index], name="week")
    spend["total"] = spend.sum(axis=1)
    blocks.append(_p(f"Spend per week and asset ({cur or 'money'}):"))
    blocks.append(_table(spend, {str(c): _money_cell(cur) for c in spend.columns}, "week"))
    wk = win.weekly[["spend", "outcome", "outcome_low", "outcome_high"]].copy()
    floored = bool((wk["outcome_low"] < 0).any())
    wk["outcome_low"] = wk["outcome_low"].clip(lower=0.0)
    wk.index = pd.Index([week_label(w) for w in wk.index], name="week")
    blocks.append(_p(f"Expected {out} per week, with a 95% range for the week's noise"
                     + (" (the low end floored at 0: an outcome is never negative)"
                        if floored else "") + ":"))
    blocks.append(_table(wk, {"spend": _money_cell(cur), "outcome": _outcome_cell,
                              "outcome_low": _outcome_cell, "outcome_high": _outcome_cell},
                         "week", {"spend": "spend", "outcome": f"expected {out}",
                                  "outcome_low": "low end", "outcome_high": "high end"}))
    if on_off is not None:
        booked_cell = _money_cell(cur)

        def cell(v: Any) -> Cell:
            x = as_float(v)
            return _cell("off", "txt") if x is None or math.isnan(x) else booked_cell(v)

        blocks.append(_p("Asset-weeks with a minimum per week: the spend of each booked week, "
                         "'off' where the asset spends nothing that week:"))
        blocks.append(_table(on_off, {str(c): cell for c in on_off.columns}, "week"))
    return blocks


def _on_off_cells(win: Any) -> pd.DataFrame | None:
    """Weeks x assets with an on/off minimum: the spend of a booked week, NaN when off."""
    table = getattr(win, "on_off", None)
    if getattr(win, "search", None) is None or table is None or not len(table):
        return None
    t = table.drop_duplicates(["week", "asset"])
    spend = t.pivot(index="week", columns="asset", values="spend")
    on = t.pivot(index="week", columns="asset", values="on").fillna(False).astype(bool)
    grid = spend.where(on)
    grid.index = pd.Index([week_label(w) for w in grid.index], name="week")
    grid.columns = [str(c) for c in grid.columns]
    return grid


def _actuals_blocks(run: Any, act: Any, cur: str, figures: dict[str, bytes]) -> list[Block]:
    out = run.outcome
    t = act.table
    n_periods = t["period"].nunique()
    dev = act.alerts[act.alerts["kind"] == "deviation"] if len(act.alerts) else act.alerts
    drift = act.alerts[act.alerts["kind"] != "deviation"] if len(act.alerts) else act.alerts
    lines = [
        f"Recorded predictions compared with the actual {out} of {n_periods} period(s) "
        f"(workspace {act.workspace}). The prediction is read at the spend actually made, with "
        "its predictive interval.",
        f"An alert needs both: the actual outside the interval and more than "
        f"{percent(act.threshold)} away from the prediction, so ordinary noise does not raise "
        "alarms; a cumulative drift (CUSUM) catches slow decay.",
    ]
    blocks: list[Block] = [_ul(lines)]
    if len(dev) or len(drift):
        blocks += [_p(str(m), "flag") for m in act.alerts["message"].head(6)]
        if len(act.alerts) > 6:
            blocks.append(_p(f"… and {len(act.alerts) - 6} more alerts (plan_vs_actual.csv "
                             "with --out, or `portfolio-mkt monitor`)."))
    else:
        blocks.append(_p("No alert: every actual is within its interval or within "
                         f"{percent(act.threshold)} of the prediction.", "ok"))
    s = act.summary.copy()
    keep = {"periods": "periods", "predicted": f"predicted {out}", "actual": f"actual {out}",
            "deviation": "deviation", "alerts": "alerts", "drift": "drift"}
    cols = [c for c in keep if c in s.columns]
    s = s[cols].rename_axis("asset")
    blocks.append(_table(s, {"predicted": _outcome_cell, "actual": _outcome_cell,
                             "deviation": _pct_cell(True),
                             "periods": lambda v: _cell(f"{int(v)}"),
                             "alerts": lambda v: _cell(f"{int(v)}"),
                             "drift": _text_cell}, "asset", keep))
    blocks.append(_img(figures.get("plan_vs_actual"), "plan versus actual per asset"))
    return blocks
