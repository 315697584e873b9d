"""Higher-order gradients: backward(create_graph=True), mt.grad and mt.gradgradcheck."""
import math

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.gradcheck import GradcheckError, gradgradcheck_report


def leaf(values):
    return mt.tensor(values, dtype="float64", requires_grad=True)


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x, w = leaf([1.0, 2.0, 3.0]), leaf([0.5, -1.0, 2.0])
    loss = (x * w).sum()
    gx, gw = mt.grad(loss, [x, w])
    np.testing.assert_array_equal(gx.numpy(), [0.5, -1.0, 2.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0, 3.0])
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad  # no create_graph: plain values


def test_grad_of_a_non_leaf_and_with_grad_outputs():
    x = leaf([1.0, -2.0])
    h = x * x
    y = h * 3.0
    (gh,) = mt.grad(y, h, grad_outputs=mt.tensor([1.0, 10.0], dtype="float64"))
    np.testing.assert_array_equal(gh.numpy(), [3.0, 30.0])


def test_grad_sums_over_several_outputs():
    x = leaf(2.0)
    (g,) = mt.grad([x * x, x * 5.0], x)
    assert g.item() == 2 * 2.0 + 5.0


def test_third_derivative_of_a_cube():
    x = leaf(2.0)
    (d1,) = mt.grad(x ** 3, x, create_graph=True)
    (d2,) = mt.grad(d1, x, create_graph=True)
    (d3,) = mt.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == (12.0, 12.0, 6.0)


def test_derivatives_of_sin_as_composed_from_exp_free_ops():
    # sin is not an op; tanh's derivatives: t' = 1 - t^2, t'' = -2 t (1 - t^2)
    x = leaf(0.3)
    t = math.tanh(0.3)
    (d1,) = mt.grad(x.tanh(), x, create_graph=True)
    (d2,) = mt.grad(d1, x)
    assert d1.item() == pytest.approx(1 - t * t, rel=1e-12)
    assert d2.item() == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)


def test_backward_with_create_graph_gives_a_differentiable_grad():
    x = leaf([0.5, 1.5])
    (x * x * x).sum().backward(create_graph=True)
    g = x.grad                     # 3 x^2, with a graph
    assert g.requires_grad and not g.is_leaf
    np.testing.assert_allclose(g.numpy(), [0.75, 6.75])
    x.grad = None
    g.sum().backward()             # d/dx sum(3 x^2) = 6 x
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 9.0])


def test_retain_graph_defaults_to_create_graph():
    x = leaf(1.5)
    y = x.exp()
    mt.grad(y, x, create_graph=True)
    (g,) = mt.grad(y, x)                       # the graph was kept
    assert g.item() == pytest.approx(math.exp(1.5))
    with pytest.raises(mt.GraphError, match="a second time"):
        mt.grad(y, x)                          # ... and freed by the plain pass


def test_an_input_the_outputs_do_not_depend_on_is_named():
    x, unused = leaf([1.0]), leaf([[2.0, 3.0]])
    with pytest.raises(mt.GraphError, match=r"inputs\[1\] \(shape \(1, 2\)\) is not reached"):
        mt.grad((x * 2.0).sum(), [x, unused])
    gx, gu = mt.grad((x * 2.0).sum(), [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_grad_refuses_inputs_and_outputs_without_grad():
    x = leaf([1.0])
    with pytest.raises(mt.GraphError, match=r"inputs\[0\].*does not require grad"):
        mt.grad((x * 2).sum(), mt.tensor([1.0]))
    with pytest.raises(mt.GraphError, match=r"outputs\[0\].*does not require grad"):
        mt.grad(mt.tensor(1.0), x)
    with pytest.raises(ValueError, match="2 grad_outputs given for 1 outputs"):
        mt.grad(x.sum(), x, grad_outputs=[None, None])


def test_hessian_vector_product_of_a_quadratic_form():
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = leaf([1.0, -1.0])
    f = 0.5 * (x @ mt.tensor(a, dtype="float64") @ x)
    (g,) = mt.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), a @ [1.0, -1.0])
    v = mt.tensor([0.5, 2.0], dtype="float64")
    (hv,) = mt.grad(g, x, grad_outputs=v)      # H v, H = a
    np.testing.assert_allclose(hv.numpy(), a @ [0.5, 2.0])


