"""The ``kallglot`` command line."""
