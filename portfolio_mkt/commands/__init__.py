"""Sub-commands of the ``portfolio-mkt`` command line, one module each.

Each module exposes ``register(subparsers)``; its top level imports only the standard library so
that ``portfolio-mkt --help`` stays fast, and heavy imports happen inside the command's function.
"""

from ._common import Unavailable, format_table

__all__ = ["Unavailable", "format_table"]
