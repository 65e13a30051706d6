"""Subject stores of the domains below privacy (see ``kallglot.privacy.subjects``)."""
