"""np.array_split into ceil(n / batch_size) near-equal batches instead of full batches and a
remainder (10 in batches of 4 gives 4, 3, 3 instead of 4, 4, 2)."""
import math

import numpy as np


def minibatches(n, batch_size, rng=None):
    order = np.arange(n) if rng is None else rng.permutation(n)
    return np.array_split(order, math.ceil(n / batch_size))
