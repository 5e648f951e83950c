"""Figures of one load run and their min/median/max over repeated runs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LoadResult:
    """One timed run of a closed-loop load: ``clients`` workers sending back to back.

    Latencies are in milliseconds, ``throughput`` in requests (or turns) per second.
    ``errors`` counts failed requests: connection errors, timeouts and non-2xx answers.
    """

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "throughput": self.throughput}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, nearest-rank; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def from_latencies(latencies_ms: list[float], *, seconds: float, errors: int) -> LoadResult:
    """A ``LoadResult`` from raw per-request latencies (milliseconds)."""
    values = sorted(latencies_ms)
    return LoadResult(
        requests=len(values),
        seconds=seconds,
        errors=errors,
        p50_ms=percentile(values, 50),
        p95_ms=percentile(values, 95),
        p99_ms=percentile(values, 99),
        max_ms=values[-1] if values else 0.0,
    )


@dataclass(frozen=True)
class Spread:
    """min / median / max of one figure over the repeated runs."""

    min: float
    median: float
    max: float
    runs: int

    def fmt(self, digits: int = 1) -> str:
        if self.runs == 1:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} ({self.min:.{digits}f}–{self.max:.{digits}f})"


def spread(values: Sequence[float]) -> Spread:
    """min/median/max of ``values`` (at least one)."""
    return Spread(min=min(values), median=statistics.median(values), max=max(values), runs=len(values))


def spreads(results: Sequence[LoadResult]) -> dict[str, Spread]:
    """Every figure of ``results`` (one per run) as a ``Spread``."""
    dicts = [r.as_dict() for r in results]
    return {key: spread([d[key] for d in dicts]) for key in dicts[0]}
