"""btvmm's runtime: the PC, the monitor on it, the checking tools and the ``bt`` CLI.

The layers, each importing only those before it:

* :mod:`runtime.errors`, :mod:`runtime.report`: the shared vocabulary (the
  one-line user-facing errors, how a run ends); they import nothing of btvmm.
* :mod:`runtime.pc`: the bare machine (never the monitor).
* :mod:`runtime.vmm`: the monitor, on the PC and the translator :mod:`bt`.
* :mod:`runtime.session` (load a guest into a bare or monitored machine),
  :mod:`runtime.explain` (``bt explain``).
* :mod:`runtime.check`: ``bt diff`` and ``bt fuzz``.
* :mod:`runtime.cli`: the ``bt`` command.
"""
