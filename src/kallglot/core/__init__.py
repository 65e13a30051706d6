"""Cross-cutting foundations: settings, errors, ids, clock and logging."""
