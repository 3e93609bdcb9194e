"""The parts of a file a CFDP receiver asked to have again: sorted, disjoint octet ranges.

A sender keeps one per class-2 transaction. NAKs add to it, however often they repeat a range (a
receiver re-sends its whole list each time its NAK timer expires, and a long loss of signal queues
many such lists on the uplink), and the sender takes from it only as much as its link can carry
now. So a NAK costs the time to note its ranges, never the time to build every PDU it asks for.
"""

from __future__ import annotations

from bisect import bisect_left


class Gaps:
    def __init__(self) -> None:
        # Disjoint, non-adjacent, non-empty [start, end) ranges, in order.
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        """Ask for [start, end) again; what overlaps or touches a range already asked for joins it."""
        if end <= start:
            return
        # The ranges that overlap or touch [start, end): from the first ending at or after start
        # to the last starting at or before end.
        first = bisect_left(self._ends, start)
        last = first
        while last < len(self._starts) and self._starts[last] <= end:
            last += 1
        if first < last:
            start = min(start, self._starts[first])
            end = max(end, self._ends[last - 1])
        self._starts[first:last] = [start]
        self._ends[first:last] = [end]

    def take(self, most: int) -> list[tuple[int, int]]:
        """Up to ``most`` octets (at least one range's start, if any are left), lowest offsets first."""
        taken: list[tuple[int, int]] = []
        room = max(most, 1)
        while self._starts and room > 0:
            start, end = self._starts[0], self._ends[0]
            cut = min(end, start + room)
            taken.append((start, cut))
            room -= cut - start
            if cut == end:
                del self._starts[0], self._ends[0]
            else:
                self._starts[0] = cut
        return taken

    @property
    def octets(self) -> int:
        return sum(end - start for start, end in zip(self._starts, self._ends, strict=True))

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __len__(self) -> int:
        return len(self._starts)
