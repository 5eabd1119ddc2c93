"""Differential testing: ``bt diff`` and ``bt fuzz``.

Here live the comparison of one guest's native run, monitored run and
qemu-system-i386 run (:mod:`~runtime.check.diff`), the fuzzer that runs
generated guests through it (:mod:`~runtime.check.fuzz`), the random-guest
generator (:mod:`~runtime.check.fuzzgen`) and the table of triaged defects of
the hardware model (:mod:`~runtime.check.defects`).

May import: :mod:`runtime.pc`, :mod:`runtime.vmm`, :mod:`bt`, the run helpers
:mod:`runtime.session` and :mod:`runtime.explain`, :mod:`runtime.errors`,
:mod:`runtime.report` and third-party libraries. Nothing below it imports it;
only the CLI does.
"""
