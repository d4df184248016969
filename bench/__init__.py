"""Benchmarks of the four implementations, measured in one process and interleaved chunk by chunk.

``python -m bench`` (or ``make bench``) prints a table and writes ``bench/results.json``.
This package imports nothing heavy at import time: ``bench.__main__`` sets the thread
counts before NumPy, torch or TensorFlow load.
"""
