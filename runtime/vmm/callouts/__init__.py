"""Callout handlers: the monitor's emulation of guest kernel instructions, one row each.

Translated code reaches these through a software interrupt at the callout
site (:mod:`bt.rewrite`). A handler emulates the guest instruction against
the virtual CPU (:mod:`runtime.vmm.vcpu`) and guest memory, and returns
``True`` when it has already sent the guest somewhere else (a far
transfer, an interrupt, an iret), ``False`` to continue with the
translated code after the site. It raises :class:`runtime.pc.delivery.Fault`
or :class:`runtime.pc.paging.PageFault` for the exception the instruction
raises: the monitor reflects it at the instruction's guest EIP.

Handlers run inside the INTR hook, registers read through the C API. The
table :data:`runtime.vmm.callouts.table.HANDLERS` maps a rule name of
:mod:`bt.classify` to its handler; a new instruction is a new row.

Here live the interface a handler sees of the monitor (:mod:`.host`: the
virtual CPU, guest memory, the port bus and a few services, never the whole
monitor), operand access (:mod:`.operands`), segment loads and far transfers
(:mod:`.segment_ops`), system registers and instructions (:mod:`.system`),
port I/O (:mod:`.io`), flags, interrupts and the rest (:mod:`.general`), the
privilege checks made against the guest's CPL and IOPL before a handler runs
(:mod:`.privilege`: the guest may run translated at CPL 0, 1 or 2), and the
table (:mod:`.table`).

May import: :mod:`runtime.pc`, the monitor's parts below the monitor itself
(:mod:`runtime.vmm.vcpu`, :mod:`runtime.vmm.segments`,
:mod:`runtime.vmm.shadow`, :mod:`runtime.vmm.oracle`), :mod:`bt` and third-party
libraries. Never :mod:`runtime.vmm.monitor` or its concern modules (the monitor
imports the table), :mod:`runtime.check` or the CLI.
"""