def test_hooks_see_graph_gradients_and_their_result_stays_differentiable():
    x = leaf(2.0)
    h = x * x
    handle = h.register_hook(lambda g: g * h)  # dL/dh becomes h, a function of x
    (g,) = mt.grad(h, x, create_graph=True)    # h * 2x = 2 x^3
    handle.remove()                            # (it would fire again for the gradient at h)
    (d2,) = mt.grad(g, x)                      # 6 x^2
    assert (g.item(), d2.item()) == (16.0, 24.0)


class SquareWithWrongGraph(mt.Function):
    """x^2 whose array backward is right but whose backward_graph forgets the 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad

    @staticmethod
    def backward_graph(ctx, grad):
        return ctx.inputs[0] * grad


def test_gradgradcheck_passes_a_correct_function_and_names_the_worst_element_of_a_wrong_one():
    x = leaf([[0.3, -1.2], [0.7, 2.0]])
    assert mt.gradgradcheck(lambda t: (t * t * t).tanh(), [x])
    report = gradgradcheck_report(SquareWithWrongGraph.apply, [x])
    assert not report.passed
    message = report.describe("SquareWithWrongGraph")
    assert "gradgradcheck of SquareWithWrongGraph failed for input 0 (shape (2, 2))" in message
    assert "analytic second derivative" in message
    # d/dv of the graph gradient x*v is x, the numeric one (from backward) 2x
    by_label = {r.label: r for r in report.inputs}
    wrong = by_label["grad_outputs"]
    assert not wrong.passed and wrong.numeric == pytest.approx(2 * wrong.analytic, rel=1e-6)
    with pytest.raises(GradcheckError, match="failed for grad_outputs"):
        mt.gradgradcheck(SquareWithWrongGraph.apply, [x], name="SquareWithWrongGraph")


def test_gradgradcheck_insists_on_float64():
    with pytest.raises(ValueError, match="gradgradcheck: input 0 .* float32"):
        mt.gradgradcheck(lambda t: t * t, [mt.tensor([1.0], dtype="float32", requires_grad=True)])


class Double(mt.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class ArrayOnlyBackward(mt.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return (grad.data if isinstance(grad, mt.Tensor) else grad) * 2   # an array, even for a Tensor grad


def test_a_users_backward_serves_the_graph_pass_too():
    """Written with operators that Tensors share, one backward gives first and higher derivatives."""
    x = leaf([1.0, 3.0])
    y = (Double.apply(x) * x).sum()                      # 2 x^2
    (g,) = mt.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [4.0, 12.0])   # 4 x
    (gg,) = mt.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), [4.0, 4.0])


def test_a_backward_that_leaves_the_graph_says_so_under_create_graph():
    x = leaf([1.0])
    y = ArrayOnlyBackward.apply(x).sum()
    assert mt.grad(y, x, retain_graph=True)[0].item() == 2.0     # the array pass is fine
    with pytest.raises(TypeError, match="ArrayOnlyBackward.backward returned a .* for input 0 when given Tensors"):
        mt.grad(y, x, create_graph=True)


def test_the_default_pass_still_carries_arrays():
    """create_graph=False keeps the fast path: op backwards receive raw arrays."""
    seen = []

    class Spy(mt.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            seen.append(type(grad))
            return grad

    Spy.apply(leaf([1.0, 2.0])).sum().backward()
    assert seen == [type(leaf([1.0]).data)]   # numpy.ndarray, or the backend's array type


def test_gradient_penalty_gradient_matches_finite_differences():
    """d/dw of ||d loss/dx||^2: the Transformer-relevant use (a gradient norm penalty)."""
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((3, 4)), dtype="float64", requires_grad=True)
    w = mt.tensor(rng.standard_normal((2, 4)), dtype="float64", requires_grad=True)
    targets = np.array([0, 1, 1])

    @mt.enable_grad()  # gradcheck's numeric pass runs under no_grad; the inner grad needs a graph
    def penalty(w):
        loss = mt.functional.cross_entropy(mt.functional.linear(x, w).tanh(), targets)
        (gx,) = mt.grad(loss, x, create_graph=True)
        return (gx * gx).sum()

    assert mt.gradcheck(penalty, [w])
