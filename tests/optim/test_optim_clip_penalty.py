"""Gradient clipping against torch.nn.utils, and the differentiable weight penalties."""

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.backend import to_host
from minitransformer import optim
from minitransformer.nn import Parameter


def params_with_grads(grads, dtype="float64"):
    with mt.set_default_dtype(dtype):
        ps = [Parameter(np.zeros_like(g)) for g in grads]
        for p, g in zip(ps, grads):
            p.grad = mt.tensor(g)
    return ps


GRADS = [np.array([[3.0, -4.0], [1.0, 2.0]]), np.array([0.5, -12.0, 7.0])]


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 2.5, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    ps = params_with_grads(GRADS)
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in GRADS]
    for tp, g in zip(tps, GRADS):
        tp.grad = torch.tensor(g)
    total = optim.clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-14)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-14)


def test_clip_grad_norm_float32_in_place_and_edge_cases():
    ps = params_with_grads([g.astype(np.float32) for g in GRADS], dtype="float32")
    arrays = [p.grad.data for p in ps]
    total = optim.clip_grad_norm_(iter(ps), max_norm=1.0)          # a generator works too
    assert total == pytest.approx(np.sqrt(sum((g ** 2).sum() for g in GRADS)), rel=1e-6)
    assert all(p.grad.data is a and a.dtype == np.float32 for p, a in zip(ps, arrays))
    assert np.sqrt(sum((to_host(a).astype(np.float64) ** 2).sum() for a in arrays)) <= 1.0 + 1e-6
    assert optim.clip_grad_norm_([Parameter(np.ones(2))], 1.0) == 0.0   # no gradients at all
    with pytest.raises(ValueError, match=r"clip_grad_norm_: max_norm must be > 0, got -1.0"):
        optim.clip_grad_norm_(ps, -1.0)
    bad = params_with_grads([np.array([np.inf, 1.0])])
    with pytest.raises(FloatingPointError, match=r"total 2.0-norm of the gradients is inf"):
        optim.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    ps = params_with_grads(GRADS)
    optim.clip_grad_value_(ps, 2.5)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [[2.5, -2.5], [1.0, 2.0]])
    np.testing.assert_array_equal(ps[1].grad.numpy(), [0.5, -2.5, 2.5])
    with pytest.raises(ValueError, match=r"clip_grad_value_: clip_value must be > 0"):
        optim.clip_grad_value_(ps, 0)


def test_penalties_values_and_gradients():
    with mt.set_default_dtype("float64"):
        a = Parameter(np.array([[1.0, -2.0], [0.0, 3.0]]))
        b = Parameter(np.array([-0.5, 0.25]))
        l2 = optim.l2_penalty([a, b])
        assert l2.item() == pytest.approx(1 + 4 + 9 + 0.25 + 0.0625)
        l2.backward()
        np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy())
        np.testing.assert_allclose(b.grad.numpy(), 2 * b.numpy())
        a.grad = b.grad = None
        l1 = optim.l1_penalty(iter([a, b]))
        assert l1.item() == pytest.approx(1 + 2 + 3 + 0.5 + 0.25)
        (0.1 * l1).backward()
        np.testing.assert_allclose(a.grad.numpy(), 0.1 * np.sign(a.numpy()))   # 0 at 0
        np.testing.assert_allclose(b.grad.numpy(), 0.1 * np.sign(b.numpy()))
        assert optim.l2_penalty([]).item() == 0.0
        mt.gradcheck(lambda x, y: optim.l2_penalty([x, y]) + optim.l1_penalty([x]),
                     [mt.tensor([0.3, -1.2], requires_grad=True), mt.tensor([[2.0]], requires_grad=True)])


def test_l2_penalty_in_the_loss_equals_sgd_weight_decay():
    """d/dp (lambda/2 * sum p^2) = lambda p: the same step as SGD's weight_decay=lambda."""
    with mt.set_default_dtype("float64"):
        p1, p2 = Parameter(np.array([1.0, -2.0])), Parameter(np.array([1.0, -2.0]))
        o1, o2 = optim.SGD([p1], lr=0.1), optim.SGD([p2], lr=0.1, weight_decay=0.2)
        for _ in range(5):
            for p, opt, pen in ((p1, o1, 0.1), (p2, o2, 0.0)):
                opt.zero_grad()
                ((p * 3.0).sum() + pen * optim.l2_penalty([p])).backward()
                opt.step()
        np.testing.assert_allclose(p1.numpy(), p2.numpy(), rtol=1e-14)
    with pytest.raises(TypeError, match=r"l1_penalty: expected Tensors/Parameters, got a ndarray"):
        optim.l1_penalty([np.ones(2)])
