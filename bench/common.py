"""What every benchmark shares: the JSON line format and the --quick flag."""

from __future__ import annotations

import argparse
import json
import statistics
import sys


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a small size, for a smoke run")
    return parser.parse_args()


def emit(metric: str, value: float, unit: str, target: str | None = None, **extra) -> None:
    """Print one figure as a JSON line: {"metric", "value", "unit", "target", ...}."""
    line = {"metric": metric, "value": round(value, 3), "unit": unit, "target": target}
    line.update(extra)
    print(json.dumps(line), flush=True)
    sys.stdout.flush()


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[94]
