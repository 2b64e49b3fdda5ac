"""Shared scoring pieces: pure functions with no run state."""
