"""Numbers as a planner reads them: money in the currency unit, no -0, no dust, no 2.2e-13.

One place for every number the report, the command line and the CSV files show, so the same
value never prints two ways.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "week_label",
    "DUST",
    "as_float",
    "money",
    "signed_money",
    "number",
    "percent",
    "clean_number",
    "currency_label",
]

#: Amounts of money below this many currency units are shown as 0 ("dust").
DUST = 0.5

_MINUS = "−"  # U+2212, the typographic minus used on the HTML page


def as_float(value: Any) -> float | None:
    """``value`` as a finite-or-NaN float, or ``None`` when it is not a number.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    float or None
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _is_code(currency: str) -> bool:
    return currency.isalpha() and len(currency) > 1


def currency_label(currency: str | None) -> str:
    """How the currency is named in a heading: ``"$"``, ``"EUR"`` or ``""``.

    Parameters
    ----------
    currency : str or None
        The plan's currency.

    Returns
    -------
    str
    """
    return (currency or "").strip()


def _with_currency(digits: str, currency: str | None) -> str:
    cur = currency_label(currency)
    if not cur:
        return digits
    return f"{cur} {digits}" if _is_code(cur) else f"{cur}{digits}"


def money(value: Any, currency: str | None = "", missing: str = "–") -> str:
    """An amount of money rounded to the currency unit, with thousands separators.

    Amounts smaller than :data:`DUST` print as 0, and never as ``-0``.

    Parameters
    ----------
    value : float
        The amount.
    currency : str, optional
        Currency symbol (``"$"``, prefixed) or code (``"EUR"``, prefixed with a space).
    missing : str
        Text for NaN or a non-number.

    Returns
    -------
    str

    Examples
    --------
    >>> money(479999.999909, "$")
    '$480,000'
    >>> money(-3.9e-17, "EUR")
    'EUR 0'
    """
    x = as_float(value)
    if x is None or math.isnan(x):
        return missing
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if abs(x) < DUST:
        x = 0.0
    r = round(x)
    sign = "-" if r < 0 else ""
    return sign + _with_currency(f"{abs(r):,.0f}", currency)


def signed_money(value: Any, currency: str | None = "", minus: str = "-",
                 missing: str = "–") -> str:
    """A change of money with its sign (``+$1,200``, ``-$300``, ``0``).

    Parameters
    ----------
    value : float
        The change.
    currency : str, optional
        Currency symbol or code.
    minus : str, default "-"
        The minus sign (the HTML page uses U+2212).
    missing : str
        Text for NaN.

    Returns
    -------
    str
    """
    x = as_float(value)
    if x is None or math.isnan(x):
        return missing
    if abs(x) < DUST:
        return "0"
    r = round(x)
    if r == 0:
        return "0"
    return ("+" if r > 0 else minus) + _with_currency(f"{abs(r):,.0f}", currency)


def number(value: Any, digits: int = 3, missing: str = "–", minus: str = "-") -> str:
    """A number other than money: thousands separators from 1,000, else ``digits`` significant.

    Values within ``1e-9`` of zero relative to 1 print as ``0`` (no ``2.2e-13``, no ``-0``).

    Parameters
    ----------
    value : float
        The number.
    digits : int, default 3
        Significant digits below 1,000.
    missing : str
        Text for NaN or a non-number.
    minus : str, default "-"
        The minus sign.

    Returns
    -------
    str

    Examples
    --------
    >>> number(2.2e-13), number(-0.0), number(1.23456), number(12345.6)
    ('0', '0', '1.23', '12,346')
    """
    x = as_float(value)
    if x is None or math.isnan(x):
        return missing
    if math.isinf(x):
        return "∞" if x > 0 else minus + "∞"
    if abs(x) < 10.0 ** (-digits - 3):
        return "0"
    if abs(x) >= 1000:
        text = f"{round(x):,.0f}"
    else:
        text = f"{x:.{digits}g}"
        if "e" in text:
            text = f"{x:.{digits + 3}f}".rstrip("0").rstrip(".")
    if text in ("-0", "0", "-0.0"):
        return "0"
    return text.replace("-", minus, 1) if text.startswith("-") else text


def percent(value: Any, signed: bool = False, missing: str = "–", minus: str = "-",
            digits: int = 1) -> str:
    """A fraction as a percentage with ``digits`` decimals; never ``-0.0%``.

    Parameters
    ----------
    value : float
        The fraction (0.12 is 12%).
    signed : bool, default False
        Show ``+`` for positive values.
    missing : str
        Text for NaN.
    minus : str, default "-"
        The minus sign.
    digits : int, default 1
        Decimals.

    Returns
    -------
    str

    Examples
    --------
    >>> percent(-0.00001, signed=True), percent(0.1234)
    ('0.0%', '12.3%')
    """
    x = as_float(value)
    if x is None or math.isnan(x):
        return missing
    r = round(x * 100, digits)
    if r == 0:
        return f"{0:.{digits}f}%"
    body = f"{abs(r):.{digits}f}%"
    if r < 0:
        return minus + body
    return ("+" if signed else "") + body


def clean_number(value: float, scale: float = 1.0, rel: float = 1e-9) -> float:
    """``value`` with noise removed: exactly 0 when ``|value| <= rel * scale``; never -0.0.

    Parameters
    ----------
    value : float
        The number.
    scale : float, default 1.0
        The size of the quantities it is compared with (a budget, an outcome).
    rel : float, default 1e-9
        Relative threshold.

    Returns
    -------
    float
    """
    x = float(value)
    if math.isnan(x):
        return x
    if abs(x) <= rel * max(abs(scale), 1.0):
        return 0.0
    return x + 0.0


def week_label(label: Any) -> str:
    """A period label as people read it (``'2026-01-05'`` for a date, ``'week 3'`` for a number).

    Parameters
    ----------
    label : Timestamp, int or str

    Returns
    -------
    str
    """
    import datetime as _dt
    import numbers

    if isinstance(label, _dt.datetime | _dt.date):
        return label.strftime("%Y-%m-%d")
    if isinstance(label, numbers.Integral) and not isinstance(label, bool):
        return f"week {int(label)}"
    return str(label)
