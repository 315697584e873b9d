"""PyTorch code in The Annotated Transformer's idioms runs with only its imports changed.

``annotated_style_model.py`` is an encoder-decoder written as that
tutorial's PyTorch code is (``x.std(-1, keepdim=True)``, ``torch.triu(...).type(torch.uint8)``,
``masked_fill(mask == 0, -1e9)``, ``view(...).transpose(1, 2)``,
``.contiguous()``, ``copy.deepcopy`` of modules, ``p.dim()``,
``torch.max(prob, dim=1)``, ``torch.cat(..., dim=1)``, ``.type_as``,
``.fill_``, ``torch.LongTensor``, ``register_buffer``).  The test runs the
same file under PyTorch, copies its weights into ours, and compares the
outputs, the gradients and a greedy decode.
"""
import pathlib

import numpy as np
import pytest

import minitransformer as mt

torch = pytest.importorskip("torch")

SOURCE = (pathlib.Path(__file__).parent / "annotated_style_model.py").read_text()
OURS = ("import minitransformer as torch\nimport minitransformer.nn as nn\n"
        "from minitransformer.functional import log_softmax\n")
THEIRS = "import torch\nimport torch.nn as nn\nfrom torch.nn.functional import log_softmax\n"
VOCAB = 13


def load(imports):
    assert SOURCE.startswith(OURS)
    namespace = {"__name__": "annotated_style_model"}
    exec(compile(imports + SOURCE[len(OURS):], "annotated_style_model.py", "exec"), namespace)
    return namespace


def twins():
    torch.manual_seed(0)
    theirs_ns, ours_ns = load(THEIRS), load(OURS)
    theirs = theirs_ns["Seq2Seq"](VOCAB).eval()
    ours = ours_ns["Seq2Seq"](VOCAB).eval()
    result = ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    return theirs_ns, theirs, ours_ns, ours


def test_the_file_differs_from_the_pytorch_code_only_in_its_imports():
    assert "minitransformer" not in SOURCE[len(OURS):]


def test_outputs_and_gradients_equal_pytorchs_on_the_same_weights():
    theirs_ns, theirs, ours_ns, ours = twins()
    src = [[1, 2, 3, 4, 5, 6, 7]]
    tgt = [[0, 3, 4, 5]]

    def run(ns, model, lib):
        s, t = lib.LongTensor(src), lib.LongTensor(tgt)
        mask = lib.ones(1, 1, len(src[0]))
        memory = model.encode(s, mask)
        out = model.generator(model.decode(memory, mask, t, ns["no_peeking"](t.size(1))))
        return out

    out_t, out_o = run(theirs_ns, theirs, torch), run(ours_ns, ours, mt)
    np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-5)
    weights = np.random.default_rng(0).standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_t * torch.from_numpy(weights)).sum().backward()
    (out_o * mt.tensor(weights)).sum().backward()
    grads_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        want = grads_t[name].grad.numpy()
        # the key projections' biases have a zero gradient (softmax ignores a shift): rounding only
        np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(want).max()),
                                   err_msg=name)


def test_greedy_decodes_are_identical():
    theirs_ns, theirs, ours_ns, ours = twins()
    for src in ([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], [[5, 5, 2]], [[12, 0, 7, 3, 3]]):
        with torch.no_grad(), mt.no_grad():
            ys_t = theirs_ns["greedy"](theirs, torch.LongTensor(src), 6)
            ys_o = ours_ns["greedy"](ours, mt.LongTensor(src), 6)
        assert ys_o.tolist() == ys_t.tolist()
