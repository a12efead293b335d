"""Metrics hooks: counters and gauges the runtime and controllers update, in memory.

Kept dependency-free and cheap (a dict increment): the controllers call ``inc``/``set``
at the points controller-runtime instruments (reconciles, their errors, API writes by
verb and resource, queue depth), and ``snapshot`` returns the figures for logs,
benchmarks and tests. An exporter (Prometheus text format) is ``render``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


@dataclass
class Metrics:
    counters: dict[tuple[str, Labels], float] = field(default_factory=lambda: defaultdict(float))
    gauges: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def inc(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1) -> None:
        self.counters[(name, _labels(labels))] += value

    def set(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        self.gauges[(name, _labels(labels))] = value

    def total(self, name: str) -> float:
        """The sum of a counter over all its label values."""
        return sum(value for (metric, _), value in self.counters.items() if metric == name)

    def snapshot(self) -> dict[str, float]:
        def text(name: str, labels: Labels) -> str:
            inner = ",".join(f'{k}="{v}"' for k, v in labels)
            return f"{name}{{{inner}}}" if inner else name

        figures = {text(n, lb): v for (n, lb), v in self.counters.items()}
        figures.update({text(n, lb): v for (n, lb), v in self.gauges.items()})
        return dict(sorted(figures.items()))

    def render(self) -> str:
        """Prometheus text exposition format."""
        return "".join(f"{name} {value:g}\n" for name, value in self.snapshot().items())
