"""The HTTP toolkit every domain's routes share: request dependencies and pagination.

It sits in the storage layer (it needs only core, FastAPI and SQLAlchemy) so that a
domain's ``routes.py`` can use it without importing :mod:`kallglot.api`, the edge
that assembles the app from those domains.
"""
