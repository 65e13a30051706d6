"""Telnyx: call-control webhook answering with media streaming, and the stream itself."""
