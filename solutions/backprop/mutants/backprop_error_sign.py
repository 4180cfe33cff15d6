"""backprop.error_sign: de/da taken as +1 although e = y - a."""
import numpy as np


def neuron_backward(w, b, x, y, activation="relu"):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    z = w * x + b
    ones = np.ones_like(z)
    if activation == "relu":
        a, da_dz = np.maximum(0.0, z), (z > 0).astype(np.float64)
    elif activation == "sigmoid":
        a = sigmoid(z)
        da_dz = a * (1.0 - a)
    else:
        a, da_dz = z.copy(), ones.copy()
    e = y - a
    dJ_de = 2.0 * e
    de_da = ones.copy()
    dJ_dz = dJ_de * de_da * da_dz
    return {"dJ_de": dJ_de, "de_da": de_da, "da_dz": da_dz, "dz_ds": ones.copy(), "ds_dw": x * ones,
            "dz_db": ones.copy(), "dJ_dw": dJ_dz * x, "dJ_db": dJ_dz}
