"""The monitor: a VMware-style binary-translating virtual machine monitor on the bare PC.

Here live the monitor's run loop and its stop reasons
(:mod:`~runtime.vmm.monitor`), the virtual CPU (:mod:`~runtime.vmm.vcpu`), the
monitor's own address space and its placement (:mod:`~runtime.vmm.monitor_space`),
the callout handlers that emulate sensitive instructions
(:mod:`~runtime.vmm.callouts`), the shadow MMU and page tracing
(:mod:`~runtime.vmm.shadow`) and protected-mode segment semantics
(:mod:`~runtime.vmm.segments`).

May import: itself, :mod:`runtime.pc` (the monitor runs on the bare machine and
reuses its delivery code on the virtual CPU), the translator :mod:`bt`,
:mod:`runtime.errors`, :mod:`runtime.report` and third-party libraries. Never
:mod:`runtime.check` or the CLI.
"""
