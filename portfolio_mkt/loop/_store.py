"""The workspace database: one SQLite file holding plans, allocations, actuals, alerts, overrides.

SQLite (standard library) rather than DuckDB: the workspace is a small transactional record
written one command at a time (OLTP), read by many; SQLite gives atomic transactions, a
write-ahead log so readers never block the writer, a busy timeout so two writers queue instead
of failing, and no extra dependency. DuckDB is built for analytical scans over large columnar
data, which the loop does not need (its tables are read whole into pandas).

Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``): a command interrupted at
any point leaves either the whole record or nothing. The schema version lives in
``PRAGMA user_version``; :data:`MIGRATIONS` moves an older file forward on open.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import InputError

__all__ = [
    "Workspace",
    "open_workspace",
    "DEFAULT_WORKSPACE",
    "SCHEMA_VERSION",
    "MIGRATIONS",
    "WorkspaceError",
]

#: Where a workspace lives when no path is given (relative to the working directory).
DEFAULT_WORKSPACE = Path(".portfolio_mkt") / "workspace.db"

_V1 = [
    """CREATE TABLE plans (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        plan_text TEXT NOT NULL,
        plan_hash TEXT NOT NULL,
        plan_path TEXT,
        estimates_hash TEXT,
        estimates_location TEXT,
        created TEXT NOT NULL,
        approved_by TEXT
    )""",
    """CREATE TABLE allocations (
        plan_id INTEGER NOT NULL REFERENCES plans(id),
        asset TEXT NOT NULL,
        period TEXT NOT NULL,
        spend REAL NOT NULL,
        expected REAL NOT NULL,
        low REAL,
        high REAL,
        PRIMARY KEY (plan_id, asset, period)
    )""",
    """CREATE TABLE actuals (
        asset TEXT NOT NULL,
        period TEXT NOT NULL,
        spend REAL NOT NULL,
        outcome REAL NOT NULL,
        source TEXT,
        loaded TEXT NOT NULL,
        PRIMARY KEY (asset, period)
    )""",
    """CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        plan_id INTEGER,
        asset TEXT NOT NULL,
        period TEXT NOT NULL,
        kind TEXT NOT NULL,
        predicted REAL,
        actual REAL,
        low REAL,
        high REAL,
        deviation REAL,
        message TEXT,
        created TEXT NOT NULL
    )""",
    """CREATE TABLE overrides (
        id INTEGER PRIMARY KEY,
        plan_id INTEGER REFERENCES plans(id),
        asset TEXT NOT NULL,
        period TEXT,
        spend_from REAL,
        spend_to REAL NOT NULL,
        who TEXT NOT NULL,
        reason TEXT NOT NULL,
        confidence REAL,
        created TEXT NOT NULL
    )""",
]

_V2 = [
    # the local model behind each prediction, so monitoring can predict at the spend
    # actually made: marginal return at the recommended spend, outcome sd per unit of spend,
    # the level of the recorded interval
    "ALTER TABLE allocations ADD COLUMN marginal REAL",
    "ALTER TABLE allocations ADD COLUMN sd_per_unit REAL",
    "ALTER TABLE allocations ADD COLUMN level REAL",
    "CREATE INDEX actuals_period ON actuals(period)",
    # v1 could store the same alert twice when monitor ran twice: keep the first, then forbid
    """DELETE FROM alerts WHERE id NOT IN (
        SELECT MIN(id) FROM alerts GROUP BY plan_id, asset, period, kind)""",
    "CREATE UNIQUE INDEX alerts_key ON alerts(plan_id, asset, period, kind)",
]

#: Schema version -> statements that bring a database from the previous version to it.
MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2}

#: The schema version this code writes.
SCHEMA_VERSION = max(MIGRATIONS)


class WorkspaceError(InputError):
    """The workspace file cannot be opened, is from a newer version, or a record is missing."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def period_key(value: Any) -> str:
    """The text key of a period in the database (ISO date, or a whole number).

    Parameters
    ----------
    value : date-like, int or str
        A period.

    Returns
    -------
    str
        ``"2024-01-01"`` for dates, ``"7"`` for period numbers.
    """
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return str(int(value))
    if hasattr(value, "is_integer") and float(value).is_integer() and not isinstance(value, str):
        return str(int(value))
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return str(int(value))
    try:
        return pd.Timestamp(value).date().isoformat()
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"period {value!r} is neither a date nor a whole period number; write periods as "
            "ISO dates like '2024-01-01'."
        ) from exc


