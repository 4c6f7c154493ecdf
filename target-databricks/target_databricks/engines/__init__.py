"""Engines: where the target's tables live."""
