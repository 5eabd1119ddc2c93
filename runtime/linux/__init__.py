"""The Linux personality: run static i386 Linux programs under a guest kernel of our own.

``bt run PROG ARGS`` boots the guest kernel (``runtime/linux/kernel``, built by
``make``) with the program, its arguments and environment; the kernel runs at
guest ring 0 like any guest kernel (translated by the monitor, or at real ring
0 with ``--native``), implements the system calls itself and reaches the host
through the paravirtual channel (:mod:`runtime.linux.channel`) for files,
console, time and randomness only.
"""
