"""The Python API, installed as the top-level package ``btvmm`` (pyproject maps it here):
scripting the hypervisor in the manner of unicorn's and Qiling's APIs.

    import btvmm
    g = btvmm.Guest("corpus/build/usermode.elf")          # under the monitor
    rules = collections.Counter()
    g.on_callout(lambda rule, insn: rules.update([rule]))
    g.run()

May import everything under :mod:`runtime`; nothing imports it.
"""

from runtime.api.guest import Guest

__all__ = ["Guest"]
