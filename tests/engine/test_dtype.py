"""Dtypes are preserved: float32 in -> float32 out and float32 gradients, for every op.

(Float32 is the training dtype: an op that silently upcast to float64 would
double memory and halve speed; the engine itself refuses a backward whose
gradient has the wrong dtype, so these tests also run every backward.)
"""
import numpy as np
import pytest

import minitransformer as mt
from minitransformer.testing import all_specs

SPECS = all_specs()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_op_keeps_the_dtype_of_its_inputs(spec, dtype):
    rng = np.random.default_rng(7)
    for _ in range(4):
        sample = spec.sample_inputs(rng, dtype)
        inputs = sample.tensors()
        out = sample.call(*inputs)
        assert out.dtype == np.dtype(dtype), f"{spec.name}: {dtype} inputs gave a {out.dtype} output"
        out.backward(mt.ones_like(out))
        for i, x in enumerate(inputs):
            assert x.grad.dtype == np.dtype(dtype), f"{spec.name}: input {i} got a {x.grad.dtype} gradient"


@pytest.mark.parametrize("expression", [
    lambda x: x * 2.0, lambda x: 2.0 - x, lambda x: x / 3, lambda x: 1 / x, lambda x: x ** 2,
    lambda x: 2.0 ** x, lambda x: np.float64(2.0) * x, lambda x: x + np.float64(0.5),
    lambda x: mt.maximum(x, 0.5), lambda x: mt.where(x.numpy() > 0, x, 0.0),
    lambda x: x.masked_fill(x.numpy() > 1, -1e9), lambda x: x.clip(np.float64(-1), 1.0),
], ids=["mul", "rsub", "div", "rdiv", "pow", "rpow", "np-scalar-mul", "np-scalar-add",
        "maximum", "where", "masked_fill", "clip"])
def test_python_and_numpy_scalars_do_not_upcast_float32(expression):
    x = mt.tensor([0.5, 1.5, 2.5], requires_grad=True)
    out = expression(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_boolean_masks_do_not_upcast_float32():
    x = mt.tensor([0.5, -1.5], requires_grad=True)
    out = x * mt.tensor([True, False])
    assert out.dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0])


def test_mixed_float_dtypes_promote_and_each_gradient_keeps_its_input_dtype():
    a = mt.tensor([1.0, 2.0], requires_grad=True)                   # float32
    b = mt.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    out = a * b
    assert out.dtype == np.float64                                   # NumPy's promotion
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 2.0])


class UpcastingSquare(mt.Function):
    """A buggy op whose backward computes in float64."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (2 * grad * x).astype(np.float64)


def test_a_backward_that_upcasts_is_refused_with_the_dtypes_named():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"UpcastingSquare.backward .* dtype float64 for input 0.*dtype float32"):
        UpcastingSquare.apply(x).sum().backward()


def test_factories_and_reductions_follow_the_default_dtype():
    assert mt.randn(2, 2).sum().dtype == np.float32
    assert mt.zeros(3).mean().dtype == np.float32
    assert mt.arange(3).dtype == np.int64
    assert mt.arange(0.0, 1.0, 0.5).dtype == np.float32
    with mt.set_default_dtype("float64"):
        assert mt.ones(2).var().dtype == np.float64


class ReturnsShape(mt.Function):
    """A Function whose backward returns a zero gradient of the shape it is told to."""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.shape = shape
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        return np.zeros(ctx.shape, dtype=grad.dtype)


@pytest.mark.parametrize("x_shape, returned, advice", [
    ((3, 1), (3, 4), "did you forget to sum over broadcast axes (unbroadcast)?"),
    ((2, 3), (3,), "it has fewer elements than its input: put back the axes a reduction dropped"),
    ((2, 3), (3, 2), "it is the input's shape with the last two axes swapped"),
    ((2, 3), (4,), "return one gradient per input, of that input's shape"),
])
def test_a_gradient_of_the_wrong_shape_gets_advice_that_fits(x_shape, returned, advice):
    from minitransformer.autograd.function import GradientShapeError

    x = mt.zeros(*x_shape, requires_grad=True)
    with pytest.raises(GradientShapeError) as info:
        ReturnsShape.apply(x, shape=returned).sum().backward()
    assert (info.value.shape, info.value.expected_shape, info.value.input_index) == (returned, x_shape, 0)
    assert str(info.value).startswith(f"ReturnsShape.backward returned a gradient of shape {returned} ")
    assert advice in str(info.value) and "float64" not in str(info.value)
