"""The little linear algebra impl_pure needs in place of NumPy: dot, transpose, matmul, affine.

A matrix is a list of rows, each row a list of floats. The inner loops run in C:
``sum(map(mul, a, b))`` and ``map(add, ...)`` chains instead of Python-level ``for``
loops, which is several times faster on CPython.

No mirror: NumPy, torch and TensorFlow have these built in.
"""
from itertools import repeat
from operator import add, mul


def dot(a, b):
    """sum_i a_i * b_i, accumulated in order."""
    return sum(map(mul, a, b))


def transpose(matrix):
    """matrix.T: the list of columns."""
    return [list(column) for column in zip(*matrix)]


def zeros_like(rows):
    """A list of rows of 0.0 shaped like ``rows``."""
    return [[0.0] * len(row) for row in rows]


def _by_dot_products(inner, outer):
    # Cost model of one output row: ``outer`` dot products of length ``inner`` (each call costs
    # about ten multiply-adds), or ``inner`` scaled rows of length ``outer`` summed lazily (about
    # 1.5 times dearer per element). Short inner dimensions (2 inputs, 3 classes) favour the rows.
    return outer * (10 + inner) <= inner * (10 + 1.5 * outer)


def _dot_products(a, b_rows):
    return [[sum(map(mul, row, b_row)) for b_row in b_rows] for row in a]


def matmul(a, b):
    """a @ b, each element summed over the inner index k in order."""
    if _by_dot_products(len(b), len(b[0])):
        return _dot_products(a, list(zip(*b)))
    return [list(linear_combination(row, b)) for row in a]


def matmul_transposed(a, b):
    """a @ b.T, without transposing b where dot products with its rows are the faster way."""
    if _by_dot_products(len(b[0]), len(b)):
        return _dot_products(a, b)
    columns = list(zip(*b))
    return [list(linear_combination(row, columns)) for row in a]


def affine(a, b, c):
    """a @ b + c: matmul with the vector c added to every row of the product."""
    if _by_dot_products(len(b), len(b[0])):
        columns = list(zip(*b))
        return [[sum(map(mul, row, column)) + c_j for column, c_j in zip(columns, c)]
                for row in a]
    return [list(map(add, linear_combination(row, b), c)) for row in a]


def linear_combination(coefficients, rows):
    """sum_k coefficients[k] * rows[k], accumulated in order of k, as a lazy iterator."""
    terms = zip(coefficients, rows)
    c, row = next(terms)
    total = map(mul, row, repeat(c))
    for c, row in terms:
        total = map(add, total, map(mul, row, repeat(c)))
    return total
