"""The heap after a sync: freed pages go back to the system (glibc's malloc_trim)."""

from __future__ import annotations

from pathlib import Path

from asyncaction.runtime import heap


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_trim_returns_the_pages_a_decoded_list_left_behind() -> None:
    # Strings over 512 bytes come from the C allocator, as a LIST page's long values do;
    # the last one stays, so the heap's top cannot shrink on its own.
    strings = [bytes([n % 251]) * 2048 + str(n).encode() for n in range(20_000)]
    kept = strings[-1]
    del strings
    before = rss_mib()
    assert heap.trim() is True  # this machine's C library is glibc
    after = rss_mib()
    assert before - after > 20, (before, after)  # ~40 MiB were freed but still mapped
    assert kept.endswith(b"19999")
