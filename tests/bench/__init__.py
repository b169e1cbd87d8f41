"""Benchmarks, run on demand with `make bench`; they print numbers, they assert nothing."""
