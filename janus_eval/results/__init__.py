"""Readers of run directories: reports, tables, gates, leaderboards."""
