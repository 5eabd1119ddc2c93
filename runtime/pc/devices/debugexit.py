"""QEMU's ``isa-debug-exit`` device: the guest ends the run by writing a port.

A write of any width and value ``v`` to any of its ports calls
``on_exit(v)`` (and is recorded in ``last_value``); QEMU then exits with
status ``(v << 1) | 1`` (so a guest can never produce status 0, and test
harnesses map e.g. 0x10 -> 33 to "pass"). :func:`exit_status` computes that status for the machine.

Reads: QEMU's ``hw/misc/debugexit.c`` has a ``debug_exit_read`` that returns
0 (older versions had no read handler at all), so reads return 0 here too,
whatever the width. The usual configuration (``-device
isa-debug-exit,iobase=0xf4,iosize=0x04``) is the default.
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.pc.devices.base import Device


def exit_status(value: int) -> int:
    """The process exit status QEMU reports for a write of ``value``."""
    return (value << 1) | 1


class DebugExit(Device):
    """Writes end the run through ``on_exit(value)``; reads return 0 as in QEMU."""

    name = "debug-exit"

    def __init__(
        self,
        base: int = 0xF4,
        size: int = 4,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.ports = (range(base, base + size),)
        self.on_exit = on_exit
        #: The value of the last write (None: the guest has not asked to exit).
        self.last_value: int | None = None

    def io_read(self, port: int, size: int) -> int:
        return 0

    def io_write(self, port: int, size: int, value: int) -> None:
        self.last_value = value
        if self.on_exit is not None:
            self.on_exit(value)
