"""Transports: each turns a call leg into a session's audio in/out and control events."""
