"""Benchmarks of the serving path, each figure measured beside a reference in the same run.

`python -m bench` prints the table (see `bench/__main__.py`); the README includes `bench/results.md`.
"""
