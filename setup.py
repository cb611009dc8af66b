"""Shim for Beam's ``--setup_file=./setup.py``: the metadata lives in pyproject.toml."""

from setuptools import setup

setup()
