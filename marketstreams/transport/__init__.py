"""Thin I/O helpers shared by the venue feeds: backoff, websocket client settings, TLS lines."""
