"""``bt bench``: the benchmark suite timed natively, under the monitor and under
qemu-system-i386, with the translation cache's and the monitor's counters beside it.

What lives here, one concept a module: the suite and its targets as data
(:mod:`.suite`, reading ``bench/suite.toml`` and ``bench/targets.toml``), the measured
child process that runs one side of one row (:mod:`.child`) and its Python/unicorn
time sampler (:mod:`.sampler`), timing processes by their rusage (:mod:`.measure`),
the columns derived from a run's counters (:mod:`.columns`), the run of the whole
suite with its progress line (:mod:`.runner`), and the three reports: the terminal
table (:mod:`.table`), JSON with its schema (:mod:`.jsonout`) and HTML with plots
(:mod:`.html`). It may import :mod:`runtime.session`, :mod:`runtime.linux` and
``corpus/reference.py``'s qemu command line; the monitor and the bare machine are
reached only through a child process, so that a run is timed as a user would see it.
"""
