"""The Linux personality: run static i386 Linux programs under a guest kernel of our own.

``bt run PROG ARGS`` boots the guest kernel (``runtime/linux/kernel``, built by
``make``) with the program, its arguments and environment; the kernel runs at
guest ring 0 like any guest kernel (translated by the monitor, or at real ring
0 with ``--native``), implements the system calls itself and reaches the host
through the paravirtual channel (:mod:`runtime.linux.channel`) for files,
console, time and randomness only.

Here live recognising a program and booting the guest kernel with it
(:mod:`~runtime.linux.boot`), the host end of the channel
(:mod:`~runtime.linux.channel`), the read-only view of the host file system
(:mod:`~runtime.linux.hostfs`), the system call names for ``--stats``
(:mod:`~runtime.linux.syscall_names`), ``bt diff PROG`` against the host CPU
(:mod:`~runtime.linux.compare`) and the benchmark rows
(:mod:`~runtime.linux.bench`).

May import: :mod:`runtime.pc` (the machine, its loader and devices),
:mod:`runtime.errors`, :mod:`runtime.report`, and :mod:`runtime.session` only
inside functions (the session hands Linux programs here). Never
:mod:`runtime.check` or the CLI; the monitor it reaches through the session.
"""
