"""minibatch.drops_last: only full batches are kept; the last, smaller batch of an epoch is
skipped. minibatch_sgd and train batch through minibatches, so they skip it too."""
import numpy as np


def minibatches(n, batch_size, rng=None):
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = np.arange(n) if rng is None else rng.permutation(n)
    return [order[start : start + batch_size] for start in range(0, n - batch_size + 1, batch_size)]
