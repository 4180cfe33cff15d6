"""Line search that keeps the LAST of tied etas (loss <= best instead of loss < best)."""


def line_search_step(theta, grad, loss_fn, etas):
    best = None
    for eta in etas:
        candidate = gd_step(theta, grad, eta)
        loss = loss_fn(candidate)
        if best is None or loss <= best[0]:
            best = (loss, candidate, eta)
    return best[1], best[2]
