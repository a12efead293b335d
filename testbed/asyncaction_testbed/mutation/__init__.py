"""Mutation testing of the pure modules (``make mutation``; see docs/testing.md)."""
