"""Operator tools, run from a clone of this repository (``make doctor``).

Nothing here ships in a function image: the root ``.dockerignore`` leaves
``ops/`` out, and no function imports it.
"""
