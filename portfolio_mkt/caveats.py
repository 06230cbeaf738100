"""What the face says next to a recommendation: data caveats, approvals, views, validation.

The allocation (:class:`~portfolio_mkt.Allocation`) is a result: it does not reach up into the
bias audit or the approval policy. :func:`with_caveats` sits above both and attaches their
plain-language lines to the allocation's ``notes``; :meth:`Allocation.summary` ends with them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .confidence import ApprovalRules, approval_messages
from .estimation import BiasAudit, Estimates, audit_flags_for
from .exceptions import InputError
from .optimization import Allocation

__all__ = ["with_caveats", "caveat_lines"]


def caveat_lines(
    allocation: Allocation,
    *,
    estimates: Estimates | None = None,
    audit: BiasAudit | None = None,
    approval_rules: ApprovalRules | None = None,
    confidence: Any = None,
) -> list[str]:
    """The plain-language caveats of an allocation, one line each.

    Parameters
    ----------
    allocation : Allocation
        The solved plan.
    estimates : Estimates, optional
        Where the problem came from (:func:`portfolio_mkt.problem_from_history`): its audit,
        views and cross-validation are repeated.
    audit : BiasAudit, optional
        A bias audit (defaults to ``estimates.audit``).
    approval_rules : ApprovalRules, optional
        What needs a human's approval (the planning guides' rules by default); used when the
        problem has a current allocation.
    confidence : Confidence or Series, optional
        Per-asset confidence of the recommended direction (:func:`portfolio_mkt.bootstrap`).

    Returns
    -------
    list of str
    """
    if not isinstance(allocation, Allocation):
        raise InputError(
            f"with_caveats needs an Allocation from portfolio_mkt.solve; got "
            f"{type(allocation).__name__}."
        )
    if estimates is not None and not isinstance(estimates, Estimates):
        raise InputError(
            f"estimates must be the Estimates of problem_from_history; got "
            f"{type(estimates).__name__}."
        )
    p = allocation.problem
    out: list[str] = []
    audit = audit if audit is not None else getattr(estimates, "audit", None)
    if audit is not None:
        flags = audit_flags_for(allocation.spend, audit, p.assets)
        if flags:
            out.append("Data caveats (recommendations that rest on thin history):")
            out.extend(f"  - {f}" for f in flags)
    if p.current is not None:
        msgs = approval_messages(allocation, approval_rules, confidence)
        if msgs:
            out.append("Needs a human's approval:")
            out.extend(f"  - {m}" for m in msgs)
    if estimates is not None:
        out.extend(estimates.notes())
    return out


def with_caveats(
    allocation: Allocation,
    *,
    estimates: Estimates | None = None,
    audit: BiasAudit | None = None,
    approval_rules: ApprovalRules | None = None,
    confidence: Any = None,
) -> Allocation:
    """The allocation with its caveats attached to ``notes`` (a copy; the input is untouched).

    Parameters are those of :func:`caveat_lines`.

    Returns
    -------
    Allocation

    Examples
    --------
    >>> import portfolio_mkt as pm
    >>> from portfolio_mkt.simulate import simulate_history
    >>> est = pm.problem_from_history(simulate_history(random_state=0).history, 1e6)
    >>> alloc = pm.with_caveats(pm.solve(est.problem), estimates=est)
    >>> "Data caveats" in alloc.summary()
    True
    """
    lines = caveat_lines(allocation, estimates=estimates, audit=audit,
                         approval_rules=approval_rules, confidence=confidence)
    return dataclasses.replace(allocation, notes=[*allocation.notes, *lines])
