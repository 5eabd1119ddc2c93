"""The native clock hooks (runtime/pc/_hooks.c) must be the build of the checkout's source:
a module built from an older ``struct bt_clock`` is refused at import with one line
(a stale build once ran the monitor's instruction clock 10^12 instructions ahead, and
deterministic guests hung waiting for a timer interrupt that never came)."""

from __future__ import annotations

import ctypes

import pytest

from runtime.errors import StaleBuildError
from runtime.pc import icount


class _Lib:
    def __init__(self, size: int | None) -> None:
        if size is not None:
            self.bt_clock_size = lambda: size


def test_the_built_module_matches_its_source() -> None:
    size = icount._lib.bt_clock_size
    size.restype = ctypes.c_uint32
    assert size() == ctypes.sizeof(icount._ClockState)


@pytest.mark.parametrize("size", [None, ctypes.sizeof(icount._ClockState) - 40])
def test_a_module_of_another_layout_is_refused(monkeypatch: pytest.MonkeyPatch,
                                               size: int | None) -> None:
    monkeypatch.setattr(icount, "_lib", _Lib(size))
    with pytest.raises(StaleBuildError, match="rebuild it"):
        icount._check_layout()
