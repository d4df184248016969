"""impl_pure's linear algebra in place of NumPy: dot, transpose, a @ b.T, a @ b + c, pairwise_sum.

A matrix is a list of rows, each row a list of floats. The inner loops run in C where they
can: ``sum_in_order(map(mul, a, b))`` and ``map(add, ...)`` chains instead of Python-level
``for`` loops, which is several times faster on CPython; short inner dimensions (2 inputs,
3 classes) are unrolled in one comprehension over the whole matrix instead.

No mirror: NumPy, torch and TensorFlow have these built in.
"""
import sys
from functools import reduce
from itertools import repeat
from operator import add, mul


def add_in_order(values, start=0):
    """((start + v_0) + v_1) + ...: from 3.12, CPython's sum() of floats compensates (Neumaier)."""
    return reduce(add, values, start)


# The builtin adds left to right in CPython 3.11 and PyPy, and is the faster there.
COMPENSATED_SUM = sys.implementation.name == "cpython" and sys.version_info >= (3, 12)
sum_in_order = add_in_order if COMPENSATED_SUM else sum


def dot(a, b):
    """sum_i a_i * b_i, accumulated in order."""
    return sum_in_order(map(mul, a, b))


def pairwise_sum(values):
    """sum(values) in NumPy's order for a contiguous float64 array (np.sum, np.mean): pairwise.

    Blocks of at most 128 values, each summed by 8 interleaved accumulators, as NumPy's
    pairwise_sum (in its C source, loops_utils.h.src) does, then 0.0 + that sum.
    Explicit loops: CPython 3.12's builtin ``sum`` compensates (see sum_in_order).
    """
    values = values if isinstance(values, list) else list(values)
    return 0.0 + _pairwise(values, 0, len(values))


def _pairwise(values, start, stop):
    n = stop - start
    if n < 8:
        total = 0.0
        for value in values[start:stop]:
            total += value
        return total
    if n <= 128:
        end = stop - n % 8
        r = values[start:start + 8]
        for i in range(start + 8, end, 8):
            r = list(map(add, r, values[i:i + 8]))
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for value in values[end:stop]:
            total += value
        return total
    half = n // 2
    half -= half % 8  # split at a multiple of the 8 accumulators
    return _pairwise(values, start, start + half) + _pairwise(values, start + half, stop)


def transpose_by_zip(rows):
    """The columns of a list of rows, as tuples (CPython runs zip in C: 1.5x faster there)."""
    return list(zip(*rows))


def transpose_by_index(rows):
    """The columns of a list of rows, as lists (PyPy's JIT runs this 5x faster than zip)."""
    return [[row[j] for row in rows] for j in range(len(rows[0]))] if rows else []


transpose = transpose_by_index if sys.implementation.name == "pypy" else transpose_by_zip


def zeros_like(rows):
    """A list of rows of 0.0 shaped like ``rows``."""
    return [[0.0] * len(row) for row in rows]


def _by_dot_products(inner, outer):
    # Cost model of one output row: ``outer`` dot products of length ``inner`` (each call costs
    # about ten multiply-adds), or a linear combination of ``inner`` rows of length ``outer``
    # (about 1.5 times dearer per element). Inner dimensions up to 3 never get here (_unrolled).
    return outer * (10 + inner) <= inner * (10 + 1.5 * outer)


def dot_products(a, b_rows):
    """[[dot(row, b_row) for b_row in b_rows] for row in a], that is a @ b.T, with no call per dot."""
    return [[sum_in_order(map(mul, row, b_row)) for b_row in b_rows] for row in a]


def matmul_transposed(a, b):
    """a @ b.T, without transposing b where dot products with its rows are the faster way."""
    if len(b[0]) <= 3:
        return _unrolled(a, b)
    if _by_dot_products(len(b[0]), len(b)):
        return dot_products(a, b)
    columns = transpose(b)
    return [linear_combination(row, columns) for row in a]


def affine(a, b, c):
    """a @ b + c: matmul with the vector c added to every row of the product."""
    if len(b) <= 3:
        return _unrolled(a, transpose(b), c)
    if _by_dot_products(len(b), len(b[0])):
        columns = transpose(b)
        return [[sum_in_order(map(mul, row, column)) + c_j for column, c_j in zip(columns, c)]
                for row in a]
    return [linear_combination(row, b, c) for row in a]


def _unrolled(a, vectors, offset=None):
    # [[dot(row, v) + offset_j for v_j in vectors] for row in a] for vectors of 1 to 3 floats
    # (the short inner dimensions: inputs, classes), unrolled: CPython 3.11 runs float arithmetic
    # in a comprehension faster than map calls operator functions. With an offset, each vector
    # carries it as a last element. Without one nothing is added (adding 0.0 costs ~12% here): a
    # product sum of -0.0 stays -0.0, which every later sum (from 0.0) turns into 0.0 again.
    n = len(vectors[0])
    if offset is not None:
        vectors = [(*v, o) for v, o in zip(vectors, offset)]
        if n == 1:
            return [[w0 * c0 + o for w0, o in vectors] for (c0,) in a]
        if n == 2:
            return [[w0 * c0 + w1 * c1 + o for w0, w1, o in vectors] for c0, c1 in a]
        return [[w0 * c0 + w1 * c1 + w2 * c2 + o for w0, w1, w2, o in vectors]
                for c0, c1, c2 in a]
    if n == 1:
        return [[w0 * c0 for (w0,) in vectors] for (c0,) in a]
    if n == 2:
        return [[w0 * c0 + w1 * c1 for w0, w1 in vectors] for c0, c1 in a]
    return [[w0 * c0 + w1 * c1 + w2 * c2 for w0, w1, w2 in vectors] for c0, c1, c2 in a]


def linear_combination(coefficients, rows, offset=None):
    """sum_k coefficients[k] * rows[k] (+ offset), accumulated in order of k."""
    terms = zip(coefficients, rows)
    c, row = next(terms)
    total = map(mul, row, repeat(c))
    for c, row in terms:
        total = map(add, total, map(mul, row, repeat(c)))
    return list(total if offset is None else map(add, total, offset))
