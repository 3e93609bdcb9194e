"""Zenith benchmarks: ``make bench`` (``python -m bench``) prints a table and writes bench/results.json.

Every figure is a ratio to a baseline measured in the same run, on the same machine, because the
machines are shared and noisy: absolute times would mean nothing.
"""
