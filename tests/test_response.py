"""Response curves, adstock, piecewise-linear approximations and the return term."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio_mkt.exceptions import AlignmentError, InputError
from portfolio_mkt.response import (
    ExponentialSaturation,
    GeometricAdstock,
    Hill,
    Linear,
    Logarithmic,
    Logistic,
    MichaelisMenten,
    Power,
    WeibullAdstock,
    approximate,
    concave_envelope,
    make_curve,
    make_return_term,
)

CURVES = [
    Linear(2.5),
    Logarithmic(3e5, 1e5),
    ExponentialSaturation(4e5, 2e5),
    MichaelisMenten(5e5, 1.5e5),
    Power(40.0, 0.6),
    Hill(6e5, 2e5, 0.7),
    Hill(6e5, 2e5, 1.0),
    Hill(6e5, 2e5, 2.5),
    Logistic(5e5, 1 / 1.5e5),
]
IDS = [repr(c) for c in CURVES]
TIGHT = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}
GRID = np.linspace(5e3, 2e6, 41)


@pytest.mark.parametrize("curve", CURVES, ids=IDS)
def test_derivative_matches_finite_differences(curve):
    h = 1e-5 * GRID  # relative step; central differences are O(h^2)
    fd = (curve.value(GRID + h) - curve.value(GRID - h)) / (2 * h)
    np.testing.assert_allclose(curve.derivative(GRID), fd, rtol=1e-6, atol=1e-14)
    fd2 = (curve.derivative(GRID + h) - curve.derivative(GRID - h)) / (2 * h)
    np.testing.assert_allclose(curve.second_derivative(GRID), fd2, rtol=1e-5, atol=1e-18)
    assert float(curve.value(0.0)) == 0.0


@pytest.mark.parametrize("curve", CURVES, ids=IDS)
def test_concavity_flag_matches_the_curve(curve):
    a, b = GRID[:-1], GRID[1:]
    mid_gap = curve.value((a + b) / 2) - (curve.value(a) + curve.value(b)) / 2
    if curve.is_concave:
        assert np.all(mid_gap >= -1e-9 * np.abs(curve.value(b)))
        assert np.all(curve.second_derivative(GRID) <= 1e-15)
    else:  # S-shaped Hill: convex below the inflection point
        x = np.linspace(1e3, curve.inflection * 0.9, 20)
        assert np.all(curve.second_derivative(x) > 0)
        assert curve.cvxpy(cp.Variable(2)) is None


@pytest.mark.parametrize("curve", [c for c in CURVES if c.has_conic_form], ids=str)
def test_numpy_value_equals_cvxpy_value(curve):
    x = cp.Variable(len(GRID), nonneg=True)
    expr = curve.cvxpy(x)
    assert expr.is_concave() and expr.is_dcp()
    x.value = GRID
    np.testing.assert_allclose(expr.value, curve.value(GRID), rtol=1e-12)
    # the same in budget units (what the program uses): r(B w) / B
    b = 2e6
    w = cp.Variable(len(GRID), nonneg=True)
    w.value = GRID / b
    np.testing.assert_allclose(curve.rescale(b).cvxpy(w).value * b, curve.value(GRID), rtol=1e-10)


def test_cvxpy_maximum_matches_closed_form():
    # max beta*log(1+x/k) - c*x  =>  x* = beta/c - k
    c = Logarithmic(3e5, 1e5)
    x = cp.Variable(nonneg=True)
    cp.Problem(cp.Maximize(c.rescale(1e6).cvxpy(x) - 0.5 * x)).solve(solver="CLARABEL", **TIGHT)
    assert x.value * 1e6 == pytest.approx(3e5 / 0.5 - 1e5, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    beta=st.floats(1e-2, 1e7),
    k=st.floats(1e-2, 1e7),
    scale=st.floats(1e-3, 1e6),
    fam=st.sampled_from(["log", "exponential", "michaelis_menten", "logistic", "hill"]),
)
def test_transform_is_exact_change_of_units(beta, k, scale, fam):
    params = {"beta": beta, "k": k}
    if fam == "logistic":
        params = {"beta": beta, "lam": 1.0 / k}
    if fam == "hill":
        params["slope"] = 1.7
    c = make_curve(fam, **params)
    x = np.array([0.0, 0.3, 1.0, 3.0]) * k
    g = c.transform(scale, 7.0)
    np.testing.assert_allclose(g.value(x / scale) * 7.0, c.value(x), rtol=1e-9, atol=1e-300)
    assert type(g) is type(c)


def test_parameters_are_validated_by_name():
    with pytest.raises(InputError, match="'beta'"):
        Logarithmic(-1.0, 2.0)
    with pytest.raises(InputError, match="'k'"):
        MichaelisMenten(1.0, float("nan"))
    with pytest.raises(InputError, match="'alpha'"):
        Power(1.0, 1.5)
    with pytest.raises(InputError, match="'slope'"):
        Hill(1.0, 1.0, 0.0)
    with pytest.raises(InputError, match="'lam'"):
        Logistic(1.0, "x")
    with pytest.raises(InputError, match="unknown response curve family"):
        make_curve("sigmoid", beta=1.0)
    with pytest.raises(InputError, match="missing"):
        make_curve("hill", beta=1.0, k=2.0)


def test_hill_payback_is_the_tangency_of_a_ray_from_zero():
    c = Hill(10.0, 4.0, 3.0)
    t = c.payback_spend
    assert t == pytest.approx(4.0 * 2.0 ** (1 / 3))
    assert float(c.value(t)) / t == pytest.approx(float(c.derivative(t)), rel=1e-12)
    grid = np.linspace(0.01, 40, 40001)
    assert grid[np.argmax(c.value(grid) / grid)] == pytest.approx(t, abs=2e-3)
    assert c.inflection == pytest.approx(4.0 * 0.5 ** (1 / 3))
    assert Hill(10.0, 4.0, 1.0).payback_spend == 0.0


# ------------------------------------------------------------------------- adstock
def test_geometric_adstock_hand_computed():
    ad = GeometricAdstock(0.5, l_max=3, normalize=False)
    np.testing.assert_allclose(ad.transform([1.0, 0.0, 0.0, 2.0, 0.0]), [1, 0.5, 0.25, 2, 1])
    adn = GeometricAdstock(0.5, l_max=3, normalize=True)
    np.testing.assert_allclose(adn.weights(), [4 / 7, 2 / 7, 1 / 7])
    two = adn.transform(np.array([[1.0, 2.0], [0.0, 0.0]]))
    np.testing.assert_allclose(two, [[4 / 7, 8 / 7], [2 / 7, 4 / 7]])
    assert ad.total_effect() == pytest.approx(1.75)
    assert ad.mean_lag() == pytest.approx((0.5 + 0.5) / 1.75)


def test_geometric_adstock_matches_published_column(public_data):
    df = pd.read_csv(public_data / "pymc_marketing" / "mmm_roas_data.csv")
    for col, alpha in (("x1", 0.3), ("x2", 0.5)):
        got = GeometricAdstock(alpha, l_max=4, normalize=True).transform(df[col].to_numpy())
        np.testing.assert_allclose(got, df[f"{col}_adstock"].to_numpy(), rtol=1e-12)


def test_weibull_adstock_hand_computed():
    cdf = WeibullAdstock(shape=1.0, scale=2.0, l_max=3, kind="cdf", normalize=False)
    np.testing.assert_allclose(cdf.weights(), np.exp(-np.arange(3) / 2.0))
    pdf = WeibullAdstock(shape=1.0, scale=1.0, l_max=3, kind="pdf", normalize=False)
    np.testing.assert_allclose(pdf.weights(), np.exp(-np.arange(3.0)))
    delayed = WeibullAdstock(shape=3.0, scale=4.0, l_max=10, kind="pdf")
    assert int(np.argmax(delayed.weights())) == 3  # the effect peaks after a delay
    assert delayed.weights().sum() == pytest.approx(1.0)
    with pytest.raises(InputError, match="'kind'"):
        WeibullAdstock(1.0, 1.0, kind="cumulative")
    with pytest.raises(InputError, match="'alpha'"):
        GeometricAdstock(1.0)
    with pytest.raises(InputError, match="'l_max'"):
        GeometricAdstock(0.3, l_max=0)


def test_carryover_multiplier_hand_computed():
    ad = GeometricAdstock(0.5, l_max=60)
    assert ad.carryover_multiplier(1) == pytest.approx(2.0)
    # f(2) = (2 * 1/2 + 1 * 1/4) / 2 = 0.625
    assert ad.in_window_share(2) == pytest.approx(0.625)
    assert ad.carryover_multiplier(2) == pytest.approx(1.6)
    # long windows capture almost everything; no carryover means no correction
    assert ad.carryover_multiplier(500) == pytest.approx(1.0, abs=3e-3)
    assert GeometricAdstock(0.0, l_max=4).carryover_multiplier(1) == 1.0
    # a delayed (brand-like) kernel is undervalued more in a short window
    brand = WeibullAdstock(shape=3.0, scale=6.0, l_max=16)
    assert brand.carryover_multiplier(4) > GeometricAdstock(0.3, 8).carryover_multiplier(4) > 1


# --------------------------------------------------------------------------- PWL
PWL_CURVES = [
    Logistic(5e5, 1 / 1.5e5),
    Logistic(5e5, 1 / 2e3),  # saturates within 1% of the budget
    Hill(6e5, 2e5, 2.5),
    Hill(6e5, 3e6, 3.0),  # pays only beyond the budget: chord
    Hill(6e5, 2e5, 0.6),
    Logarithmic(3e5, 1e4),
]


@pytest.mark.parametrize("curve", PWL_CURVES, ids=str)
@pytest.mark.parametrize("tol", [1e-3, 1e-4])
def test_adaptive_pwl_error_under_tolerance_on_dense_grid(curve, tol):
    upper = 2e6
    pwl = approximate(curve, upper, tolerance=tol)
    env, pays = concave_envelope(curve, upper)
    grid = np.unique(np.concatenate([np.linspace(0, upper, 100_001),
                                     np.geomspace(1e-3, upper, 20_000)]))
    gap = env.value(grid) - pwl.value(grid)
    bound = tol * float(curve.value(upper))
    assert gap.max() <= bound * (1 + 1e-9)
    assert gap.min() >= -1e-9 * bound  # chords: never above the envelope
    assert np.all(np.diff(pwl.slopes) <= 1e-12)  # concave
    # as few pieces as possible: a uniform grid needs many more for the same error
    n_uniform = 1
    while n_uniform < 4096 and approximate(
        curve, upper, breakpoints="uniform", segments=n_uniform
    ).max_error > bound:
        n_uniform *= 2
    assert pwl.segments <= max(2, n_uniform)
    assert pwl.segments <= {1e-3: 40, 1e-4: 120}[tol]


def test_pwl_segment_counts_are_reported():
    # recorded numbers (0.1% tolerance): a regression guard on the adaptive placement
    counts = {str(c): approximate(c, 2e6, 1e-3).segments for c in PWL_CURVES}
    assert counts[str(Logistic(5e5, 1 / 1.5e5))] <= 25
    assert counts[str(Hill(6e5, 3e6, 3.0))] == 1
    uniform = approximate(Logistic(5e5, 1 / 2e3), 2e6, breakpoints="uniform", segments=32)
    adaptive = approximate(Logistic(5e5, 1 / 2e3), 2e6, 1e-3)
    assert adaptive.max_error < 0.01 * uniform.max_error


def test_envelope_is_tangent_ray_then_curve():
    c = Hill(6e5, 2e5, 2.5)
    env, pays = concave_envelope(c, 2e6)
    assert pays == pytest.approx(c.payback_spend)
    x = np.linspace(0, 2e6, 2001)
    assert np.all(env.value(x) >= c.value(x) - 1e-6)
    below = x < pays
    np.testing.assert_allclose(env.value(x[below]), c.derivative(pays) * x[below])
    np.testing.assert_allclose(env.value(x[~below]), c.value(x[~below]))


# ---------------------------------------------------------------------------- term
def _term(**kw):
    idx = pd.Index(["log", "exp", "logi", "hill_s", "lin", "none"])
    curves = {"log": Logarithmic(3e5, 1e5), "exp": ExponentialSaturation(4e5, 2e5),
              "logi": Logistic(5e5, 1 / 1.5e5), "hill_s": Hill(6e5, 2e5, 2.5),
              "lin": Linear(0.4), "none": None}
    return make_return_term(curves, idx, np.full(6, 0.3), **kw), curves, idx


def test_term_methods_envelope_and_linear_flag():
    term, curves, idx = _term()
    assert term.methods.tolist() == ["exact", "exact", "pwl", "envelope", "linear", "linear"]
    assert term.envelope_assets == ["hill_s"]
    assert term.pays_from["hill_s"] == pytest.approx(curves["hill_s"].payback_spend)
    assert not term.linear
    lin = make_return_term({"a": Linear(1.0)}, pd.Index(["a", "b"]), [0.0, 2.0])
    assert lin.linear


def test_term_expression_agrees_with_numpy():
    term, curves, idx = _term(halo=pd.DataFrame({"log": [0.05]}, index=["exp"]))
    budget = 2e6
    w = cp.Variable(len(idx), nonneg=True)
    expr, cons = term.build(w, budget)
    w0 = np.array([0.2, 0.15, 0.25, 0.3, 0.05, 0.05])
    # with w fixed, the hypograph variables rise to the model: the program's value = model
    cp.Problem(cp.Maximize(cp.sum(expr)), [*cons, w == w0]).solve(solver="CLARABEL")
    x = w0 * budget
    np.testing.assert_allclose(expr.value * budget, term.model_outcome(x), rtol=1e-6)
    true = term.outcome(x)
    assert true[0] == pytest.approx(curves["log"].value(x[0]) + 0.05 * x[1])
    assert true[5] == pytest.approx(0.3 * x[5])
    # exact assets: model == truth; PWL: model under the truth by at most the tolerance
    model = term.model_outcome(x)
    np.testing.assert_allclose(model[[0, 1, 4, 5]], true[[0, 1, 4, 5]], rtol=1e-12)
    tol = 1e-3 * curves["logi"].value(budget)
    assert -tol <= model[2] - true[2] <= 1e-9
    # marginal ROI: own derivative plus the halo the asset gives
    m = term.marginal(x)
    assert m[1] == pytest.approx(curves["exp"].derivative(x[1]) + 0.05)
    rep = term.report(x)
    assert rep.loc["logi", "segments"] > 2 and rep.loc["log", "segments"] == 0
    assert rep.loc["hill_s", "method"] == "envelope"
    assert not rep.loc["hill_s", "below_payback"]  # 600k > payback ~ 245k


def test_term_rejects_bad_inputs():
    idx = pd.Index(["a", "b"])
    with pytest.raises(AlignmentError, match="'c'"):
        make_return_term({"c": Linear(1.0)}, idx, [1, 1])
    with pytest.raises(InputError, match="not a Curve"):
        make_return_term({"a": lambda x: x}, idx, [1, 1])
    with pytest.raises(InputError, match=">= 0"):
        make_return_term({}, idx, [1, 1], halo=pd.DataFrame({"a": [-0.1]}, index=["b"]))
    with pytest.raises(AlignmentError, match="'z'"):
        make_return_term({}, idx, [1, 1], halo=pd.DataFrame({"z": [0.1]}, index=["b"]))
    with pytest.raises(InputError, match="tolerance"):
        make_return_term({}, idx, [1, 1], tolerance=0.0)
    with pytest.raises(InputError, match="not finite"):
        make_return_term({"a": Linear(1.0)}, idx, [1, np.nan])


@settings(max_examples=30, deadline=None)
@given(
    beta=st.floats(1.0, 1e7),
    scale=st.floats(1e-3, 10.0),
    slope=st.floats(0.3, 6.0),
    tol=st.sampled_from([1e-2, 1e-3, 1e-4]),
    fam=st.sampled_from(["logistic", "hill"]),
)
def test_pwl_invariants(beta, scale, slope, tol, fam):
    """Any logistic/Hill curve: chords under the envelope, error within the tolerance."""
    upper = 1e6
    curve = Logistic(beta, 1.0 / (scale * upper)) if fam == "logistic" else Hill(
        beta, scale * upper, slope)
    pwl = approximate(curve, upper, tolerance=tol)
    env, _ = concave_envelope(curve, upper)
    grid = np.linspace(0, upper, 20_001)
    gap = env.value(grid) - pwl.value(grid)
    bound = tol * float(curve.value(upper))
    assert gap.max() <= bound * (1 + 1e-7) + 1e-12 * beta
    assert gap.min() >= -1e-9 * max(bound, 1e-300) - 1e-12 * beta
    assert np.all(np.diff(pwl.slopes) <= 1e-12 * max(abs(pwl.slopes[0]), 1e-300))
    assert pwl.breakpoints[0] == 0.0 and pwl.breakpoints[-1] == upper


def test_program_with_curves_compiles_once_with_dpp():
    import portfolio_mkt as pm

    idx = pd.Index(["a", "b", "c"])
    curves = {"a": Logarithmic(3e5, 1e5), "b": Logistic(5e5, 1 / 1.5e5)}
    cov = pd.DataFrame(np.diag([0.2, 0.3, 0.1]), idx, idx)
    problem = pm.Problem(pd.Series([0.0, 0.0, 1.2], index=idx), covariance=cov, budget=1e6,
                         response=curves)
    program = pm.compile_problem(problem)
    assert program.is_dpp()
