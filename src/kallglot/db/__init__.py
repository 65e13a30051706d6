"""Storage: the SQLAlchemy engine and sessions, migrations and the model base."""
