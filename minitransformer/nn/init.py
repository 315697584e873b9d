"""Weight initialization, in place, with PyTorch's names (``nn.init.xavier_uniform_``...).

Each function overwrites ``tensor.data`` in place (the trailing underscore,
as in PyTorch), records nothing in the graph, keeps the tensor's dtype and
backend, draws from the engine's seeded generator (``mt.manual_seed``) and
returns the tensor.  A Parameter shared by two modules (tied weights) is
initialized once for both.

Why the scale matters: a layer y = W x with n_in inputs of variance 1 and
weights of variance s^2 gives outputs of variance n_in s^2.  Keeping the
variance constant through depth asks for s^2 = 1 / n_in (forward signal) and
s^2 = 1 / n_out (backward gradient); Glorot & Bengio (2010) compromise with

    xavier:  Var(W) = gain^2 * 2 / (fan_in + fan_out)

He et al. (2015) account for ReLU halving the variance:

    kaiming: Var(W) = gain^2 / fan          (gain^2 = 2 / (1 + a^2) for leaky ReLU).

A uniform U(-b, b) has variance b^2 / 3, so b = sqrt(3) * std.
"""
from __future__ import annotations

import math
import warnings

from ..autograd import Tensor
from ..backend import get_array_module, get_rng, to_host

__all__ = [
    "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_",
    "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]


def _check(tensor, name: str):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{name}: expected a Tensor or Parameter, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"nn.init.{name}: only float tensors can be initialized, got dtype {tensor.dtype}")


def _fill(tensor, values):
    """Write ``values`` (any float dtype) into the tensor without changing its dtype."""
    tensor.data[...] = values.astype(tensor.dtype, copy=False)
    return tensor


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """fan_in, fan_out of a weight of shape (out, in, *receptive): as in PyTorch.

    For a Linear weight (out_features, in_features): fan_in = in_features,
    fan_out = out_features.  For an Embedding table (num_embeddings, dim) the
    same rule gives fan_in = dim, fan_out = num_embeddings.
    """
    if tensor.ndim < 2:
        raise ValueError(
            f"nn.init: fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}"
        )
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with samples of U(a, b)."""
    _check(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"nn.init.uniform_: need a <= b, got a={a}, b={b}")
    rng = get_rng(get_array_module(tensor.data))
    return _fill(tensor, rng.random(tensor.shape) * (b - a) + a)


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with samples of N(mean, std^2)."""
    _check(tensor, "normal_")
    if std < 0:
        raise ValueError(f"nn.init.normal_: std must be >= 0, got {std}")
    rng = get_rng(get_array_module(tensor.data))
    return _fill(tensor, rng.standard_normal(tensor.shape) * std + mean)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
    """N(mean, std^2) restricted to [a, b]: out-of-range samples are redrawn."""
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"nn.init.trunc_normal_: need a < b, got a={a}, b={b}")
    xp = get_array_module(tensor.data)
    rng = get_rng(xp)
    values = rng.standard_normal(tensor.shape) * std + mean
    bad = (values < a) | (values > b)
    for _ in range(100):
        if not bool(to_host(bad.any())):   # one number to the host per redraw
            break
        values = xp.where(bad, rng.standard_normal(tensor.shape) * std + mean, values)
        bad = (values < a) | (values > b)
    return _fill(tensor, xp.clip(values, a, b))


def constant_(tensor, val: float):
    _check(tensor, "constant_")
    tensor.data[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0):
    """Glorot uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    _check(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity, name):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"nn.init.{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"nn.init.{name}: cannot initialize a tensor of shape {tensor.shape} (fan is 0)")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He uniform: U(-b, b) with b = gain * sqrt(3 / fan).

    PyTorch's default Linear init is ``kaiming_uniform_(W, a=sqrt(5))``:
    gain^2 = 2 / (1 + 5) = 1/3, so b = sqrt(1/3) * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
    """
    _check(tensor, "kaiming_uniform_")
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    _check(tensor, "kaiming_normal_")
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=2)
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"))
