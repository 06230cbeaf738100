"""portfolio_mkt: plan marketing budgets the way a quant manages a portfolio."""

from . import exceptions
from .risk import FactorCovariance, nearest_psd

__version__ = "0.1.0"

__all__ = ["exceptions", "FactorCovariance", "nearest_psd", "__version__"]
