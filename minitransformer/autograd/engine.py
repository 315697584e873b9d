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
"""
from __future__ import annotations

from .. import parallel
from .grad_mode import no_grad


class GraphError(RuntimeError):
    """backward() cannot run on this graph (freed, or no gradient given)."""


def topological_order(root) -> list:
    """Tensors reachable from ``root`` that need a gradient, inputs before outputs."""
    order, visited = [], set()
    stack = [(root, False)]
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


def run_backward(root, grad, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) * grad into the ``.grad`` of every leaf."""
    order = topological_order(root)
    grads = {id(root): grad}
    order.reverse()
    with no_grad():  # hooks and user backward code must not grow the graph
        for i, node in enumerate(order):
            order[i] = None  # drop our reference: a processed activation can be freed
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._hooks:
                g = node._run_hooks(g)
            ctx = node._ctx
            if ctx is None or node._retains_grad:
                node._accumulate_grad(g)
            if ctx is None:
                continue
            input_grads = ctx.run_backward(g)
            for parent, parent_grad in zip(ctx.inputs, input_grads):
                if parent_grad is None or parent is None or not parent.requires_grad:
                    continue
                key = id(parent)
                if key in grads:
                    # out of place: an op may hand the same array to two inputs
                    grads[key] = parallel.add(grads[key], parent_grad)
                else:
                    grads[key] = parent_grad
            if not retain_graph:
                ctx.release()
