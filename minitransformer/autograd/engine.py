"""The backward pass: walk the graph in reverse topological order.

Every tensor made by an op remembers the op's context (``tensor._ctx``), and
the context remembers the op's input tensors.  ``backward`` therefore

1. lists the tensors the root depends on so that each comes after all the
   tensors computed from it (a topological order, found with an explicit
   stack so that a 10,000-op chain does not hit Python's recursion limit);
2. walks that list from the root, calling each op's ``backward`` with the
   gradient that has arrived at its output, and adds the gradients it returns
   to those of the op's inputs (a tensor used twice receives both);
3. stores the gradient of each leaf tensor (one the user made, with
   ``requires_grad=True``) in its ``.grad``, adding to what is there.

Gradients travel as raw backend arrays; only ``.grad`` and hooks see Tensors.

Higher-order gradients (``create_graph=True``).  The same walk can carry the
gradients as Tensors instead, calling each op's ``backward`` on Tensors under
``enable_grad``: every multiplication and sum of the backward pass is then an
op of the graph, so the gradient it produces has a graph of its own and can be
differentiated again -- d/dx of (dy/dx) is the backward pass of the backward
pass.  ``grad(outputs, inputs)`` runs either walk and returns the gradients of
the ``inputs`` instead of adding them to ``.grad``.
"""
from __future__ import annotations

from ..backend import backend_of
from ..backend.fast import find_fast_version
from .grad_mode import enable_grad, no_grad


class GraphError(RuntimeError):
    """backward() cannot run on this graph (freed, or no gradient given)."""


def topological_order(roots) -> list:
    """Tensors reachable from ``roots`` (a tensor or a list) that need a gradient, inputs before outputs."""
    if not isinstance(roots, (list, tuple)):
        roots = [roots]
    order, visited = [], set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is None:
            continue
        if ctx.freed:
            raise GraphError(
                f"backward through the graph a second time: the values saved by "
                f"{ctx.name} were freed after the first backward. Pass "
                "retain_graph=True to the first backward() to keep them."
            )
        for parent in ctx.inputs:
            if parent is not None and parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def run_backward(roots, grads, retain_graph: bool = False, create_graph: bool = False,
                 capture=None):
    """Propagate ``grads`` (one per root) back through the graph.

    Without ``capture``, add d(root)/d(leaf) * grad to the ``.grad`` of every
    leaf (and of the tensors that called ``retain_grad``).  With ``capture``
    (a list of tensors), touch no ``.grad`` and return a dict from ``id(t)``
    to the gradient of each captured tensor ``t`` that was reached.

    Gradients are arrays, or Tensors with a graph of their own if
    ``create_graph``.
    """
    if not isinstance(roots, (list, tuple)):
        roots, grads = [roots], [grads]
    order = topological_order(roots)
    pending = {}
    for root, g in zip(roots, grads):
        key = id(root)
        pending[key] = _add(pending[key], g, create_graph) if key in pending else g
    wanted = None if capture is None else {id(t) for t in capture}
    captured = {}
    order.reverse()
    # the array pass records nothing (hooks and user backward code must not grow
    # the graph); the graph pass records everything
    with enable_grad() if create_graph else no_grad():
        for i, node in enumerate(order):
            order[i] = None  # drop our reference: a processed activation can be freed
            g = pending.pop(id(node), None)
            if g is None:
                continue
            if node._hooks:
                g = node._run_hooks(g)
            ctx = node._ctx
            if wanted is not None:
                if id(node) in wanted:
                    captured[id(node)] = g
            elif ctx is None or node._retains_grad:
                node._accumulate_grad(g)
            if ctx is None:
                continue
            input_grads = ctx.run_backward(g, output=node, create_graph=create_graph)
            for parent, parent_grad in zip(ctx.inputs, input_grads):
                if parent_grad is None or parent is None or not parent.requires_grad:
                    continue
                key = id(parent)
                if key in pending:
                    pending[key] = _add(pending[key], parent_grad, create_graph)
                else:
                    pending[key] = parent_grad
            if not retain_graph:
                ctx.release()
    return captured


def sum_of_gradients(a, b):
    """The gradient of a tensor used twice: the sum of the two that arrive.

    Out of place: an op may hand the same array to two inputs.  (The backend
    may have a fast version of this routine: blocks of rows over threads.)
    """
    return a + b


def _add(a, b, create_graph):
    if create_graph:
        return a + b
    fast = find_fast_version("minitransformer.autograd.engine.sum_of_gradients", backend_of(a))
    return (fast or sum_of_gradients)(a, b)
