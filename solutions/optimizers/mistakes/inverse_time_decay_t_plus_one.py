"""1/t decay one step ahead: eta0 / (1 + k (t + 1))."""


def inverse_time_decay(eta0, k, t):
    return float(eta0 / (1 + k * (t + 1)))
