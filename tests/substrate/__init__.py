"""Pytest fixtures that tie the real servers of :mod:`devenv` to a test session."""
