"""Each backend's kernels against the portable formulas and plain NumPy.

The NumPy, strict and (where a GPU is present) CuPy kernels get the same
inputs, in float64 and float32, and must give what the formula in
``backend/kernels/portable.py`` gives on NumPy arrays, up to rounding.
"""
import math

import numpy as np
import pytest

from minitransformer.backend import array_module, cupy_available, to_host
from minitransformer.backend.kernels import Kernels, kernels_for, kernels_of_backend

BACKENDS = [
    "numpy",
    "strict",
    pytest.param("cupy", marks=pytest.mark.skipif(not cupy_available(), reason="no CuPy with a GPU here")),
]
REFERENCE = Kernels()   # the portable formulas, run on NumPy arrays
TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}   # float32: a sum of 257 numbers rounds to about that


def on(kind, *host_arrays):
    xp = array_module(kind)
    return [xp.asarray(a) for a in host_arrays]


def assert_close(device_array, expected, dtype):
    got = to_host(device_array)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


def data(dtype, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


@pytest.mark.parametrize("kind", BACKENDS)
def test_kernels_are_chosen_by_the_arrays_backend(kind):
    (x,) = on(kind, np.zeros(3))
    assert kernels_for(x) is kernels_of_backend(kind)
    # NumPy and CuPy have their own; the strict backend runs the portable formulas
    assert type(kernels_for(x)).__name__ == {"numpy": "NumpyKernels", "strict": "Kernels", "cupy": "CupyKernels"}[kind]


@pytest.mark.parametrize("kind", BACKENDS)
def test_row_sum_and_row_dot(kind, dtype):
    a, b = data(dtype, (3, 5, 257), (3, 5, 257))
    k = kernels_of_backend(kind)
    da, db = on(kind, a, b)
    assert_close(k.row_sum(da), a.sum(axis=-1, keepdims=True), dtype)
    assert_close(k.row_dot(da, db), (a * b).sum(axis=-1, keepdims=True), dtype)


@pytest.mark.parametrize("kind", BACKENDS)
def test_erf_is_the_error_function(kind, dtype):
    x = np.linspace(-4, 4, 101).astype(dtype)
    (dx,) = on(kind, x)
    expected = np.array([math.erf(v) for v in x.astype(np.float64)]).astype(dtype)
    assert_close(kernels_of_backend(kind).erf(dx), expected, dtype)
    assert_close(REFERENCE.erf(dx), expected, dtype)     # the portable form, on the host and back


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("affine", ["both", "weight only", "none"])
def test_layer_norm_scale_shift(kind, dtype, affine):
    centred, rstd, weight, bias = data(dtype, (6, 16), (6, 1), (16,), (16,))
    rstd = np.abs(rstd) + 0.5
    weight = None if affine == "none" else weight
    bias = bias if affine == "both" else None
    x_hat, out = centred.copy(), np.empty_like(centred)
    REFERENCE.scale_shift(x_hat, rstd, weight, bias, out=out)
    np.testing.assert_allclose(x_hat, centred * rstd)   # the reference is the formula
    args = on(kind, *(a for a in (centred, rstd, weight, bias) if a is not None))
    d_x_hat, d_rstd = args[0], args[1]
    d_weight = args[2] if weight is not None else None
    d_bias = args[-1] if bias is not None else None
    d_out = array_module(kind).empty_like(d_x_hat)
    kernels_of_backend(kind).scale_shift(d_x_hat, d_rstd, d_weight, d_bias, out=d_out)
    assert_close(d_x_hat, x_hat, dtype)
    assert_close(d_out, out, dtype)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_adam_update_over_three_steps(kind, dtype, amsgrad):
    """Three updates against the textbook formulas with bias-corrected m_hat and v_hat."""
    param, *grads = data(dtype, (4, 8), (4, 8), (4, 8), (4, 8))
    lr, beta1, beta2, eps = 0.01, 0.9, 0.98, 1e-8
    p, m, v, vmax = param.astype(np.float64), 0.0, 0.0, 0.0
    xp = array_module(kind)
    d_param, d_m, d_v, d_vmax = on(kind, param, np.zeros_like(param), np.zeros_like(param), np.zeros_like(param))
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g.astype(np.float64) ** 2
        vmax = np.maximum(vmax, v)
        v_used = vmax if amsgrad else v
        p = p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v_used / (1 - beta2 ** t)) + eps)
        kernels_of_backend(kind).adam_update(
            d_param, xp.asarray(g), d_m, d_v, beta1, beta2, step_size=lr / (1 - beta1 ** t),
            bias_correction2_sqrt=math.sqrt(1 - beta2 ** t), eps=eps, max_exp_avg_sq=d_vmax if amsgrad else None)
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(to_host(d_param), p, rtol=tol, atol=tol)
    np.testing.assert_allclose(to_host(d_v), v, rtol=tol, atol=tol)
    if amsgrad:
        np.testing.assert_allclose(to_host(d_vmax), vmax, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("ids", [[3, 0, 3, 1, 3], [], [2], [0, 1, 2, 3, 4, 5]], ids=["repeated", "empty", "one", "distinct"])
def test_scatter_add_rows_adds_repeated_ids(kind, ids, dtype):
    ids = np.array(ids, dtype=np.int64)
    (rows,) = data(dtype, (ids.size, 3))
    expected = np.zeros((6, 3), dtype=dtype)
    np.add.at(expected, ids, rows)
    d_ids, d_rows = on(kind, ids, rows)
    assert_close(kernels_of_backend(kind).scatter_add_rows(d_ids, d_rows, 6), expected, dtype)
