"""Module bookkeeping added for the Transformer layers: buffers (persistent or not),
attribute deletion, shared sub-modules, parameter counts in repr."""
import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("running", np.zeros(2, dtype=np.float32))
        self.register_buffer("table", np.ones(3, dtype=np.float32), persistent=False)


def test_persistent_and_non_persistent_buffers():
    m = WithBuffers()
    assert set(m.state_dict()) == {"lin.weight", "lin.bias", "running"}
    assert [n for n, _ in m.named_buffers()] == ["running", "table"]
    assert [n for n, _ in m.named_buffers(prefix="model")] == ["model.running", "model.table"]
    assert len(list(m.buffers())) == 2
    m.running = mt.tensor([1.0, 2.0])            # re-assigning keeps it a (persistent) buffer
    assert "running" in m.state_dict() and m.state_dict(keep_vars=True)["running"] is m.running
    m.table = mt.tensor([5.0])                   # ... and a non-persistent one stays out of state_dict
    assert "table" not in m.state_dict() and dict(m.named_buffers())["table"] is m.table
    other = WithBuffers()
    other.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(other.running.numpy(), [1.0, 2.0])


def test_delattr_unregisters():
    m = WithBuffers()
    del m.lin
    del m.running
    assert list(m.state_dict()) == [] and list(m.parameters()) == []
    assert not hasattr(m, "lin")
    with pytest.raises(AttributeError):
        del m.missing


def test_reassigning_a_parameter_name_to_a_plain_value_unregisters_it():
    lin = nn.Linear(2, 3)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin(mt.ones(1, 2)).shape == (1, 3)


def test_shared_submodule_counted_once_but_saved_under_both_names():
    emb = nn.Embedding(5, 2)
    model = nn.Sequential(emb, emb)
    assert model.num_parameters() == 10
    assert list(model.state_dict()) == ["0.weight", "1.weight"]


def test_positional_encoding_moves_with_to_and_is_not_saved():
    pe = nn.PositionalEncoding(4, max_len=10)
    assert pe.to("numpy") is pe and pe.pe.backend == "numpy"
    assert pe.state_dict() == {}


def test_repr_shows_parameter_counts_and_settings():
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, norm_first=True)
    text = repr(layer)
    assert text.startswith("TransformerEncoderLayer(norm_first=True, batch_first=False  # 600 parameters")
    assert "(dropout1): Dropout(p=0.1)" in text
    assert "LayerNorm((8,), eps=1e-05, elementwise_affine=True)  # 16 parameters" in text
    assert repr(nn.Embedding(10, 4, padding_idx=0)) == "Embedding(10, 4, padding_idx=0)  # 40 parameters"