def period_value(key: str) -> Any:
    """Inverse of :func:`period_key`: a Timestamp for dates, an int for period numbers."""
    text = str(key)
    if text.lstrip("-").isdigit():
        return int(text)
    return pd.Timestamp(text)


def period_keys(values: Any) -> list[str]:
    """:func:`period_key` of many periods at once (vectorised for dates and integers)."""
    ser = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(ser) and not ser.isna().any():
        return ser.dt.strftime("%Y-%m-%d").tolist()
    if pd.api.types.is_integer_dtype(ser):
        return ser.astype("int64").astype(str).tolist()
    return [period_key(v) for v in ser]


class Workspace:
    """A workspace database (one SQLite file), created and migrated on open.

    Parameters
    ----------
    path : str or Path, optional
        The database file; default ``./.portfolio_mkt/workspace.db``. Missing directories are
        created.
    timeout : float, default 30.0
        Seconds a writer waits for another writer's lock before giving up.

    Attributes
    ----------
    path : Path
        The database file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with Workspace(pathlib.Path(tempfile.mkdtemp()) / "ws.db") as ws:
    ...     ws.schema_version
    2
    """

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0) -> None:
        self.path = Path(path) if path is not None else DEFAULT_WORKSPACE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(
                str(self.path), timeout=float(timeout), isolation_level=None
            )
        except (OSError, sqlite3.Error) as exc:
            raise WorkspaceError(
                f"cannot open the workspace {str(self.path)!r}: {exc}; pass --workspace PATH "
                "to a writable file."
            ) from exc
        try:
            self._con.execute(f"PRAGMA busy_timeout = {int(float(timeout) * 1000)}")
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute("PRAGMA synchronous = FULL")
            self._con.execute("PRAGMA foreign_keys = ON")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            self._con.close()
            raise WorkspaceError(
                f"{str(self.path)!r} is not a portfolio_mkt workspace ({exc}); give another "
                "--workspace path."
            ) from exc

    # -- plumbing ----------------------------------------------------------------------------
    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r}, schema_version={self.schema_version})"

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    @property
    def schema_version(self) -> int:
        """The schema version of the file (``PRAGMA user_version``)."""
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all statements inside commit together or not at all.

        ``BEGIN IMMEDIATE`` takes the write lock up front (another writer waits up to
        ``timeout``), so a transaction never fails half-way on a lock.

        Yields
        ------
        sqlite3.Connection
        """
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def migrate(self, target: int | None = None) -> int:
        """Bring the file to ``target`` (default :data:`SCHEMA_VERSION`), one version a step.

        Each step runs in its own exclusive transaction and re-reads the version inside it,
        so two processes opening a new file at once migrate it once.

        Parameters
        ----------
        target : int, optional
            Version to reach.

        Returns
        -------
        int
            The version after migrating.

        Raises
        ------
        WorkspaceError
            The file is from a newer version of portfolio_mkt.
        """
        target = SCHEMA_VERSION if target is None else int(target)
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise WorkspaceError(
                f"the workspace {str(self.path)!r} has schema version {current}, newer than this "
                f"portfolio_mkt ({SCHEMA_VERSION}); upgrade portfolio_mkt."
            )
        while current < target:
            self._con.execute("BEGIN EXCLUSIVE")
            try:
                current = self.schema_version
                if current < target:
                    for sql in MIGRATIONS[current + 1]:
                        self._con.execute(sql)
                    self._con.execute(f"PRAGMA user_version = {current + 1}")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            current = self.schema_version
        return current

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run a read query (parameterised) and return a DataFrame.

        Parameters
        ----------
        sql : str
            A SELECT statement with ``?`` placeholders.
        params : sequence
            Values of the placeholders.

        Returns
        -------
        DataFrame
        """
        cur = self._con.execute(sql, tuple(params))
        cols = [d[0] for d in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)

    # -- writes (each one transaction) -----------------------------------------------------
    def add_plan(
        self,
        *,
        name: str,
        plan_text: str,
        plan_hash: str,
        allocations: Iterable[dict[str, Any]],
        plan_path: str | None = None,
        estimates_hash: str | None = None,
        estimates_location: str | None = None,
        approved_by: str | None = None,
    ) -> int:
        """Store a plan and its allocation rows in one transaction; return the plan id.

        Parameters
        ----------
        name, plan_text, plan_hash : str
            The plan's name, file text and its SHA-256.
        allocations : iterable of dict
            Rows with ``asset, period, spend, expected, low, high, marginal, sd_per_unit,
            level``.
        plan_path, estimates_hash, estimates_location, approved_by : str, optional
            Where the plan came from, the estimates it used, who approved it.

        Returns
        -------
        int
        """
        rows = list(allocations)
        keys = period_keys([r["period"] for r in rows])
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO plans (name, plan_text, plan_hash, plan_path, estimates_hash, "
                "estimates_location, created, approved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, plan_text, plan_hash, plan_path, estimates_hash, estimates_location,
                 _now(), approved_by),
            )
            plan_id = int(cur.lastrowid)  # type: ignore[arg-type]
            con.executemany(
                "INSERT INTO allocations (plan_id, asset, period, spend, expected, low, high, "
                "marginal, sd_per_unit, level) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (plan_id, str(r["asset"]), key, float(r["spend"]),
                     float(r["expected"]), _opt(r.get("low")), _opt(r.get("high")),
                     _opt(r.get("marginal")), _opt(r.get("sd_per_unit")), _opt(r.get("level")))
                    for r, key in zip(rows, keys, strict=True)
                ],
            )
        return plan_id

    def add_actuals(self, frame: pd.DataFrame, source: str | None = None) -> int:
        """Insert or replace actual spend and outcome per (asset, period), in one transaction.

        Parameters
        ----------
        frame : DataFrame
            Columns ``period, asset, spend, outcome`` (validated by
            :func:`~portfolio_mkt.loop.read_actuals`).
        source : str, optional
            Where the rows came from (a file name).

        Returns
        -------
        int
            Rows written.
        """
        now = _now()
        keys = period_keys(frame["period"])
        rows = [
            (str(a), k, float(s), float(o), source, now)
            for k, a, s, o in zip(keys, frame["asset"], frame["spend"], frame["outcome"],
                                  strict=True)
        ]
        with self.transaction() as con:
            con.executemany(
                "INSERT INTO actuals (asset, period, spend, outcome, source, loaded) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(asset, period) DO UPDATE SET "
                "spend = excluded.spend, outcome = excluded.outcome, source = excluded.source, "
                "loaded = excluded.loaded",
                rows,
            )
        return len(rows)

    def add_alerts(self, rows: Iterable[dict[str, Any]]) -> int:
        """Store alerts (one transaction); an alert already stored is not repeated.

        Parameters
        ----------
        rows : iterable of dict
            ``plan_id, asset, period, kind, predicted, actual, low, high, deviation, message``.

        Returns
        -------
        int
            Alerts newly stored.
        """
        now = _now()
        vals = [
            (r.get("plan_id"), str(r["asset"]), period_key(r["period"]), str(r["kind"]),
             _opt(r.get("predicted")), _opt(r.get("actual")), _opt(r.get("low")),
             _opt(r.get("high")), _opt(r.get("deviation")), r.get("message"), now)
            for r in rows
        ]
        with self.transaction() as con:
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO alerts (plan_id, asset, period, kind, predicted, actual, "
                "low, high, deviation, message, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                vals,
            )
            return con.total_changes - before

    def add_override(
        self,
        *,
        asset: str,
        spend_to: float,
        who: str,
        reason: str,
        plan_id: int | None = None,
        period: Any = None,
        spend_from: float | None = None,
        confidence: float | None = None,
    ) -> int:
        """Store one override (one transaction); return its id.

        Parameters
        ----------
        asset : str
            The asset whose recommended spend was changed.
        spend_to : float
            The spend decided instead.
        who, reason : str
            Who changed it and why.
        plan_id : int, optional
            The plan overridden.
        period : period-like, optional
            The period concerned (None: every period of the plan).
        spend_from : float, optional
            The recommended spend.
        confidence : float, optional
            The model's confidence in its recommendation at the time (0..1).

        Returns
        -------
        int
        """
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO overrides (plan_id, asset, period, spend_from, spend_to, who, "
                "reason, confidence, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (plan_id, str(asset), None if period is None else period_key(period),
                 _opt(spend_from), float(spend_to), str(who), str(reason), _opt(confidence),
                 _now()),
            )
            return int(cur.lastrowid)  # type: ignore[arg-type]

    # -- reads ---------------------------------------------------------------------------------
    def plans(self) -> pd.DataFrame:
        """Every recorded plan (without the file text), oldest first."""
        return self.query(
            "SELECT id, name, plan_hash, plan_path, estimates_hash, estimates_location, created, "
            "approved_by FROM plans ORDER BY id"
        )

    def plan(self, plan_id: int | None = None) -> dict[str, Any]:
        """One plan record (the latest when ``plan_id`` is None), with its file text.

        Raises
        ------
        WorkspaceError
            No such plan.
        """
        if plan_id is None:
            df = self.query("SELECT * FROM plans ORDER BY id DESC LIMIT 1")
        else:
            df = self.query("SELECT * FROM plans WHERE id = ?", (int(plan_id),))
        if df.empty:
            which = "no plan is recorded" if plan_id is None else f"no plan with id {plan_id}"
            raise WorkspaceError(
                f"{which} in {str(self.path)!r}; record one with `portfolio-mkt record PLAN`."
            )
        return df.iloc[0].to_dict()

    def allocations(self, plan_id: int | None = None) -> pd.DataFrame:
        """Allocation rows (of one plan, or of every plan), periods parsed."""
        if plan_id is None:
            df = self.query("SELECT * FROM allocations ORDER BY plan_id, period, asset")
        else:
            df = self.query(
                "SELECT * FROM allocations WHERE plan_id = ? ORDER BY period, asset",
                (int(plan_id),),
            )
        return _parse_period(df)

    def actuals(self) -> pd.DataFrame:
        """Every actual row, periods parsed."""
        return _parse_period(self.query("SELECT * FROM actuals ORDER BY period, asset"))

    def alerts(self) -> pd.DataFrame:
        """Every stored alert, periods parsed."""
        return _parse_period(self.query("SELECT * FROM alerts ORDER BY period, asset, kind"))

    def overrides(self) -> pd.DataFrame:
        """Every recorded override, oldest first."""
        df = self.query("SELECT * FROM overrides ORDER BY id")
        if not df.empty:
            df["period"] = [None if p is None else period_value(p) for p in df["period"]]
        return df


def _opt(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return None if v != v else v


def _parse_period(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    text = df["period"].astype(str)
    if text.str.fullmatch(r"-?\d+").all():
        df["period"] = text.astype("int64")
    elif text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        df["period"] = pd.to_datetime(text, format="%Y-%m-%d")
    else:
        df["period"] = [period_value(p) for p in df["period"]]
    return df


def open_workspace(path: str | Path | None = None) -> Workspace:
    """Open (and create or migrate) a workspace database.

    Parameters
    ----------
    path : str or Path, optional
        Default ``./.portfolio_mkt/workspace.db``.

    Returns
    -------
    Workspace
    """
    return Workspace(path)
