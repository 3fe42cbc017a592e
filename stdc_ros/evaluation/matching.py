"""Match messages by header stamp: the nearest stamp within a tolerance."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class StampIndex(Generic[T]):
    """Values keyed by stamp (ns); ``nearest`` finds the closest one within ``tolerance_ns``."""

    tolerance_ns: int = 5_000_000
    _stamps: list[int] = field(default_factory=list)
    _values: list[T] = field(default_factory=list)

    @classmethod
    def of(cls, items: Iterable[tuple[int, T]], tolerance_ns: int) -> StampIndex[T]:
        index: StampIndex[T] = cls(tolerance_ns)
        for stamp, value in items:
            index.add(stamp, value)
        return index

    def add(self, stamp: int, value: T) -> None:
        """Insert (a second value for an existing stamp replaces the first)."""
        i = bisect.bisect_left(self._stamps, stamp)
        if i < len(self._stamps) and self._stamps[i] == stamp:
            self._values[i] = value
        else:
            self._stamps.insert(i, stamp)
            self._values.insert(i, value)

    def nearest(self, stamp: int) -> tuple[int, T] | None:
        """(stamp, value) nearest to ``stamp`` if it is within the tolerance, else None."""
        i = bisect.bisect_left(self._stamps, stamp)
        best: tuple[int, T] | None = None
        for j in (i - 1, i):
            if 0 <= j < len(self._stamps):
                gap = abs(self._stamps[j] - stamp)
                if gap <= self.tolerance_ns and (best is None or gap < abs(best[0] - stamp)):
                    best = (self._stamps[j], self._values[j])
        return best

    def __len__(self) -> int:
        return len(self._stamps)

    def __contains__(self, stamp: int) -> bool:
        return self.nearest(stamp) is not None

    def stamps(self) -> list[int]:
        return list(self._stamps)
