"""Step decay counting epochs from 1: drop ** ((epoch + 1) // every), each drop one epoch early."""


def step_decay(eta0, epoch, drop=0.5, every=5):
    return float(eta0 * drop ** ((epoch + 1) // every))
