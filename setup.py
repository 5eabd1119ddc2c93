"""Builds the native unicorn hooks (runtime/pc/_hooks.c); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("runtime.pc._hooks", ["runtime/pc/_hooks.c"], extra_compile_args=["-O2"])])
