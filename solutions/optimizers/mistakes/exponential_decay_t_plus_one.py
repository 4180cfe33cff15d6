"""Exponential decay one step ahead: exp(-k (t + 1))."""
import math


def exponential_decay(eta0, k, t):
    return float(eta0 * math.exp(-k * (t + 1)))
