"""Errors every layer shares, in a module that imports nothing (results/ and the CLI stay torch-free)."""

from __future__ import annotations


class JanusEvalError(Exception):
    """An error the user can fix; the CLI prints it as one line and exits non-zero."""


class TaskNotImplemented(JanusEvalError):
    """A benchmark asked for under a protocol it does not have."""
