"""Twilio-compatible media streams (TwiML voice webhook and the Media Streams WebSocket)."""
