"""Guest instruction counting and stop requests, in native code (``_hooks.c``).

A UC_HOOK_BLOCK callback written in C charges each unicorn block with its
guest instruction count, which a Python callback computes once per block
(capstone, on a miss in the C table). Unicorn calls the hook at the start
of a block *before* running it, and a stop requested from there takes
effect before the block runs (measured): so when the hook stops the run,
the charged block did not execute and is taken back.

For the last stretch before a deterministic deadline the machine switches
to an exact per-instruction hook, so that an interrupt lands on exactly
the same guest instruction on every run (``--deterministic``).

Costs measured here: block hook 2-6 ns per block; exact hook ~10 ns per
instruction; a Python block hook would cost 330 ns per block.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from capstone import CS_ARCH_X86, CS_MODE_16, CS_MODE_32, Cs
from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, Uc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

import runtime.pc._hooks as _hooks_module
from runtime.errors import StaleBuildError

_TABLE = 1 << 14
_WAYS = 4
_KINDS = 4
_lib = ctypes.CDLL(_hooks_module.__file__)
_FILL = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_uint64, ctypes.c_uint32)

STOP_COUNT = 1
STOP_IF = 2
STOP_ASYNC = 4


class _ClockState(ctypes.Structure):
    _fields_ = [
        ("insns", ctypes.c_uint64),
        ("stop_at", ctypes.c_uint64),
        ("block_start", ctypes.c_uint64),
        ("block_size", ctypes.c_uint32),
        ("block_insns", ctypes.c_uint32),
        ("stop_on_if", ctypes.c_uint32),
        ("stopped", ctypes.c_uint32),
        ("eflags_regid", ctypes.c_uint32),
        ("misses", ctypes.c_uint32),
        ("weighted", ctypes.c_uint32),
        ("exact", ctypes.c_uint32),
        ("async_stop", ctypes.c_uint32),
        ("blocks", ctypes.c_uint64),
        ("reg_read", ctypes.c_void_p),
        ("emu_stop", ctypes.c_void_p),
        ("fill", ctypes.c_void_p),
        ("kind_runs", ctypes.c_uint64 * _KINDS),
        ("evictions", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
        ("tag", ctypes.c_uint64 * _TABLE),
        ("size", ctypes.c_uint32 * _TABLE),
        ("count", ctypes.c_uint32 * _TABLE),
        ("kind", ctypes.c_uint8 * _TABLE),
        ("next_way", ctypes.c_uint8 * (_TABLE // _WAYS)),
    ]


#: what a unicorn block start is, as the C hook counts block runs (``kind_runs``):
#: guest code (the bare machine; direct user code), the lookup entry of a translation
#: (reached by an inline lookup-table hit), the body of a translation (reached by a
#: chained jump or by the monitor entering it), other translated code (a resumption
#: after a callout, the tail)
BLOCK_KINDS = ("guest", "lookup_entry", "block_body", "other")


NO_LIMIT = (1 << 63) - 1


def _check_layout() -> None:
    """Refuse a ``_hooks`` module built from another ``struct bt_clock`` than
    :class:`_ClockState` mirrors: ``pip install -e`` builds the extension once, so after a
    checkout or rebase that changed ``_hooks.c`` the old module stays and the C hook reads
    and writes every field after the first change at shifted offsets (the monitor's clock
    ran 10^12 instructions ahead: deterministic deadlines never came, guests hung)."""
    size = getattr(_lib, "bt_clock_size", None)
    built = None
    if size is not None:
        size.restype = ctypes.c_uint32
        built = int(size())
    if built != ctypes.sizeof(_ClockState):
        raise StaleBuildError(
            f"{_hooks_module.__file__}: built from an older runtime/pc/_hooks.c "
            f"(struct bt_clock {built if built is not None else 'of unknown size'}, "
            f"expected {ctypes.sizeof(_ClockState)} bytes): rebuild it with "
            "'make .venv/.installed' or 'pip install -e .'")


_check_layout()


class InstructionCounter:
    """Counts retired guest instructions of one engine and stops it on request.

    ``read_code(address, size)`` returns the code bytes of a block at a
    guest EIP (through the guest's page tables). Install once; then set
    :attr:`stop_at` / :attr:`stop_on_if` before each ``emu_start`` and call
    :meth:`after_run` after it.
    """

    def __init__(self, uc: Uc, read_code: Callable[[int, int], bytes]) -> None:
        self.uc = uc
        self._read_code = read_code
        #: the monitor's answer for code it emitted (None: not its code, decode the bytes)
        self.provider: Callable[[int, int], tuple[int, ...] | None] | None = None
        #: the monitor's kind (an index of BLOCK_KINDS) of a block start it emitted
        self.classifier: Callable[[int], int] | None = None
        #: told of each guest block decoded for the first time: (address, code, offsets)
        self.on_decode: Callable[[int, bytes, tuple[int, ...]], None] | None = None
        self._cs = Cs(CS_ARCH_X86, CS_MODE_32)
        self._cs16 = Cs(CS_ARCH_X86, CS_MODE_16)
        #: the machine's answer to "is the running code segment 16-bit (D clear)?": its
        #: blocks are decoded as 16-bit code, never as 32-bit (None: always 32-bit)
        self.code16: Callable[[], bool] | None = None
        self._offsets: dict[tuple[int, int, bool], tuple[int, ...]] = {}
        self.state = _ClockState()
        _lib.bt_clear_table(ctypes.byref(self.state))
        self._fill_cb = _FILL(self._fill)
        self.state.fill = ctypes.cast(self._fill_cb, ctypes.c_void_p)
        self.state.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p)
        self.state.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p)
        self.state.eflags_regid = X.UC_X86_REG_EFLAGS
        self.state.stop_at = NO_LIMIT
        self._block_hook = self._add(UC_HOOK_BLOCK, _lib.bt_block_hook)
        self._insn_hook: ctypes.c_size_t | None = None
        #: unicorn block-cache flushes made to install the instruction hook
        self.tb_flushes = 0

    def _add(self, kind: int, fn: ctypes._CFuncPtr) -> ctypes.c_size_t:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(
            self.uc._uch, ctypes.byref(handle), kind, ctypes.cast(fn, ctypes.c_void_p),
            ctypes.cast(ctypes.byref(self.state), ctypes.c_void_p),
            ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            raise RuntimeError(f"uc_hook_add failed: {status}")
        return handle

    def _fill(self, address: int, size: int) -> int:
        """Called from C on a table miss: the instruction count of the block (bits 0-23)
        and the kind of its start (bits 24-27, an index of :data:`BLOCK_KINDS`)."""
        n = len(self.offsets(address, size))
        if self.classifier is not None:
            try:
                n |= (self.classifier(address) & 3) << 24
            except Exception:  # noqa: BLE001 - never raise into C
                pass
        return n

    def offsets(self, address: int, size: int) -> tuple[int, ...]:
        """Offsets of the instructions of the block at ``address`` (cached)."""
        code16 = self.code16 is not None and self.code16()
        key = (address, size, code16)
        offs = self._offsets.get(key)
        if offs is None and self.provider is not None:
            offs = self.provider(address, size)
            if offs is not None:
                return offs  # the monitor's code changes: never cached here
        if offs is None:
            try:
                code = self._read_code(address, size)
            except Exception:  # noqa: BLE001 - never raise into C
                code = b""
            cs = self._cs16 if code16 else self._cs
            offs = tuple(i[0] - address for i in cs.disasm_lite(code, address)) or (0,)
            self._offsets[key] = offs
            if self.on_decode is not None and code:
                self.on_decode(address, code, offs)
        return offs

    def forget_code(self) -> None:
        """Drop cached block sizes (after the guest rewrote code)."""
        self._offsets.clear()
        _lib.bt_clear_table(ctypes.byref(self.state))

    # --- the run loop's interface ---------------------------------------------
    @property
    def insns(self) -> int:
        return self.state.insns

    @insns.setter
    def insns(self, value: int) -> None:
        self.state.insns = value

    @property
    def blocks(self) -> int:
        return self.state.blocks

    @property
    def misses(self) -> int:
        return self.state.misses

    @property
    def evictions(self) -> int:
        """Misses that replaced a live entry: what code layout costs (first sight excluded)."""
        return self.state.evictions

    def block_runs(self) -> dict[str, int]:
        """Blocks run by the kind of their start (:data:`BLOCK_KINDS`)."""
        return {k: int(self.state.kind_runs[i]) for i, k in enumerate(BLOCK_KINDS)}

    @property
    def exact(self) -> bool:
        return self._insn_hook is not None

    def set_exact(self, exact: bool) -> None:
        """Count (and stop) per instruction instead of per block.

        The block hook stays installed (it ignores blocks while ``exact`` is set); the
        instruction hook is added for an exact stretch and removed after it. Unicorn
        2.1.4 compiles hooks into its blocks and does not regenerate blocks when a hook
        is added: blocks made without the instruction hook would run uncounted, so
        adding it flushes unicorn's block cache. Deleting it needs no flush: a block
        that keeps a stale direct call to it also has the block hook, and the
        instruction hook ignores calls outside exact mode (see ``_hooks.c``).
        """
        self.state.exact = 1 if exact else 0
        if exact and self._insn_hook is None:
            self._insn_hook = self._add(UC_HOOK_CODE, _lib.bt_insn_hook)
            self.uc.ctl_flush_tb()
            self.tb_flushes += 1
        elif not exact and self._insn_hook is not None:
            uclib.uc_hook_del(self.uc._uch, self._insn_hook)
            self._insn_hook = None

    def arm(self, stop_at: int, stop_on_if: bool) -> None:
        self.state.stop_at = stop_at
        self.state.stop_on_if = 1 if stop_on_if else 0
        self.state.stopped = 0

    @property
    def stopped(self) -> int:
        return self.state.stopped

    def after_run(self, eip: int, *, faulted: bool, software_int: bool = False) -> None:
        """Correct the count once a run ended or a fault interrupted a block.

        In block mode a block is charged in full at its start. If the hook
        itself stopped the run, that block never ran; if a fault (or the
        end of the run) interrupted it at ``eip``, only the instructions
        before ``eip`` retired (plus an ``int n``, which retires).
        """
        s = self.state
        if self.exact:
            if faulted and not software_int:
                s.insns -= 1  # the hook counted the faulting instruction
            return
        if s.stopped and eip == s.block_start:
            s.insns -= s.block_insns
            s.block_insns = 0
            return
        if not faulted:
            return
        start = s.block_start
        if not start <= eip < start + s.block_size + (1 if software_int else 0):
            return
        offs = self.offsets(start, s.block_size)
        retired = sum(1 for o in offs if start + o < eip)
        s.insns -= s.block_insns - retired
        s.block_insns = retired
