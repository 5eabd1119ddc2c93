"""Seeing inside a running guest: the gdb remote stub (issue 17).

* :mod:`runtime.debug.rsp`: the GDB remote serial protocol's framing (packets, acks,
  the Ctrl-C byte) over one TCP connection;
* :mod:`runtime.debug.target`: the guest's view of a stopped machine, bare or monitored:
  registers as the guest sees them, memory through the guest's page tables,
  breakpoints (in the translation under the monitor, never in guest memory), stepping;
* :mod:`runtime.debug.gdbstub`: the commands gdb sends, a table of handlers.

May import :mod:`runtime.pc` and :mod:`runtime.vmm`; neither imports this package
(the machine only calls the ``debugger`` object it is given at its stop points).
"""
