"""The monitor: a VMware-style binary-translating virtual machine monitor on the bare PC.

Here live the monitor itself and its boot (:mod:`~runtime.vmm.monitor`) and
its concerns, one module each: why it got control and where the guest goes
next (:mod:`~runtime.vmm.dispatch`), hidden and true faults
(:mod:`~runtime.vmm.faults`), adaptive translation
(:mod:`~runtime.vmm.adaptive`), entering the guest translated or direct
(:mod:`~runtime.vmm.transitions`), code tracing and invalidation
(:mod:`~runtime.vmm.codetrace`), the monitor's range and its relocation
(:mod:`~runtime.vmm.relocate`). Below them: the virtual CPU
(:mod:`~runtime.vmm.vcpu`), the monitor's own address space and its placement
(:mod:`~runtime.vmm.monitor_space`), the callout handlers that emulate
sensitive instructions (:mod:`runtime.vmm.callouts`), the scratch engine for
what only the processor knows (:mod:`~runtime.vmm.oracle`), the shadow MMU and
page tracing (:mod:`~runtime.vmm.shadow`) and protected-mode segment semantics
(the package :mod:`runtime.vmm.segments`, one module per group of instructions).

May import: itself, :mod:`runtime.pc` (the monitor runs on the bare machine and
reuses its delivery code on the virtual CPU), the translator :mod:`bt`,
:mod:`runtime.errors`, :mod:`runtime.report` and third-party libraries. Never
:mod:`runtime.check` or the CLI. The callouts never import the monitor or its
concern modules: they see it through :class:`runtime.vmm.callouts.host.CalloutHost`.
"""
