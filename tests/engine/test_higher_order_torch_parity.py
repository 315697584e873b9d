"""Second derivatives of the registered ops agree with PyTorch's (float64, Hypothesis cases).

For a case of an op (drawn from its OpSpec, as the property tests draw it),
both libraries compute the first derivative G = d sum(f(x) * v)/dx with
``create_graph=True`` and then the gradient of sum(G * u) with respect to
every input and to v: the backward pass of the backward pass.  PyTorch is
only a reference here; the tests skip where it is not installed.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer.testing import all_specs, op_inputs

torch = pytest.importorskip("torch")
TF = torch.nn.functional
SPECS = {spec.name: spec for spec in all_specs()}
SETTINGS = settings(deadline=None, max_examples=15,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _dims(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def _getitem(x, index):
    """x[index] with NumPy's rules (negative steps included): gather the positions NumPy picks."""
    positions = np.arange(x.numel()).reshape(tuple(x.shape))[index]
    return x.reshape(-1)[torch.from_numpy(np.array(positions).reshape(-1))].reshape(np.shape(positions))


def _cross_entropy(x, targets, ignore_index, label_smoothing, reduction):
    c = x.shape[-1]
    loss = TF.cross_entropy(x.reshape(-1, c), torch.from_numpy(targets).reshape(-1),
                            ignore_index=-100 if ignore_index is None else ignore_index,
                            label_smoothing=label_smoothing, reduction=reduction)
    return loss.reshape(targets.shape) if reduction == "none" else loss


def _attention(q, k, v, mask):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~torch.from_numpy(mask), -math.inf)
    return torch.softmax(scores, dim=-1) @ v


def _masked_softmax(s, mask):
    if mask is not None:
        s = s.masked_fill(~torch.from_numpy(mask), -math.inf)
    return torch.softmax(s, dim=-1)


TORCH = {
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a / b, "Pow": lambda a, b: a ** b, "Neg": lambda x: -x,
    "Exp": torch.exp, "Log": torch.log, "Sqrt": torch.sqrt, "Abs": torch.abs, "Tanh": torch.tanh,
    "Sin": torch.sin, "Cos": torch.cos,
    "Sigmoid": torch.sigmoid, "Relu": torch.relu, "Erf": torch.erf,
    "GeluTanh": lambda x: TF.gelu(x, approximate="tanh"), "GeluErf": TF.gelu,
    "Clip": lambda x: x.clamp(-1.005, 0.995), "Maximum": torch.maximum, "Minimum": torch.minimum,
    "Where": lambda a, b, condition: torch.where(torch.from_numpy(condition), a, b),
    "MaskedFill": lambda x, mask, value: x.masked_fill(torch.from_numpy(mask), value),
    "Sum": lambda x, axis, keepdims: x.sum(dim=_dims(x, axis), keepdim=keepdims),
    "Mean": lambda x, axis, keepdims: x.mean(dim=_dims(x, axis), keepdim=keepdims),
    "Var": lambda x, axis, keepdims, correction: x.var(dim=_dims(x, axis), keepdim=keepdims,
                                                       correction=correction),
    "Max": lambda x, axis, keepdims: x.amax(dim=_dims(x, axis), keepdim=keepdims),
    "LogSumExp": lambda x, axis, keepdims: torch.logsumexp(x, dim=_dims(x, axis), keepdim=keepdims),
    "MatMul": torch.matmul,
    "GetItem": _getitem,
    "Take": lambda x, indices, axis: x.index_select(axis, torch.from_numpy(indices).reshape(-1)).reshape(
        x.shape[:axis % x.ndim] + indices.shape + x.shape[axis % x.ndim + 1:]),
    "Softmax": lambda x, axis: torch.softmax(x, dim=axis),
    "LogSoftmax": lambda x, axis: torch.log_softmax(x, dim=axis),
    "LayerNorm": lambda x, w, b, normalized_shape, eps: TF.layer_norm(x, normalized_shape, w, b, eps),
    "LayerNormNoAffine": lambda x, normalized_shape, eps: TF.layer_norm(x, normalized_shape, eps=eps),
    "Linear": TF.linear, "LinearNoBias": TF.linear,
    "Embedding": lambda w, ids: TF.embedding(torch.from_numpy(ids), w),
    "CrossEntropy": _cross_entropy,
    "MaskedSoftmax": _masked_softmax,
    "ScaledDotProductAttention": _attention, "FusedAttention": _attention,
}


