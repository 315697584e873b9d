"""nn.init: bounds, moments and fans of each initializer; layers' default inits."""
import math

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn
from minitransformer.nn import init


def _param(*shape):
    return nn.Parameter(np.zeros(shape))


def test_uniform_and_normal_moments_and_dtype():
    p = init.uniform_(_param(200, 300), -2.0, 3.0)
    assert p.dtype == np.float32
    assert p.numpy().min() >= -2.0 and p.numpy().max() < 3.0
    assert abs(p.numpy().mean() - 0.5) < 0.02
    q = init.normal_(_param(200, 300), mean=1.0, std=0.5)
    assert abs(q.numpy().mean() - 1.0) < 0.01 and abs(q.numpy().std() - 0.5) < 0.01


def test_xavier_uniform_bound_and_std():
    p = init.xavier_uniform_(_param(300, 100))       # fan_in 100, fan_out 300
    bound = math.sqrt(6.0 / 400)
    assert np.abs(p.numpy()).max() <= bound
    assert np.abs(p.numpy()).max() > 0.98 * bound
    assert abs(p.numpy().std() - bound / math.sqrt(3)) < 0.02 * bound
    q = init.xavier_normal_(_param(300, 100), gain=2.0)
    assert abs(q.numpy().std() - 2.0 * math.sqrt(2.0 / 400)) < 0.01


def test_kaiming_uniform_with_a_sqrt5_is_one_over_sqrt_fan_in():
    p = init.kaiming_uniform_(_param(64, 400), a=math.sqrt(5))
    assert np.abs(p.numpy()).max() <= 1 / 20 and np.abs(p.numpy()).max() > 0.98 / 20
    q = init.kaiming_normal_(_param(400, 200), nonlinearity="relu")
    assert abs(q.numpy().std() - math.sqrt(2 / 200)) < 0.003
    r = init.kaiming_normal_(_param(400, 200), mode="fan_out", nonlinearity="relu")
    assert abs(r.numpy().std() - math.sqrt(2 / 400)) < 0.003


def test_constants_and_trunc_normal():
    assert (init.zeros_(_param(3)).numpy() == 0).all()
    assert (init.ones_(_param(3)).numpy() == 1).all()
    assert (init.constant_(_param(2, 2), 0.25).numpy() == 0.25).all()
    t = init.trunc_normal_(_param(1000), std=1.0, a=-1.0, b=1.0)
    assert t.numpy().min() >= -1.0 and t.numpy().max() <= 1.0 and t.numpy().std() > 0.4


def test_seeded_and_reproducible():
    mt.manual_seed(5)
    a = init.xavier_uniform_(_param(4, 4)).numpy()
    mt.manual_seed(5)
    b = init.xavier_uniform_(_param(4, 4)).numpy()
    np.testing.assert_array_equal(a, b)


def test_errors():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(_param(5))
    with pytest.raises(TypeError, match="float"):
        init.normal_(mt.tensor([1, 2]))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(_param(2, 2), mode="fan")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("swish")
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


def test_linear_default_init_matches_pytorch_bounds():
    lin = nn.Linear(100, 50)
    assert np.abs(lin.weight.numpy()).max() <= 0.1 and np.abs(lin.weight.numpy()).max() > 0.09
    assert np.abs(lin.bias.numpy()).max() <= 0.1


def test_embedding_init_is_standard_normal_with_zero_padding_row():
    emb = nn.Embedding(500, 64, padding_idx=3)
    assert (emb.weight.numpy()[3] == 0).all()
    assert abs(emb.weight.numpy().std() - 1.0) < 0.02


def test_translator_xavier_reinit_covers_matrices_only():
    model = nn.TransformerTranslator(50, 60, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                     dim_feedforward=32)
    emb = model.src_embed.weight.numpy()
    bound = math.sqrt(6.0 / (50 + 16))
    assert np.abs(emb).max() <= bound                      # Xavier, not N(0, 1)
    assert (emb[0] == 0).all()                             # padding row zeroed again
    w = model.encoder.layers[0].linear1.weight.numpy()        # (32, 16)
    assert np.abs(w).max() <= math.sqrt(6.0 / 48)
    assert (model.encoder.layers[0].norm1.weight.numpy() == 1).all()
    # the q, k, v blocks of the packed (48, 16) projection: each drawn as a 16 x 16 matrix, as three Linears
    packed = model.decoder.layers[0].multihead_attn.in_proj_weight.numpy()
    for block in np.split(packed, 3):
        assert math.sqrt(6.0 / (16 + 48)) < np.abs(block).max() <= math.sqrt(6.0 / 32)


def test_pytorch_transformer_redraws_matrices_and_clones_layers():
    """nn.Transformer: Xavier uniform for every >1-D parameter (as PyTorch's _reset_parameters);
    the stacked layers are deep copies, so their biases start equal and are separate Parameters."""
    model = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=32)
    first, second = model.encoder.layers
    w = first.linear1.weight.numpy()
    assert np.abs(w).max() <= math.sqrt(6.0 / 48) and np.abs(w).max() > 0.8 * math.sqrt(6.0 / 48)
    assert not np.array_equal(w, second.linear1.weight.numpy())          # re-drawn after the copies
    np.testing.assert_array_equal(first.linear1.bias.numpy(), second.linear1.bias.numpy())
    assert first.linear1.bias is not second.linear1.bias
    assert (first.self_attn.in_proj_bias.numpy() == 0).all()
    assert isinstance(model.encoder.norm, nn.LayerNorm) and isinstance(model.decoder.norm, nn.LayerNorm)


def test_module_apply_reinitializes_every_linear():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.1), nn.Linear(4, 2))
    seen = []

    def zero_linear(m):
        seen.append(type(m).__name__)
        if isinstance(m, nn.Linear):
            init.zeros_(m.weight)

    assert model.apply(zero_linear) is model
    assert seen == ["Linear", "Dropout", "Linear", "Sequential"]
    assert all((m.weight.numpy() == 0).all() for m in model if isinstance(m, nn.Linear))
