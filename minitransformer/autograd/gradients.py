"""``grad(outputs, inputs)``: gradients returned, not accumulated, as ``torch.autograd.grad``.

``loss.backward()`` adds the gradient to ``.grad`` of every leaf;
``grad(loss, [w, x])`` returns ``(dloss/dw, dloss/dx)`` and leaves every
``.grad`` alone, for any tensors of the graph (leaves or not).  With
``create_graph=True`` the returned gradients carry a graph of their own, so
they can be differentiated again::

    x = mt.tensor(2.0, requires_grad=True)
    y = x ** 3
    (dy,) = mt.grad(y, x, create_graph=True)   # 3 x^2 = 12, a Tensor with a graph
    (d2y,) = mt.grad(dy, x)                    # 6 x = 12
"""
from __future__ import annotations

from .engine import GraphError, run_backward
from .tensor import Tensor


def _as_tuple(x, what: str) -> tuple:
    items = (x,) if isinstance(x, Tensor) or x is None else tuple(x)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: {what}[{i}] must be a Tensor, got {type(t).__name__}")
    return items


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to each of ``inputs``, as a tuple of Tensors.

    ``outputs``: a Tensor or a sequence of them; ``grad_outputs``: one
    gradient per output (None for a one-element output, which gets 1), the
    "vector" of the vector-Jacobian product.  With ``create_graph`` the
    result is differentiable (the backward pass is recorded), and
    ``retain_graph``, which keeps the graph of ``outputs`` for another pass,
    defaults to it.  An input the outputs do not depend on is an error unless
    ``allow_unused``, which gives None for it.
    """
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs given for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise GraphError(
                f"grad: inputs[{i}] (shape {x.shape}) does not require grad, so no gradient "
                "flows to it; create it with requires_grad=True"
            )
    roots, starts = [], []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise GraphError(
                f"grad: outputs[{i}] (shape {out.shape}) does not require grad: no input of its "
                "computation had requires_grad=True, or it ran under no_grad()"
            )
        roots.append(out)
        starts.append(out._initial_grad(g, create_graph, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    found = run_backward(roots, starts, retain_graph=retain_graph, create_graph=create_graph,
                         capture=inputs)
    result = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None and not allow_unused:
            raise GraphError(
                f"grad: inputs[{i}] (shape {x.shape}) is not reached from the outputs: they do not "
                "depend on it (pass allow_unused=True to get None for it)"
            )
        result.append(g if g is None or isinstance(g, Tensor) else Tensor._from_op(g.copy(), None))
    return tuple(result)
