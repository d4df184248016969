"""Rosetta NN's shared package: network specs, data, initial weights and comparison metrics.

Nothing here imports a deep-learning framework; the four implementations read it.
"""
