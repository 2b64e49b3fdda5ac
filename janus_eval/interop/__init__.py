"""Bridges to other evaluation frameworks; each imports its framework lazily (optional extras)."""
