"""The project's founding model, PyTorch code that runs with only its imports changed.

``founding_model.py`` is the design document's one code example, verbatim
but for its first two lines (``import minitransformer as torch`` and
``import minitransformer.nn as nn``).  The test runs the same source under
PyTorch too, with PyTorch's import lines put back, copies PyTorch's weights
into ours through ``load_state_dict``, and compares the outputs, the
gradients of a loss and a greedy decode.
"""
import pathlib

import numpy as np
import pytest

import minitransformer as mt

torch = pytest.importorskip("torch")

SOURCE = (pathlib.Path(__file__).parent / "founding_model.py").read_text()
OURS_IMPORTS = "import minitransformer as torch\nimport minitransformer.nn as nn\n"
TORCH_IMPORTS = "import torch\nimport torch.nn as nn\n"
D_MODEL, NHEAD, LAYERS, TOKENS = 16, 2, 2, 23


def load(imports: str) -> dict:
    """Run the model's source with the given import lines; its classes by name."""
    assert SOURCE.startswith(OURS_IMPORTS)
    namespace = {"__name__": "founding_model"}
    exec(compile(imports + SOURCE[len(OURS_IMPORTS):], "founding_model.py", "exec"), namespace)
    return namespace


def test_the_file_differs_from_the_pytorch_code_only_in_its_imports():
    assert SOURCE.splitlines()[:2] == OURS_IMPORTS.splitlines()
    assert "minitransformer" not in SOURCE[len(OURS_IMPORTS):]


def twins(dtype: str):
    """The model under PyTorch and under minitransformer, with PyTorch's weights in both."""
    torch.manual_seed(0)
    with torch_default_dtype(getattr(torch, dtype)):
        theirs = load(TORCH_IMPORTS)["Transformer"](D_MODEL, NHEAD, LAYERS, TOKENS).eval()
    mt.set_default_dtype(dtype)
    try:
        ours = load(OURS_IMPORTS)["Transformer"](D_MODEL, NHEAD, LAYERS, TOKENS).eval()
    finally:
        mt.set_default_dtype("float32")
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)
    return theirs, ours


class torch_default_dtype:
    def __init__(self, dtype):
        self.dtype = dtype

    def __enter__(self):
        self.previous = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc):
        torch.set_default_dtype(self.previous)


def batch(seed=0, length=7, size=3):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, TOKENS, size=(length, size))      # (S, B): batch_first=False, as the model is written
    padding = np.zeros((size, length), dtype=bool)
    padding[1, -2:] = True                                  # the second sentence is two tokens shorter
    return src, padding


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("float64", 1e-10)])
def test_outputs_and_gradients_equal_pytorchs_on_the_same_weights(dtype, tolerance):
    theirs, ours = twins(dtype)
    src, padding = batch()
    mask_t = torch.nn.Transformer.generate_square_subsequent_mask(src.shape[0]).to(getattr(torch, dtype))
    mask_o = mt.nn.Transformer.generate_square_subsequent_mask(src.shape[0]).to(getattr(mt, dtype))
    out_t = theirs(torch.from_numpy(src), mask_t, torch.from_numpy(padding))
    out_o = ours(mt.tensor(src), mask_o, mt.tensor(padding))
    assert tuple(out_o.shape) == tuple(out_t.shape) == (src.shape[0], src.shape[1], TOKENS)
    np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), rtol=tolerance, atol=tolerance)

    weights = np.random.default_rng(1).standard_normal(out_t.shape)
    (out_t * torch.from_numpy(weights).to(out_t.dtype)).sum().backward()
    (out_o * mt.tensor(weights, dtype=dtype)).sum().backward()
    grads_t = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads_t[name].grad.numpy(), rtol=10 * tolerance,
                                   atol=10 * tolerance, err_msg=name)


def greedy(model, lib, start, steps):
    """Extend ``start`` (a list of ids) by the most likely next token, ``steps`` times (causal)."""
    ids = list(start)
    for _ in range(steps):
        src = lib.tensor([[i] for i in ids])                 # (S, 1)
        mask = (torch.nn if lib is torch else mt.nn).Transformer.generate_square_subsequent_mask(len(ids))
        logits = model(src, mask)
        ids.append(int(logits[-1, 0].argmax().item()))
    return ids


def test_greedy_decodes_are_identical():
    theirs, ours = twins("float32")
    with torch.no_grad(), mt.no_grad():
        for start in ([1, 5, 9], [3], [22, 0, 7, 7]):
            assert greedy(ours, mt, start, 8) == greedy(theirs, torch, start, 8)
