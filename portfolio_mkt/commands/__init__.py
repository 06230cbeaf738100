"""Sub-commands of the ``portfolio-mkt`` command line, one module each.

Each module exposes ``register(subparsers)``; its top level imports only the standard library so
that ``portfolio-mkt --help`` stays fast, and heavy imports happen inside the command's function.
"""
