"""Privacy: retention of personal data, legal holds (and later data-subject requests)."""