def _second_derivatives_ours(sample, v, us):
    xs = sample.tensors()
    v = mt.tensor(v, dtype="float64", requires_grad=True)
    grads = mt.grad(sample.call(*xs), xs, grad_outputs=v, create_graph=True, allow_unused=True)
    m = sum(((g * mt.tensor(u, dtype="float64")).sum() for g, u in zip(grads, us) if g is not None), mt.tensor(0.0, dtype="float64"))
    if not m.requires_grad:
        return [np.zeros(t.shape) for t in (*xs, v)]
    seconds = mt.grad(m, [*xs, v], allow_unused=True)
    return [np.zeros(t.shape) if s is None else s.numpy() for s, t in zip(seconds, (*xs, v))]


def _second_derivatives_torch(sample, v, us):
    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in sample.arrays]
    v = torch.tensor(v, dtype=torch.float64, requires_grad=True)
    out = TORCH[sample.spec.name](*xs, **sample.params)
    grads = torch.autograd.grad(out, xs, grad_outputs=v, create_graph=True, allow_unused=True)
    m = sum(((g * torch.from_numpy(u)).sum() for g, u in zip(grads, us) if g is not None),
            torch.tensor(0.0, dtype=torch.float64))
    if not m.requires_grad:
        return [np.zeros(t.shape) for t in (*xs, v)]
    seconds = torch.autograd.grad(m, [*xs, v], allow_unused=True)
    # force: abs's second derivative is a ZeroTensor, which only converts when forced
    return [np.zeros(t.shape) if s is None else s.detach().numpy(force=True) for s, t in zip(seconds, (*xs, v))]


def _fully_masked_row(sample):
    mask = sample.params.get("mask")
    if mask is None:
        return False
    arrays = sample.arrays
    scores_shape = arrays[0].shape if len(arrays) == 1 else arrays[0].shape[:-1] + arrays[1].shape[-2:-1]
    return not np.broadcast_to(mask, scores_shape).any(axis=-1).all()


@pytest.mark.parametrize("name", sorted(TORCH))
@SETTINGS
@given(data=st.data())
def test_second_derivatives_match_torch(name, data):
    sample = data.draw(op_inputs(SPECS[name], max_dims=3, max_side=3), label="sample")
    # PyTorch answers NaN where we define 0 (a softmax over no allowed key, a mean over no target)
    assume(not _fully_masked_row(sample))
    if name == "CrossEntropy" and sample.params["reduction"] == "mean":
        assume((sample.params["targets"] != sample.params["ignore_index"]).any())
    # torch reduces over every axis for dim=(); NumPy (and we) over none
    assume(sample.params.get("axis", 0) != ())
    # torch's pow backward sets the gradient of the base to 0 where the exponent is 0,
    # which makes its derivative in the exponent 0 there (it is a^(b-1), as we give)
    assume(name != "Pow" or (sample.arrays[1] != 0).all())
    out_shape = sample.call(*sample.tensors(requires_grad=False)).shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    v = rng.standard_normal(out_shape)
    us = [rng.standard_normal(a.shape) for a in sample.arrays]
    ours = _second_derivatives_ours(sample, v, us)
    theirs = _second_derivatives_torch(sample, v, us)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        what = "grad_outputs" if i == len(sample.arrays) else f"input {i}"
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"{name}: {what}")
