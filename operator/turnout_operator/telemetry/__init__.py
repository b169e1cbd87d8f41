"""Prometheus metrics and per-pass timings: used from every layer, importing none."""
