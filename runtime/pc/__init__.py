"""The bare PC: exactly what a real PC and its IA-32 CPU give a guest, and no monitor.

Here live the machine of a native run (:mod:`~runtime.pc.machine`) with its run
loop (:mod:`~runtime.pc.runloop`), port I/O (:mod:`~runtime.pc.portio`) and
results (:mod:`~runtime.pc.results`), exception and interrupt delivery
(:mod:`~runtime.pc.delivery`), the guest's view of physical memory and its page
walks (:mod:`~runtime.pc.paging`), unicorn's saved-context internals
(:mod:`~runtime.pc.cpustate`), the clocks and the instruction counter with its
native hooks (:mod:`~runtime.pc.clock`, :mod:`~runtime.pc.icount`,
``_hooks.c``), the wall-clock watchdog, the loader and Multiboot
(:mod:`~runtime.pc.loader`, :mod:`~runtime.pc.multiboot`), the architecture's
facts (:mod:`~runtime.pc.x86`), the devices on the port bus
(:mod:`runtime.pc.devices`) and the libunicorn the machine runs on, patched for
fast stores or the PyPI wheel's (:mod:`runtime.pc.libunicorn`).

May import: itself, the shared vocabulary :mod:`runtime.errors` and
:mod:`runtime.report`, and third-party libraries. Never :mod:`runtime.vmm`,
:mod:`runtime.check` or the CLI: a native run is the reference every
monitored run must equal, so the PC knows nothing of the monitor.
"""
