"""Turnout control plane: reconciles Router resources into router Deployments."""
