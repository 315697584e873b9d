"""The backward pass: gradients, accumulation, graph freeing, grad modes, hooks, custom ops, gradcheck."""
import re

import numpy as np
import pytest

import minitransformer as mt


def f64(values, requires_grad=True):
    return mt.tensor(values, dtype="float64", requires_grad=requires_grad)


# ------------------------------------------------------------------ backward()
def test_backward_of_a_scalar_needs_no_argument():
    x = f64([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_backward_of_a_non_scalar_without_gradient_is_a_clear_error():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(mt.GraphError, match=r"shape \(2, 2\) needs a gradient.*\.sum\(\)"):
        (x * 2).backward()


def test_backward_of_a_non_scalar_with_an_explicit_gradient():
    x = f64([1.0, 2.0, 3.0])
    (x * x).backward(mt.tensor([1.0, 0.0, -1.0], dtype="float64"))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, -6.0])


def test_a_ten_thousand_op_chain_needs_no_recursion():
    x = f64(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 10_000, rtol=1e-9)


def test_gradients_accumulate_across_backward_calls():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.zero_grad()
    assert x.grad is None


def test_a_tensor_used_twice_receives_both_gradients():
    x = f64([1.0, 2.0])
    (x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    w = f64([3.0, -1.0])
    h = w * 2
    (h * h + h).sum().backward()          # d/dw (4w^2 + 2w) = 8w + 2
    np.testing.assert_allclose(w.grad.numpy(), [26.0, -6.0])


def test_retain_graph_allows_a_second_backward():
    x = f64([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_a_second_backward_without_retain_graph_is_a_graph_error():
    x = f64([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(mt.GraphError, match="retain_graph=True"):
        loss.backward()


# ------------------------------------------------------------------ grad modes
def test_no_grad_as_context_manager_records_nothing():
    x = f64([1.0, 2.0])
    with mt.no_grad():
        assert not mt.is_grad_enabled()
        y = (x * 2).exp()
    assert mt.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(mt.GraphError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_as_decorator_records_nothing():
    @mt.no_grad()
    def double(t):
        return t * 2

    y = double(f64([1.0]))
    assert not y.requires_grad and y.is_leaf
    assert mt.is_grad_enabled()


def test_enable_grad_inside_no_grad_records_again():
    x = f64([1.0])
    with mt.no_grad(), mt.enable_grad():
        y = x * 2
    assert y.requires_grad and not y.is_leaf


def test_detach_cuts_the_graph():
    x = f64([1.0, 2.0])
    y = (x * x).detach()
    (y * x).sum().backward()              # y is a constant: d/dx = y
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 4.0])


# ------------------------------------------------------------------ hooks, retain_grad
def test_register_hook_sees_modifies_and_is_removed():
    x = f64([1.0, 2.0])
    seen = []
    h_seen = x.register_hook(lambda g: seen.append(g.numpy()))
    h_double = x.register_hook(lambda g: g * 2)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])

    h_double.remove()
    h_seen.remove()
    x.zero_grad()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert len(seen) == 1


def test_a_hook_on_an_intermediate_changes_what_flows_upstream():
    x = f64([1.0, 2.0])
    y = x * 2
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()              # dL/dy = 2y, times 10, times dy/dx = 2
    np.testing.assert_allclose(x.grad.numpy(), 10 * 2 * (2 * x.numpy()) * 2)
    assert y.grad is None                 # a non-leaf keeps no .grad unless asked


def test_register_hook_needs_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        f64([1.0], requires_grad=False).register_hook(lambda g: g)


def test_retain_grad_keeps_the_gradient_of_an_intermediate():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 4 * y.numpy())


@pytest.mark.parametrize("data, dtype", [([1, 2], "int64"), ([True, False], "bool")])
def test_only_float_tensors_can_require_grad(data, dtype):
    with pytest.raises(TypeError, match=dtype):
        mt.tensor(data, requires_grad=True)
    t = mt.tensor(data)
    with pytest.raises(TypeError, match=f"dtype {dtype}"):
        t.requires_grad = True


# ------------------------------------------------------------------ custom Functions
class Cube(mt.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad):
        """d x^3/dx = 3 x^2."""
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x


class SquareMissingTwo(mt.Function):
    """x^2 with the classic bug: backward forgets the factor 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class MatMulForgotTranspose(mt.Function):
    """a @ b whose gradient for a uses b instead of b^T."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad @ b, a.T @ grad


def test_a_user_defined_function_passes_gradcheck():
    x = f64([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
    assert mt.gradcheck(Cube.apply, [x])
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
    assert Cube.apply(mt.tensor([2.0])).dtype == np.float32


# gradcheck's message, e.g. "... failed for input 0 (shape (2, 3)): at index (1, 2) the analytic
# gradient is 0.5 but the numeric (finite-difference) gradient is 1; absolute error 0.5, relative error 0.5"
MESSAGE = re.compile(
    r"input (\d+) \(shape .*?\): at index \(([\d, ]*)\) the analytic gradient is (\S+) but the "
    r"numeric \(finite-difference\) gradient is (\S+); absolute error (\S+), relative error (\S+)"
)


def _direction(shape):
    """The random output direction v of gradcheck (its seed=0): it checks d sum(f(x) v)/dx."""
    return np.random.default_rng(0).standard_normal(shape)


def _parse(message):
    m = MESSAGE.search(message)
    assert m, message
    index = tuple(int(k) for k in m.group(2).split(",") if k.strip())
    return int(m.group(1)), index, *(float(m.group(k)) for k in range(3, 7))


def test_gradcheck_reports_a_missing_factor_of_two():
    x = f64([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
    with pytest.raises(mt.GradcheckError) as info:
        mt.gradcheck(SquareMissingTwo.apply, [x], name="SquareMissingTwo")
    assert "gradcheck of SquareMissingTwo failed" in str(info.value)
    analytic = _direction(x.shape) * x.numpy()          # what the broken backward gives
    numeric = 2 * analytic                               # the true gradient
    worst = np.unravel_index(np.argmax(np.abs(analytic)), x.shape)
    index, at, a, n, abs_err, rel_err = _parse(str(info.value))
    assert (index, at) == (0, tuple(int(k) for k in worst))
    assert a == pytest.approx(analytic[worst], rel=1e-5)
    assert n == pytest.approx(numeric[worst], rel=1e-5)
    assert abs_err == pytest.approx(abs(analytic[worst]), rel=1e-2)
    assert rel_err == pytest.approx(0.5, rel=1e-2)
    assert mt.gradcheck(SquareMissingTwo.apply, [x], raise_exception=False) is False


def test_gradcheck_reports_a_forgotten_transpose_for_that_input_only():
    rng = np.random.default_rng(3)
    a, b = f64(rng.standard_normal((3, 3))), f64(rng.standard_normal((3, 3)))
    with pytest.raises(mt.GradcheckError) as info:
        mt.gradcheck(MatMulForgotTranspose.apply, [a, b])
    message = str(info.value)
    assert "input 1" not in message                     # b's gradient is right
    v = _direction((3, 3))
    analytic, numeric = v @ b.numpy(), v @ b.numpy().T
    excess = np.abs(analytic - numeric) - (1e-5 + 1e-3 * np.abs(numeric))
    worst = np.unravel_index(np.argmax(excess), (3, 3))
    index, at, got_a, got_n, abs_err, rel_err = _parse(message)
    assert (index, at) == (0, tuple(int(k) for k in worst))
    assert got_a == pytest.approx(analytic[worst], rel=1e-5)
    assert got_n == pytest.approx(numeric[worst], rel=1e-5)
    diff = abs(analytic[worst] - numeric[worst])
    assert abs_err == pytest.approx(diff, rel=1e-2)
    assert rel_err == pytest.approx(diff / abs(numeric[worst]), rel=1e-2)


def test_gradcheck_refuses_float32_and_says_why():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"float32.*float64.*rounding"):
        mt.gradcheck(lambda t: t * t, [x])


def test_gradcheck_refuses_nan_inputs():
    x = f64([1.0, float("nan")])
    with pytest.raises(ValueError, match="NaN"):
        mt.gradcheck(lambda t: t * t, [x])


def test_gradcheck_leaves_the_inputs_and_their_grads_as_they_were():
    x = f64([0.5, -1.0])
    x.grad = mt.tensor([7.0, 7.0], dtype="float64")
    assert mt.gradcheck(lambda t: (t * t).tanh(), [x])
    np.testing.assert_array_equal(x.numpy(), [0.5, -1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0])


def test_vector_dot_vector_backward():
    """1-D @ 1-D gives a 0-d result; its backward once hit an IndexError."""
    a, b = f64([1.0, 2.0, 3.0]), f64([4.0, -5.0, 6.0])
    (a @ b).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.numpy())
    np.testing.assert_allclose(b.grad.numpy(), a.numpy())


def test_gradcheck_report_takes_the_upstream_gradient_and_keeps_both_gradients():
    from minitransformer.gradcheck import gradcheck_report

    x = f64([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
    v = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    (r,) = gradcheck_report(SquareMissingTwo.apply, [x], direction=v).inputs
    np.testing.assert_allclose(r.analytic_grad, v * x.numpy())        # the broken backward: g * x
    np.testing.assert_allclose(r.numeric_grad, 2 * v * x.numpy(), atol=1e-6)
    assert not r.passed
    with pytest.raises(ValueError, match="direction has shape"):
        gradcheck_report(SquareMissingTwo.apply, [x], direction=np.ones(3))
