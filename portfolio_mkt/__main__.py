"""``python -m portfolio_mkt`` runs the command line."""

from .cli import main

raise SystemExit(main())
