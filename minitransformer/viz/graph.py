"""draw_graph: the computational graph behind a tensor, as SVG or PNG.

Each op that made a tensor is a node (its Function's name, the shape and
dtype of what it returned); each leaf tensor (an input, a parameter) is a
node too; an edge runs from a node to every op that took its output.  The
drawing needs no system graphviz: nodes are laid out in layers by their
longest path from the leaves, left to right in the order they were met,
and the SVG is written here line by line (PNG goes through matplotlib).

Draw before ``backward()``: backward frees each op's inputs (the graph's
memory), after which the graph can no longer be walked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from ..autograd import Tensor

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 170, 44, 30, 50, 20


@dataclass
class GraphDrawing:
    """The graph of a computation: ``nodes``, ``edges`` (index pairs) and their layout."""

    nodes: list                    # one dict per node: kind ("op" or "leaf"), label, shape, dtype
    edges: list                    # (from, to) indices into nodes: a tensor flowing into an op
    positions: list = field(repr=False)   # (x, y) of each node's top-left corner

    @property
    def size(self) -> tuple:
        width = max(x for x, _ in self.positions) + NODE_W + MARGIN
        height = max(y for _, y in self.positions) + NODE_H + MARGIN
        return width, height

    @property
    def svg(self) -> str:
        width, height = self.size
        lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                 f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
                 '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                 'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
        for a, b in self.edges:   # from the bottom of a to the top of b
            (xa, ya), (xb, yb) = self.positions[a], self.positions[b]
            lines.append(f'<line class="edge" x1="{xa + NODE_W / 2}" y1="{ya + NODE_H}" x2="{xb + NODE_W / 2}" '
                         f'y2="{yb}" stroke="#555" marker-end="url(#arrow)"/>')
        for node, (x, y) in zip(self.nodes, self.positions):
            fill = "#dbe8fb" if node["kind"] == "op" else "#eeeeee"
            lines.append(f'<g class="node"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
                         f'fill="{fill}" stroke="#333"/>')
            for k, text in enumerate((node["label"], f'{node["shape"]} {node["dtype"]}')):
                lines.append(f'<text x="{x + NODE_W / 2}" y="{y + 17 + 15 * k}" text-anchor="middle">'
                             f'{escape(text)}</text>')
            lines.append("</g>")
        lines.append("</svg>")
        return "\n".join(lines) + "\n"

    def _repr_svg_(self) -> str:   # Jupyter shows the drawing inline
        return self.svg

    def save(self, path) -> None:
        """Write the drawing: SVG for a ``.svg`` path, PNG (through matplotlib) for ``.png``."""
        path = str(path)
        if path.endswith(".svg"):
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.svg)
        elif path.endswith(".png"):
            self._save_png(path)
        else:
            raise ValueError(f"draw_graph: cannot save {path!r}: give a path ending in .svg or .png")

    def _save_png(self, path: str) -> None:
        from matplotlib.figure import Figure   # noqa: PLC0415  (matplotlib only when a PNG is drawn)
        from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415

        width, height = self.size
        fig = Figure(figsize=(width / 100, height / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)   # y grows downwards, as in the SVG
        ax.axis("off")
        for a, b in self.edges:
            (xa, ya), (xb, yb) = self.positions[a], self.positions[b]
            ax.annotate("", xy=(xb + NODE_W / 2, yb), xytext=(xa + NODE_W / 2, ya + NODE_H),
                        arrowprops=dict(arrowstyle="->", color="#555"))
        for node, (x, y) in zip(self.nodes, self.positions):
            fill = "#dbe8fb" if node["kind"] == "op" else "#eeeeee"
            ax.add_patch(FancyBboxPatch((x, y), NODE_W, NODE_H, boxstyle="round,pad=0,rounding_size=6",
                                        facecolor=fill, edgecolor="#333"))
            ax.text(x + NODE_W / 2, y + NODE_H / 2, f'{node["label"]}\n{node["shape"]} {node["dtype"]}',
                    ha="center", va="center", family="monospace", fontsize=8)
        fig.savefig(path)


def _describe(t: Tensor, names: dict) -> dict:
    if t._ctx is None:
        label = names.get(id(t), "parameter" if t.requires_grad else "tensor")
        return dict(kind="leaf", label=label, shape=tuple(t.shape), dtype=str(t.dtype))
    return dict(kind="op", label=t._ctx.name, shape=tuple(t.shape), dtype=str(t.dtype))


def draw_graph(tensor: Tensor, path=None, names: dict | None = None) -> GraphDrawing:
    """The graph that computed ``tensor``, drawn; saved to ``path`` (.svg or .png) when given.

    ``names`` maps tensors to labels for the leaves, e.g.
    ``dict(model.named_parameters())`` or ``{"x": x}``.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a Tensor, got {type(tensor).__name__}")
    labels = {id(t): name for name, t in (names or {}).items()}
    index, nodes, edges, stack = {}, [], [], [tensor]
    index[id(tensor)] = 0
    nodes.append(_describe(tensor, labels))
    order = [tensor]
    while stack:   # depth first from the output; a tensor met twice is one node
        t = stack.pop()
        if t._ctx is None:
            continue
        if t._ctx.freed:
            raise RuntimeError(f"draw_graph: the graph of {t._ctx.name} was freed by backward(); "
                               "draw the graph before calling backward()")
        for parent in t._ctx.inputs:
            if parent is None:
                continue
            if id(parent) not in index:
                index[id(parent)] = len(nodes)
                nodes.append(_describe(parent, labels))
                order.append(parent)
                stack.append(parent)
            edges.append((index[id(parent)], index[id(t)]))
    # layer of a node: 0 for leaves, else one more than its deepest input; worked
    # out without recursion (a long chain of ops would exceed Python's stack)
    inputs_of = [[] for _ in nodes]
    for a, b in edges:
        inputs_of[b].append(a)
    layer, pending = {}, list(range(len(nodes)))
    while pending:
        i = pending[-1]
        if i in layer:
            pending.pop()
            continue
        missing = [a for a in inputs_of[i] if a not in layer]
        if missing:
            pending.extend(missing)
        else:
            layer[i] = 1 + max((layer[a] for a in inputs_of[i]), default=-1)
            pending.pop()
    slots, positions = {}, []
    for i in range(len(nodes)):
        column = slots.get(layer[i], 0)
        slots[layer[i]] = column + 1
        positions.append((MARGIN + column * (NODE_W + GAP_X), MARGIN + layer[i] * (NODE_H + GAP_Y)))
    drawing = GraphDrawing(nodes, edges, positions)
    if path is not None:
        drawing.save(path)
    return drawing
