"""Benchmarks of the four implementations, measured in one process and interleaved chunk by chunk.

``python -m bench`` (or ``make bench``) prints a table and writes ``bench/results.json``.
This package imports nothing heavy at import time: ``bench.__main__`` sets the thread
counts before NumPy, torch or TensorFlow load.
"""

# Every thread count the implementations read: OpenBLAS (NumPy), OpenMP/MKL (torch), and the
# two the implementations set their frameworks from (impl_tf overrides TF_NUM_INTRAOP_THREADS
# with ROSETTA_TF_THREADS). The benchmark sets them all, records them all, and judges a run
# against the targets only when every one is 1.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "ROSETTA_TORCH_THREADS", "ROSETTA_TF_THREADS", "TF_NUM_INTRAOP_THREADS")
