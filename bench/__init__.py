"""Benchmarks: `python -m bench.<area> [--quick]`, one JSON line per figure."""
