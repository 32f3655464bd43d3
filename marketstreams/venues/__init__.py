"""Venue adapters: one package per venue (protocol core, parsers, state, feed)."""
