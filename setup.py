"""Builds the native unicorn hooks (runtime/pc/_hooks.c) and lists the packages; everything
else is in pyproject.toml."""

from setuptools import Extension, find_packages, setup

# every package below bt/ and runtime/ (a new subpackage needs no edit here), and the Python
# API's name: ``import btvmm`` is runtime/api
setup(packages=[*find_packages(include=["bt", "bt.*", "runtime", "runtime.*"]), "btvmm"],
      package_dir={"btvmm": "runtime/api"},
      ext_modules=[Extension("runtime.pc._hooks", ["runtime/pc/_hooks.c"], extra_compile_args=["-O2"])])
