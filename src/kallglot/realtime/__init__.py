"""Calls: sessions and their state machine, the translation pipeline, events, webhooks."""
