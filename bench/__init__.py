"""Benchmarks (speed, quality) run by hand or by `make bench`; each writes a JSON under docs/."""
