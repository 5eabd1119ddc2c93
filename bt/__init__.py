"""The binary translator: guest kernel code in, translation blocks for the cache out.

Here live the classification table, one row per instruction kind
(:mod:`~bt.classify`), the scanner that decodes one translation unit
(:mod:`~bt.scan`), the rewriter that turns a unit into a block's code
(:mod:`~bt.rewrite`), the code templates it emits, assembled once
(:mod:`~bt.templates`), the encodings built around a guest's own operands
(:mod:`~bt.encode`) and the translation cache with its chaining, lookup and
invalidation (:mod:`~bt.cache`).

May import: itself and third-party libraries (capstone, keystone). Nothing of
:mod:`runtime`: the monitor drives the translator through the scanner's memory
reader and the cache's interface, so the translator can be tested alone.
"""
