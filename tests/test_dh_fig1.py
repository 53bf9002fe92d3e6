"""DH Fig. 1 (issue 24): the 2-D generator's backpropagation vs finite differences (both
variants), the generated phantom, bad input, and the quick reproduction."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from numerics.simulators import decoder2d as D

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize("norm", ["fixed", "none"])
def test_backprop_vs_central_differences(norm):
    net = D.Decoder2D(8, 3, 3, norm=norm)
    p = net.init(np.random.default_rng(0))
    tgt = D.phantom(8)
    _, g = net.loss_grad(p, tgt)
    rng = np.random.default_rng(1)
    worst = 0.0
    for k in p:
        for _ in range(3):
            idx = tuple(int(rng.integers(s)) for s in p[k].shape)
            h = 1e-6
            q = {a: b.copy() for a, b in p.items()}
            q[k][idx] += h
            lp = net.loss_grad(q, tgt)[0]
            q[k][idx] -= 2 * h
            lm = net.loss_grad(q, tgt)[0]
            fd = (lp - lm) / (2 * h)
            worst = max(worst, abs(fd - g[k][idx]) / max(abs(fd), 1e-6))
    assert worst < 1e-6, worst   # measured 2.5e-8 (CN), 4.9e-9 (none)


def test_backprop_planted_error_is_caught():
    """The FD comparison resolves a planted 1e-3 error in the first layer's gradient."""
    net = D.Decoder2D(8, 3, 3, norm="fixed")
    p = net.init(np.random.default_rng(0))
    tgt = D.phantom(8)
    _, g = net.loss_grad(p, tgt)
    k, idx, h = "K0", (1, 2, 4), 1e-6
    q = {a: b.copy() for a, b in p.items()}
    q[k][idx] += h
    lp = net.loss_grad(q, tgt)[0]
    q[k][idx] -= 2 * h
    fd = (lp - net.loss_grad(q, tgt)[0]) / (2 * h)
    assert abs(fd - g[k][idx]) < 1e-6 * abs(fd)
    orig = D.Decoder2D.loss_grad

    def broken(self, params, target):   # a first-layer gradient off by 1e-3 (relative)
        L, gr = orig(self, params, target)
        return L, {a: b * (1.001 if a == "K0" else 1.0) for a, b in gr.items()}
    assert abs(fd - broken(net, p, tgt)[1][k][idx]) > 1e-4 * abs(fd)


def test_phantom():
    img = D.phantom(64)
    assert img.shape == (64, 64) and img.min() == 0.0 and img.max() == 1.0
    assert img[0, 0] == 0.0 and img[32, 32] == pytest.approx(0.2)  # outside; skull - brain
    assert 0.1 < img.mean() < 0.4
    with pytest.raises(ValueError, match="size"):
        D.phantom(2)


def test_dh_fig1_quick(tmp_path):
    """Quick run (32 x 32, k = 8, 60 steps at eta = 1e-3; measured: final loss 4.71 with CN vs
    23.0 without, of 1/2|x*|^2 = 31.8)."""
    from numerics.experiments import dh_fig1

    r = dh_fig1.run(tmp_path, quick=True, seed=0)
    data = json.loads((tmp_path / "dh_fig1.json").read_text())
    assert (tmp_path / "dh_fig1.png").exists() == HAVE_MPL
    assert data["size"] == 32 and data["d"] == 5 and len(data["target"]) == 32
    v = r["variants"]
    assert v["fixed"]["final_loss"] < 0.3 * v["none"]["final_loss"]
    assert v["none"]["relative_final_loss"] > 0.5
    assert np.all(np.isfinite(v["fixed"]["loss"]))
    assert "seed 000 line 25" in dh_fig1.report(r)
    with pytest.raises(ValueError, match="size"):
        dh_fig1.run(tmp_path, quick=True, size=2)
