"""graph.mul_gate_no_swap: the multiply gate hands each input its own value."""
import numpy as np


def add_mul_graph(x, y, z):
    x, y, z = (np.asarray(v, dtype=np.float64) for v in (x, y, z))
    q = x + y
    f = q * z
    df_dq = q
    df_dz = z
    return f, (df_dq * 1.0, df_dq * 1.0, df_dz)
