"""Memory that stays flat (issue 19): the translation cache's books follow the live
blocks, not the number of retranslations.

The smc bench guest patches the immediate of a small function and calls it, 15,000
times: every pass writes a traced code page, which invalidates the function's block,
and runs it again, which translates it again. Stopped after N and after 2N guest
instructions (both inside the loop) the monitor has done about twice the
retranslations; its counters of live and resident blocks and their metadata bytes
must be the same within a small bound. (Before dead blocks were reclaimed, resident
blocks grew by one per pass: this test fails on that.) Not timed: counters only.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT

from runtime.session import RunOptions, prepare
from runtime.vmm.monitor import Monitor

SMC = ROOT / "bench" / "build" / "smc.elf"
N = 100_000  # guest instructions: thousands of passes of the loop (~17 each) after start-up


def _run(max_insns: int) -> tuple[dict[str, Any], dict[str, Any]]:
    machine, state = prepare(str(SMC), RunOptions(native=False, deterministic=True,
                                                  max_insns=max_insns, timeout_s=300))
    assert isinstance(machine, Monitor)
    result = machine.run(state)
    tr = result.stats["translator"]
    return tr, tr["memory"]


@pytest.mark.skipif(not SMC.exists(), reason="bench/build/smc.elf is not built ('make corpus')")
def test_retranslation_loop_memory_stays_flat() -> None:
    tr1, m1 = _run(N)
    tr2, m2 = _run(2 * N)
    # it is a retranslation loop: twice the instructions, about twice the invalidations
    assert tr1["invalidations"] > 1000
    assert tr2["invalidations"] >= 1.8 * tr1["invalidations"]
    assert tr2["reclaimed_blocks"] >= 1.8 * tr1["reclaimed_blocks"]
    # ...and the cache's books do not grow with it
    assert abs(m2["live_blocks"] - m1["live_blocks"]) <= 2, (m1, m2)
    assert abs(m2["resident_blocks"] - m1["resident_blocks"]) <= 2, (m1, m2)
    assert m2["resident_blocks"] < 200, m2
    assert abs(m2["metadata_bytes"] - m1["metadata_bytes"]) <= 0.05 * m1["metadata_bytes"], \
        (m1, m2)


def test_memory_counters_present_in_stats() -> None:
    """--stats shows the cache's live blocks, metadata bytes and bytes per guest insn."""
    machine, state = prepare(str(ROOT / "corpus" / "build" / "hello.elf"),
                             RunOptions(native=False))
    m = machine.run(state).stats["translator"]["memory"]
    assert m["live_blocks"] > 0 and m["resident_blocks"] >= m["live_blocks"]
    assert m["metadata_bytes"] > m["map_bytes"] > 0
    assert m["metadata_bytes_per_guest_insn"] > 0
