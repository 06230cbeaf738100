"""The ``portfolio-mkt`` command line: a registry of sub-commands.

::

    portfolio-mkt demo                      # the built-in US/RU example, curves from history
    portfolio-mkt list                      # the built-in plans
    portfolio-mkt plan quarterly_2m --out out/   # recommendation, tables, plots, report.html
    portfolio-mkt frontier us_ru_creators
    portfolio-mkt scenarios monthly_100k
    portfolio-mkt fit history.csv --budget 1000000

Each module of :mod:`portfolio_mkt.commands` named in :data:`COMMAND_MODULES` exposes
``register(subparsers)``, which adds its sub-command(s) and sets ``func`` (the parsed ``args``
-> exit code). This module and the command modules import only the standard library at their
top, so ``portfolio-mkt --help`` loads no solver.

Exit codes: 0 success, 1 infeasible plan or solver failure (the conflicting constraints are
named), 2 bad input (an invalid plan file, a missing file, a bad option). See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from . import commands
from .commands import demo, fit, integer, loop, mmm, plan, window  # noqa: F401  (registered below)

__all__ = ["main", "build_parser", "format_table", "COMMAND_MODULES", "EXIT_OK", "EXIT_FAILED",
           "EXIT_BAD_INPUT"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

#: The command modules, in the order their commands appear in ``--help``.
COMMAND_MODULES = ("demo", "plan", "fit", "mmm", "window", "integer", "loop")


class _ArgumentError(Exception):
    """argparse wanted to exit with a usage error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise _ArgumentError(f"{self.prog}: error: {message}")


def format_table(frame: Any, columns: Sequence[str] | None = None) -> str:
    """A readable fixed-width table (see :func:`portfolio_mkt.commands.format_table`).

    Parameters
    ----------
    frame : DataFrame
        The table.
    columns : sequence of str, optional
        Columns to show.

    Returns
    -------
    str
    """
    from .commands import format_table as fmt

    return fmt(frame, columns)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``portfolio-mkt``, with every registered command.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = _Parser(
        prog="portfolio-mkt",
        description="Plan marketing budgets as a convex portfolio problem.",
        epilog="Exit codes: 0 ok, 1 infeasible plan or solver failure, 2 bad input.",
    )
    p.add_argument("--version", action="version", version=f"portfolio-mkt {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        getattr(commands, name).register(sub)
    return p


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return "unknown"
    try:
        return version("portfolio_mkt")
    except PackageNotFoundError:
        import re
        from pathlib import Path

        text = (Path(__file__).resolve().parent / "__init__.py").read_text(encoding="utf-8")
        m = re.search(r'^__version__\s*=\s*"([^"]+)"', text, re.M)
        return m.group(1) if m else "unknown"


def main(argv: Sequence[str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).
    out, err : text streams, optional
        Where to print results and errors (default stdout and stderr).

    Returns
    -------
    int
        Exit code: 0 ok, 1 infeasible or solver failure, 2 bad input.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(list(argv) if argv is not None else None)
    except _ArgumentError as exc:
        print(str(exc), file=err)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    if getattr(args, "points", 2) is not None and getattr(args, "points", 2) < 2:
        print("portfolio-mkt: error: --points must be at least 2", file=err)
        return EXIT_BAD_INPUT
    if args.command != "list":
        _silence_solver_banners()
    try:
        with contextlib.redirect_stdout(out):
            return int(args.func(args))
    except BrokenPipeError:  # e.g. `portfolio-mkt plan x | head`: stop quietly
        try:
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - mapped to an exit code and one message below
        return _report_error(exc, err)


def _silence_solver_banners() -> None:
    """Make HiGHS's first solver object with standard output on the null device.

    HiGHS prints a banner on the process's standard output when its first solver object is
    made, before any option can switch output off; after this, no solver prints.
    """
    import os

    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no real stdout
        return
    saved = None
    try:
        sys.__stdout__.flush()
        saved = os.dup(fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
        try:
            import highspy

            highspy.Highs()
        except Exception:  # noqa: BLE001 - no HiGHS, nothing to silence
            pass
    except OSError:  # pragma: no cover
        pass
    finally:
        if saved is not None:
            os.dup2(saved, fd)
            os.close(saved)


def _report_error(exc: Exception, err: TextIO) -> int:
    from .commands import Unavailable
    from .exceptions import (
        ConstraintViolationError,
        InfeasibleError,
        PortfolioMktError,
        SolverError,
    )

    if isinstance(exc, InfeasibleError):
        names = ", ".join(exc.conflicts) if exc.conflicts else "(not identified)"
        print(f"portfolio-mkt: the plan is infeasible. Conflicting constraints: {names}.\n"
              f"{exc}", file=err)
        for k, v in (exc.slack or {}).items():
            print(f"  - {k}: would need relaxing by {v:,.0f}", file=err)
        return EXIT_FAILED
    if isinstance(exc, (SolverError, ConstraintViolationError)):
        print(f"portfolio-mkt: the solver failed: {exc}", file=err)
        return EXIT_FAILED
    if isinstance(exc, Unavailable):
        print(f"portfolio-mkt: {exc}", file=err)
        return EXIT_BAD_INPUT
    if isinstance(exc, (PortfolioMktError, OSError)):
        print(f"portfolio-mkt: error: {exc}", file=err)
        return EXIT_BAD_INPUT
    raise exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
