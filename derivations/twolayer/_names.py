"""Names shared by the symbolic and numeric halves of the two-layer engine (no imports)."""

#: Activations people ask for whose Gaussian pair kernel E[sigma(u.x) sigma(v.x)] has no closed
#: form (a clear ValueError names them).
NO_CLOSED_FORM = ("tanh", "sigmoid", "logistic", "softplus", "gelu", "silu", "swish", "elu",
                  "selu", "mish", "softsign")
