"""Curves calibrated from plan files pass through the stated point with the stated slope.

Numbers are worked by hand: current spend x0 = 100, last outcome 200 (average return 2 per unit),
scale k = saturation * x0.

- log, r(x) = beta log(1 + x/k): beta = 200 / log(1 + x0/k), r'(x0) = beta / (k + x0).
  saturation 1: beta = 200 / ln 2 = 288.5390..., r'(100) = 1 / ln 2 = 1.442695...
  saturation 0.5: beta = 200 / ln 3 = 182.0478..., r'(100) = 200 / (150 ln 3) = 1.213650...
- Michaelis-Menten, r(x) = beta x / (k + x): beta = 2 (k + x0), r'(x0) = beta k / (k + x0)^2.
  saturation 1: beta = 400, r'(100) = 400 * 100 / 200^2 = 1.0
  saturation 0.5: beta = 300, r'(100) = 300 * 50 / 150^2 = 0.666...
"""

from __future__ import annotations

import math

import pytest

from portfolio_mkt.plan import load_plan

PLAN = """\
name: calibration
outcome: sales
currency: EUR
assets:
  - {{id: a, channel: search, current: 100, last_outcome: 200, volatility: 0.1, saturation: {sat}}}
  - {{id: b, channel: social, current: 100, last_outcome: 100, volatility: 0.1}}
covariance:
  volatility: relative
  correlation: 0.0
budget: {{amount: 200, mode: exact}}
risk:
  objective: utility
  risk_aversion: 1.0
response:
  family: {family}
  calibrate: current
  saturation: 1.0
"""

CASES = [
    # family, saturation, beta, k, r'(x0)
    ("log", 1.0, 200 / math.log(2), 100.0, 1 / math.log(2)),
    ("log", 0.5, 200 / math.log(3), 50.0, 200 / (150 * math.log(3))),
    ("logarithmic", 1.0, 200 / math.log(2), 100.0, 1 / math.log(2)),
    ("michaelis_menten", 1.0, 400.0, 100.0, 1.0),
    ("michaelis_menten", 0.5, 300.0, 50.0, 2 / 3),
]


@pytest.mark.parametrize(("family", "sat", "beta", "k", "slope"), CASES)
def test_plan_file_calibration_of_log_and_michaelis_menten(tmp_path, family, sat, beta, k,
                                                          slope):
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(family=family, sat=sat), encoding="utf-8")
    problem = load_plan(path).to_problem()
    curve = problem.response["a"]
    assert float(curve.value(100.0)) == pytest.approx(200.0, rel=1e-12)
    assert float(curve.derivative(100.0)) == pytest.approx(slope, rel=1e-12)
    assert float(curve.beta) == pytest.approx(beta, rel=1e-12)
    assert float(curve.k) == pytest.approx(k, rel=1e-12)
    # one more point, by hand from the same formula: r(2 x0)
    if family.startswith("log"):
        assert float(curve.value(200.0)) == pytest.approx(beta * math.log1p(200 / k), rel=1e-12)
    else:
        assert float(curve.value(200.0)) == pytest.approx(beta * 200 / (k + 200), rel=1e-12)
