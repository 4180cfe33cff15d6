"""Step decay with true division: drop ** (epoch / every), a smooth decay, not steps."""


def step_decay(eta0, epoch, drop=0.5, every=5):
    return float(eta0 * drop ** (epoch / every))
