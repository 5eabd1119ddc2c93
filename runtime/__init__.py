"""btvmm's runtime: the PC, the monitor on it, Linux programs, the checking tools and the CLI.

The layers, each importing only those before it:

* :mod:`runtime.errors`, :mod:`runtime.report`: the shared vocabulary (the
  one-line user-facing errors, how a run ends); they import nothing of btvmm.
* :mod:`runtime.pc`: the bare machine (never the monitor).
* :mod:`runtime.vmm`: the monitor, on the PC and the translator :mod:`bt`.
* :mod:`runtime.session` (load a guest into a bare or monitored machine),
  :mod:`runtime.explain` (``bt explain``): the CLI's run helpers.
* :mod:`runtime.linux`: static i386 Linux programs under a guest kernel of our
  own, on a session's machine (it and :mod:`runtime.session` reach each other
  only through function-local imports).
* :mod:`runtime.check`: ``bt diff`` and ``bt fuzz``.
* :mod:`runtime.cli`: the ``bt`` command.

``tests/test_layering.py`` checks these rules on every module.
"""

# BTVMM_LIBUNICORN=pypi must take effect before anything imports the unicorn binding
from runtime.pc.libunicorn import choose as _choose_libunicorn  # noqa: E402

_choose_libunicorn()
