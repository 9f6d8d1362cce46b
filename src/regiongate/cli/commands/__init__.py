"""Subcommands of the ``regiongate`` CLI: each module here defines ``register(subparsers)``.

The CLI discovers modules in this package, so adding a subcommand is adding a file.
"""
