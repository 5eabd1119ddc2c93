"""Protected-mode segment semantics, emulated against the guest's virtual CPU.

The monitor runs translated guest kernel code at ring 1, so the real
processor's segment checks would use the wrong privilege level and the
monitor's own descriptor tables. This package plays the processor for the
instructions that load segment registers or change privilege, over a small
:class:`~runtime.vmm.segments.descriptors.Processor` record holding the
guest's *virtual* state: its CPL (0..3), its segment-register caches, its GDT/LDT/TR and its EFLAGS. Every
function follows the pseudo-code of the Intel SDM volume 2 (MOV, POP, JMP,
CALL, RET, IRET, LAR, LSL, VERR/VERW) and the protection rules of SDM
volume 3A chapter 5 (5.5-5.10), and raises :class:`~runtime.pc.delivery.Fault`
with the architectural vector and error code where the processor would
fault. A fault leaves the :class:`Processor` unchanged (memory written by a
push before a later #PF may stay written, as on the processor).

32-bit protected mode only: no virtual-8086 mode, no IA-32e mode. Task
switches (JMP/CALL to a task gate or TSS, IRET with NT = 1) and IRET back
to virtual-8086 mode raise :class:`~runtime.pc.delivery.Unsupported` once every
check that precedes the switch has passed.

Where the SDM leaves a detail open, this package does what QEMU (and so the
unicorn reference the tests compare against) does, and says so:

* the bits LAR leaves undefined (19:16 of the access rights) are zero;
* a 32-bit push of a segment selector writes it zero-extended to a dword;
* a segment register nulled by a return to an outer privilege level gets
  the cache a null selector loads (base, limit and flags 0);
* returning to a 16-bit stack segment replaces only SP: the upper half of
  ESP keeps the value it had (the behaviour Linux's "espfix" works around).

Descriptor-table, TSS and stack accesses all go through ``Processor.read``
and ``Processor.write`` (linear, supervisor); a :class:`PageFault` they
raise propagates unchanged. The interrupt shadow after a load of SS is the
caller's business.

One module per concern, in the manner of QEMU's ``seg_helper.c``:

* :mod:`~runtime.vmm.segments.descriptors`: the :class:`Processor` record, descriptor
  fetches from the GDT/LDT, the accessed bit;
* :mod:`~runtime.vmm.segments.stack`: pushes and pops checked against a stack
  segment's limits, written only once every check has passed;
* :mod:`~runtime.vmm.segments.loads`: MOV/POP to a data or stack segment register
  (:func:`~runtime.vmm.segments.loads.load_segment`) and LAR, LSL, VERR, VERW;
* :mod:`~runtime.vmm.segments.transfers`: far JMP and CALL, call gates, the inner
  stack from the TSS, the task targets;
* :mod:`~runtime.vmm.segments.returns`: far RET and IRET.

May import: :mod:`runtime.pc` (the CPU state record, faults, the ISA facts) and
itself; nothing else of the monitor, so the callouts and the tests use it alone.
"""
