"""Turnout data plane: the experiment-aware HTTP router that runs in router pods."""
