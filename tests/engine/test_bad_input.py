"""Wrong inputs fail at once with an error that names the op, the shapes and the values involved."""
import numpy as np
import pytest

import minitransformer as mt


class DeviceArray(np.ndarray):
    """Another array type that says it lives on the GPU (a stand-in for CuPy)."""

    @property
    def __cuda_array_interface__(self):
        return {}


def z(*shape, **kw):
    return mt.zeros(*shape, **kw)


def _backward_twice():
    loss = (mt.ones(2, requires_grad=True) * 2).sum()
    loss.backward()
    loss.backward()


CASES = {
    "matmul inner sizes": (lambda: z(2, 3) @ z(4, 5), ValueError,
                           ["matmul", "(2, 3)", "(4, 5)", "(3)", "(4)"]),
    "matmul batch dims": (lambda: z(2, 3, 4) @ z(5, 4, 2), ValueError,
                          ["matmul", "(2, 3, 4)", "(5, 4, 2)", "batch"]),
    "matmul of a 0-d tensor": (lambda: mt.tensor(2.0) @ z(2), ValueError, ["matmul", "()", "(2,)"]),
    "add broadcast": (lambda: z(2, 3) + z(4), ValueError, ["add", "(2, 3)", "(4,)", "broadcast"]),
    "mul broadcast": (lambda: z(2, 3) * z(2, 1, 2), ValueError, ["multiply", "(2, 3)", "(2, 1, 2)"]),
    "maximum broadcast": (lambda: mt.maximum(z(3), z(2)), ValueError, ["maximum", "(3,)", "(2,)"]),
    "where broadcast": (lambda: mt.where(mt.tensor([True, False]), z(3), z(3)), ValueError,
                        ["where", "(2,)", "(3,)"]),
    "where condition dtype": (lambda: mt.where(mt.tensor([1, 0]), z(2), z(2)), TypeError,
                              ["where", "boolean", "int64"]),
    "masked_fill mask dtype": (lambda: z(2).masked_fill(mt.tensor([1.0, 0.0]), 0.0), TypeError,
                               ["masked_fill", "boolean", "float32"]),
    "masked_fill mask bigger": (lambda: z(2).masked_fill(mt.tensor([[True, False]] * 3), 0.0), ValueError,
                                ["masked_fill", "(2,)", "(3, 2)"]),
    "concatenate": (lambda: mt.concatenate([z(2, 3), z(3, 4)], axis=0), ValueError,
                    ["concatenate", "(2, 3)", "(3, 4)", "axis 0"]),
    "stack": (lambda: mt.stack([z(2, 3), z(3, 2)]), ValueError, ["stack", "(2, 3)", "(3, 2)", "same shape"]),
    "reshape size": (lambda: z(2, 3).reshape(4, 2), ValueError, ["reshape", "(2, 3)", "6 elements", "(4, 2)"]),
    "broadcast_to": (lambda: z(3).broadcast_to((2, 4)), ValueError, ["broadcast_to", "(3,)", "(2, 4)"]),
    "permute dims": (lambda: z(2, 3).permute(0, 0), ValueError, ["permute", "(0, 0)", "(2, 3)"]),
    "transpose dims": (lambda: z(2, 3).transpose(0, 2), ValueError, ["transpose", "(0, 2)", "(2, 3)", "permute"]),
    "transpose of a permutation": (lambda: z(2, 3, 4).transpose(2, 0, 1), TypeError,
                                   ["transpose", "two dims", "permute(2, 0, 1)"]),
    "sum axis": (lambda: z(2, 3).sum(axis=2), ValueError, ["sum", "axis 2", "2 dimension"]),
    "squeeze": (lambda: z(2, 3).squeeze(dim=2), ValueError, ["squeeze", "axis 2", "2 dimension"]),
    "sum dim and axis": (lambda: z(2, 3).sum(dim=0, axis=1), TypeError, ["sum", "dim=0", "axis=1", "one"]),
    "var ddof and correction": (lambda: z(2, 3).var(ddof=0, correction=1), TypeError,
                                ["var", "correction=1", "ddof=0"]),
    "size dim": (lambda: z(2, 3).size(2), IndexError, ["size", "dim 2", "(2, 3)", "-2..1"]),
    "max over dims": (lambda: z(2, 3).max(dim=(0, 1)), TypeError, ["max", "(0, 1)", "amax"]),
    "topk k": (lambda: z(2, 3).topk(4), ValueError, ["topk", "k=4", "(2, 3)", "3 elements"]),
    "expand leading -1": (lambda: z(3).expand(-1, 3), ValueError, ["expand", "-1", "leading"]),
    "repeat counts": (lambda: z(2, 3).repeat(2), ValueError, ["repeat", "(2,)", "(2, 3)"]),
    "multinomial weights": (lambda: mt.multinomial(mt.tensor([0.5, -0.1]), 1), ValueError,
                            ["multinomial", "(2,)", ">= 0"]),
    "multinomial without replacement": (lambda: mt.multinomial(mt.tensor([0.5, 0.0, 0.5]), 3), ValueError,
                                        ["multinomial", "3 distinct", "2 of nonzero", "replacement=True"]),
    "getitem out of range": (lambda: z(2, 3)[5], IndexError, ["getitem", "5", "(2, 3)"]),
    "index_select id too large": (lambda: z(5, 3).index_select(0, [1, 5]), IndexError,
                          ["index_select", "index 5", "size 5", "0..4"]),
    "index_select negative id": (lambda: z(5, 3).index_select(0, [-1]), IndexError, ["index_select", "index -1", "negative"]),
    "index_select float ids": (lambda: z(5, 3).index_select(0, mt.tensor([1.0])), TypeError,
                               ["index_select", "integers", "float32"]),
    "backward non-scalar": (lambda: (z(2, 2, requires_grad=True) * 2).backward(), mt.GraphError,
                            ["(2, 2)", "gradient", "scalar"]),
    "backward gradient shape": (lambda: (z(2, requires_grad=True) * 2).backward(z(3)), ValueError,
                                ["(3,)", "(2,)"]),
    "backward twice": (_backward_twice, mt.GraphError, ["second time", "retain_graph=True"]),
    "backward without grad": (lambda: z(2).sum().backward(), mt.GraphError, ["does not require grad"]),
    "mixing backends": (lambda: mt.zeros(2, backend="numpy") * mt.Tensor(np.zeros(2, np.float32).view(DeviceArray)), TypeError,
                        ["Mul", "different backends", "numpy (2,)", "cupy (2,)", ".to("]),
    "integer requires grad": (lambda: mt.tensor([1, 2, 3], requires_grad=True), TypeError,
                              ["float", "int64", "(3,)"]),
    "item of many": (lambda: z(2, 2).item(), ValueError, ["item", "4 elements", "(2, 2)"]),
    "gelu approximate": (lambda: z(2).gelu(approximate="exact"), ValueError, ["gelu", "'exact'", "'tanh'"]),
    "split sections": (lambda: z(5).split([2, 2]), ValueError, ["split", "[2, 2]", "add up to 5", "(5,)"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_with_a_message_that_names_what_is_wrong(name):
    action, error, fragments = CASES[name]
    with pytest.raises(error) as info:
        action()
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message {message!r} lacks {missing}"


def test_a_failed_op_leaves_no_half_built_graph():
    x = mt.ones(2, 3, requires_grad=True)
    with pytest.raises(ValueError):
        x @ mt.ones(2, 3)
    (x * 2).sum().backward()               # the engine is still fine
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
