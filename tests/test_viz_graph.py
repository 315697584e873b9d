"""mt.viz.draw_graph: the nodes, edges and drawings of a small computation."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minitransformer as mt

SVG = "{http://www.w3.org/2000/svg}"


def small_graph():
    a = mt.tensor(np.ones((2, 3)), requires_grad=True)
    b = mt.tensor(np.full((2, 3), 2.0), requires_grad=True)
    c = mt.tensor(np.zeros(3))
    return a, b, c, (a * b + c).sum()


def test_nodes_and_edges_of_a_small_graph():
    a, b, c, y = small_graph()
    g = mt.viz.draw_graph(y, names={"a": a, "b": b, "c": c})
    labels = [(n["kind"], n["label"], n["shape"], n["dtype"]) for n in g.nodes]
    assert sorted(labels) == sorted([
        ("op", "Sum", (), "float32"), ("op", "Add", (2, 3), "float32"), ("op", "Mul", (2, 3), "float32"),
        ("leaf", "a", (2, 3), "float32"), ("leaf", "b", (2, 3), "float32"), ("leaf", "c", (3,), "float32")])
    name = {i: n["label"] for i, n in enumerate(g.nodes)}
    assert sorted((name[s], name[t]) for s, t in g.edges) == sorted(
        [("Add", "Sum"), ("Mul", "Add"), ("c", "Add"), ("a", "Mul"), ("b", "Mul")])
    # the output is on the last layer, the leaves on the first ones: edges point downwards
    for s, t in g.edges:
        assert g.positions[s][1] < g.positions[t][1]


def test_the_svg_has_one_box_per_node_and_one_arrow_per_edge():
    *_, y = small_graph()
    g = mt.viz.draw_graph(y)
    root = ET.fromstring(g.svg)
    assert len(root.findall(f"{SVG}g/{SVG}rect")) == len(g.nodes) == 6
    assert len(root.findall(f"{SVG}line")) == len(g.edges) == 5
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Mul" in texts and "(2, 3) float32" in texts and "() float32" in texts
    assert g._repr_svg_() == g.svg


def test_a_tensor_used_twice_is_one_node_with_two_edges_out():
    x = mt.tensor(np.arange(3.0), requires_grad=True)
    h = x.exp()
    y = (h * h + h).sum()
    g = mt.viz.draw_graph(y, names={"x": x})
    (exp,) = [i for i, n in enumerate(g.nodes) if n["label"] == "Exp"]
    assert sorted(g.nodes[t]["label"] for s, t in g.edges if s == exp) == ["Add", "Mul", "Mul"]
    assert len(g.nodes) == 5 and len(g.edges) == 6


def test_labels_are_escaped(tmp_path):
    x = mt.tensor(np.ones(2), requires_grad=True)
    g = mt.viz.draw_graph((x * 2).sum(), names={"<x & y>": x})
    assert "&lt;x &amp; y&gt;" in g.svg
    ET.fromstring(g.svg)


def test_saving_svg_and_png(tmp_path):
    *_, y = small_graph()
    mt.viz.draw_graph(y, path=tmp_path / "g.svg")
    ET.parse(tmp_path / "g.svg")
    mt.viz.draw_graph(y).save(tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"draw_graph: cannot save .*g\.pdf.*\.svg or \.png"):
        mt.viz.draw_graph(y).save(tmp_path / "g.pdf")


def test_a_graph_freed_by_backward_cannot_be_drawn():
    *_, y = small_graph()
    y.backward()
    with pytest.raises(RuntimeError, match="the graph of Sum was freed by backward"):
        mt.viz.draw_graph(y)
    with pytest.raises(TypeError, match="expected a Tensor, got ndarray"):
        mt.viz.draw_graph(np.ones(2))


def test_a_long_chain_is_drawn_without_recursion():
    # deeper than Python's recursion limit: the layers are worked out iteratively
    x = mt.tensor(np.ones(2), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    g = mt.viz.draw_graph(y.sum(), names={"x": x})
    assert len(g.nodes) == 3002 and len(g.edges) == 3001
    depth = {n["label"]: g.positions[i][1] for i, n in enumerate(g.nodes) if n["label"] in ("x", "Sum")}
    assert depth["x"] < depth["Sum"]
