"""Encoder/decoder layers and the engine's models (TransformerTranslator, the language models): gradients,
masks and padding, weight sharing, configs, edge cases and errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer import nn

TINY = dict(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, dropout=0.0)


def tiny(**kw):
    return nn.TransformerTranslator(11, 11, **{**TINY, **kw})


def random_ids(rng, batch, length, vocab=11, pad_lengths=None):
    """Ids in 1..vocab-1, with row b padded (id 0) after pad_lengths[b] tokens."""
    ids = rng.integers(1, vocab, size=(batch, length))
    for b, n in enumerate(pad_lengths or []):
        ids[b, n:] = 0
    return ids


def masked_logits(model, src, tgt):
    """Logits with padded target positions zeroed: the padding rows of the embeddings
    then have no influence at all, so finite differences agree with their zero gradient."""
    return model(src, tgt) * mt.tensor((tgt != 0)[..., None].astype(np.float64))


def perturb(model, std=0.3):
    """Move LayerNorms and biases off their (1, 0) init so that their gradients are generic."""
    for name, p in model.named_parameters():
        if p.ndim == 1:
            p.data += std * mt.randn(*p.shape, dtype=p.dtype).data


# ---------------------------------------------------------------- gradients
def test_gradcheck_full_translator_one_parameter_per_kind():
    rng = np.random.default_rng(0)
    with mt.set_default_dtype("float64"):
        model = tiny()
        perturb(model)
        src = random_ids(rng, 2, 4, pad_lengths=[4, 2])
        tgt = random_ids(rng, 2, 3, pad_lengths=[3, 2])
        enc, dec = model.encoder.layers[0], model.decoder.layers[0]
        params = [model.src_embed.weight, model.tgt_embed.weight, enc.self_attn.in_proj_weight,
                  enc.linear2.bias, enc.norm1.bias, dec.self_attn.in_proj_bias,
                  dec.multihead_attn.in_proj_weight, dec.linear1.weight, dec.norm3.weight,
                  model.output_proj.weight, model.output_proj.bias]
        assert mt.gradcheck(lambda *_: masked_logits(model, src, tgt), params)


@settings(max_examples=6, deadline=None)
@given(norm_first=st.booleans(), tie_output=st.booleans(), batch=st.integers(1, 2),
       src_len=st.integers(1, 4), tgt_len=st.integers(1, 3), seed=st.integers(0, 1000))
def test_gradcheck_translator_variants(norm_first, tie_output, batch, src_len, tgt_len, seed):
    rng = np.random.default_rng(seed)
    with mt.set_default_dtype("float64"):
        model = tiny(norm_first=norm_first, tie_output=tie_output, share_embeddings=True)
        perturb(model)
        src = random_ids(rng, batch, src_len, pad_lengths=list(rng.integers(1, src_len + 1, size=batch)))
        tgt = random_ids(rng, batch, tgt_len, pad_lengths=list(rng.integers(1, tgt_len + 1, size=batch)))
        dec = model.decoder.layers[0]
        params = [dec.multihead_attn.out_proj.bias, dec.norm2.weight, model.encoder.layers[0].linear1.bias]
        params.append(model.decoder.norm.bias if norm_first else model.encoder.layers[0].norm2.weight)
        if not tie_output:
            params.append(model.output_proj.bias)
        assert mt.gradcheck(lambda *_: masked_logits(model, src, tgt), params)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_layers_with_inputs(norm_first):
    rng = np.random.default_rng(1)
    with mt.set_default_dtype("float64"):
        enc = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first, batch_first=True)
        dec = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first, activation="gelu",
                                         batch_first=True)
        perturb(enc)
        perturb(dec)
        x = mt.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
        mem = mt.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
        x_padding = np.array([[False, False, True], [False, False, False]])       # True at padding
        padding = np.array([[False, True], [False, False]])
        assert mt.gradcheck(lambda *_: enc(x, src_key_padding_mask=x_padding),
                            [x, enc.self_attn.in_proj_weight, enc.linear2.weight, enc.norm2.bias])
        causal = nn.Transformer.generate_square_subsequent_mask(3)
        assert mt.gradcheck(lambda *_: dec(x, mem, causal, memory_key_padding_mask=padding),
                            [x, mem, dec.multihead_attn.in_proj_weight, dec.self_attn.out_proj.weight, dec.norm1.weight])


def test_gradcheck_language_models():
    rng = np.random.default_rng(2)
    with mt.set_default_dtype("float64"):
        lm = nn.TransformerLM(11, 8, 2, 1, 16, dropout=0.0, pad_id=0)
        perturb(lm)
        ids = random_ids(rng, 2, 4, pad_lengths=[4, 3])
        keep = mt.tensor((ids != 0)[..., None].astype(np.float64))
        layer = lm.encoder.layers[0]
        assert mt.gradcheck(lambda *_: lm(ids) * keep,
                            [lm.embed.weight, layer.self_attn.in_proj_weight, layer.norm1.weight, lm.output_proj.bias])
        tut = nn.TransformerEncoderModel(11, 8, 2, 16, 1, dropout=0.0)
        perturb(tut)
        mask = tut.generate_square_subsequent_mask(4)
        assert mt.gradcheck(lambda *_: tut(ids, mask),
                            [tut.embedding.weight, tut.transformer_encoder.layers[0].linear1.weight, tut.linear.bias])


# ---------------------------------------------------------------- masks and padding
def test_padding_does_not_change_real_positions():
    """Appending padding to the source or the target leaves the logits of real positions unchanged."""
    rng = np.random.default_rng(6)
    with mt.set_default_dtype("float64"):
        model = tiny(num_encoder_layers=2)
        src, tgt = random_ids(rng, 1, 3), random_ids(rng, 1, 4)
        base = model(src, tgt).numpy()
        padded = model(np.pad(src, ((0, 0), (0, 3))), np.pad(tgt, ((0, 0), (0, 2)))).numpy()
        np.testing.assert_allclose(padded[:, :4], base, atol=1e-10)


def test_causal_target_mask():
    """Changing a later target token leaves the earlier positions' logits unchanged."""
    rng = np.random.default_rng(7)
    model = tiny()
    src, tgt = random_ids(rng, 2, 4), random_ids(rng, 2, 5)
    other = tgt.copy()
    other[:, 3] = (other[:, 3] % 10) + 1
    a, b = model(src, tgt).numpy(), model(src, other).numpy()
    np.testing.assert_array_equal(a[:, :3], b[:, :3])
    assert not np.allclose(a[:, 3:], b[:, 3:])
    padding = model.make_tgt_key_padding_mask(np.array([[5, 6, 0]])).numpy()
    np.testing.assert_array_equal(padding, [[False, False, True]])          # PyTorch's: True at padding
    assert model.make_src_key_padding_mask(np.array([[0, 3]])).numpy().tolist() == [[True, False]]
    assert tiny(pad_id=None).make_src_key_padding_mask(np.array([[0, 3]])) is None


def test_edge_cases_length_one_batch_one_and_fully_padded_source():
    model = tiny()
    assert model(np.array([[4]]), np.array([[2]])).shape == (1, 1, 11)
    src = np.array([[0, 0, 0], [3, 4, 0]])   # row 0 entirely padding
    tgt = np.array([[1, 2], [1, 5]])
    out = model(src, tgt)
    assert np.isfinite(out.numpy()).all()
    out.sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is None or np.isfinite(p.grad.numpy()).all(), name


def test_input_errors_name_the_problem():
    model = tiny(max_len=6)
    ok = np.array([[1, 2]])
    with pytest.raises(TypeError, match=r"src_ids must hold integer.*float64"):
        model(np.array([[1.0, 2.0]]), ok)
    with pytest.raises(TypeError, match="tgt_ids"):
        model(ok, mt.tensor([[1.0, 2.0]]))
    with pytest.raises(IndexError, match="token id 11 is out of range"):
        model(np.array([[1, 11]]), ok)
    with pytest.raises(ValueError, match=r"L=7.*max_len=6"):
        model(np.ones((1, 7), dtype=np.int64), ok)
    with pytest.raises(ValueError, match=r"\(0, 3\)"):
        model(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(1, 0\)"):
        model(ok, np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        model(np.array([1, 2]), ok)
    with pytest.raises(ValueError, match="batch size"):
        model(np.ones((2, 3), dtype=np.int64), ok)
    with pytest.raises(TypeError, match="TransformerLM: ids"):
        nn.TransformerLM(11, 8, 2, 1, 16)(np.array([[0.5]]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_model=10, nhead=3), "d_model=10 is not divisible by nhead=3"),
    (dict(share_embeddings=True, tgt_vocab_size=12), "share_embeddings needs equal"),
    (dict(pad_id=11), "pad_id"),
    (dict(num_encoder_layers=0), "num_encoder_layers"),
    (dict(dropout=1.5), "TransformerTranslator: dropout"),
    (dict(activation="tanh"), "activation"),
])
def test_constructor_errors(kwargs, match):
    args = {"src_vocab_size": 11, "tgt_vocab_size": 11, **TINY, **kwargs}
    with pytest.raises(ValueError, match=match):
        nn.TransformerTranslator(**args)


# ---------------------------------------------------------------- sharing, config, state
def test_shared_and_tied_weights_accumulate_into_one_parameter():
    model = tiny(share_embeddings=True, tie_output=True)
    assert model.src_embed is model.tgt_embed and model.output_proj is None
    names = [n for n, _ in model.named_parameters()]
    assert names.count("src_embed.weight") == 1 and "tgt_embed.weight" not in names
    assert "tgt_embed.weight" in model.state_dict()
    untied = tiny()
    assert untied.num_parameters() - model.num_parameters() == 11 * 8 + (11 * 8 + 11)
    src, tgt = np.array([[3, 4]]), np.array([[5, 6]])
    model(src, tgt).sum().backward()
    g = model.src_embed.weight.grad.numpy()
    assert np.abs(g[7:]).sum() > 0  # rows 7..10 are no input token: gradient from the output projection
    # the source lookup, the target lookup and the output projection all add into the one table
    rng = np.random.default_rng(8)
    with mt.set_default_dtype("float64"):
        model = tiny(share_embeddings=True, tie_output=True)
        src = random_ids(rng, 2, 3, pad_lengths=[3, 1])
        tgt = random_ids(rng, 2, 3, pad_lengths=[3, 2])
        assert mt.gradcheck(lambda *_: masked_logits(model, src, tgt), [model.src_embed.weight])


def test_config_round_trip_and_state_dict():
    model = tiny(norm_first=True, tie_output=True)
    config = model.get_config()
    assert config["norm_first"] is True and config["d_model"] == 8 and config["tie_output"] is True
    config["d_model"] = 99
    assert model.config["d_model"] == 8        # get_config returns a copy
    clone = nn.TransformerTranslator.from_config(model.get_config())
    src, tgt = np.array([[3, 4, 0]]), np.array([[1, 2]])
    assert not np.allclose(clone(src, tgt).numpy(), model(src, tgt).numpy())
    assert clone.load_state_dict(model.state_dict()) == ([], [])     # (missing_keys, unexpected_keys)
    np.testing.assert_array_equal(clone(src, tgt).numpy(), model(src, tgt).numpy())
    lm = nn.TransformerLM(11, 8, 2, 1, 16)
    assert nn.TransformerLM.from_config(lm.get_config()).num_parameters() == lm.num_parameters()


def test_strict_load_lists_missing_unexpected_and_mismatched():
    model = tiny()
    state = dict(model.state_dict())
    state.pop("encoder.layers.0.norm1.weight")
    state["extra.weight"] = np.zeros(3)
    state["output_proj.bias"] = np.zeros(12)
    with pytest.raises(nn.StateDictError) as info:
        model.load_state_dict(state)
    msg = str(info.value)
    assert "missing keys: encoder.layers.0.norm1.weight" in msg
    assert "unexpected keys: extra.weight" in msg
    assert "output_proj.bias: checkpoint (12,) vs model (11,)" in msg
    state["output_proj.bias"] = np.zeros(11)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["encoder.layers.0.norm1.weight"] and result.unexpected_keys == ["extra.weight"]
    assert (model.output_proj.bias.numpy() == 0).all()


def test_num_parameters_and_repr_counts():
    model = tiny()
    d, f, v = 8, 16, 11
    mha, ff, ln = 4 * (d * d + d), d * f + f + f * d + d, 2 * d
    expected = 2 * v * d + (mha + ff + 2 * ln) + (2 * mha + ff + 3 * ln) + d * v + v
    assert model.num_parameters() == expected == 1779
    text = repr(model)
    assert "TransformerTranslator(" in text and "# 1,779 parameters" in text
    assert "(self_attn): MultiheadAttention(embed_dim=8, num_heads=2, dropout=0.0, batch_first=True" in text
    assert "# 288 parameters" in text
    assert "Linear(in_features=8, out_features=16, bias=True)  # 144 parameters" in text


def test_train_eval_toggles_dropout_everywhere():
    model = tiny(dropout=0.3)
    src, tgt = np.array([[3, 4, 5]]), np.array([[1, 2, 6]])
    model.eval()
    assert not any(m.training for m in model.modules())
    np.testing.assert_array_equal(model(src, tgt).numpy(), model(src, tgt).numpy())
    model.train()
    assert all(m.training for m in model.modules())
    assert not np.allclose(model(src, tgt).numpy(), model(src, tgt).numpy())


def test_stacks_hold_deep_copies_and_an_optional_norm():
    layer = nn.TransformerDecoderLayer(8, 2, 16, 0.0, norm_first=True, batch_first=True)
    stack = nn.TransformerDecoder(layer, 3, norm=nn.LayerNorm(8))
    assert len(stack.layers) == 3 and stack.num_layers == 3 and isinstance(stack.norm, nn.LayerNorm)
    assert stack.layers[0] is not stack.layers[1] and stack.layers[0] is not layer
    assert stack.layers[0].linear1.weight is not layer.linear1.weight
    np.testing.assert_array_equal(stack.layers[2].linear1.weight.numpy(), layer.linear1.weight.numpy())
    x, mem = mt.randn(2, 3, 8), mt.randn(2, 4, 8)
    assert stack(x, mem).shape == (2, 3, 8)
    assert nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2).norm is None
    assert tiny(norm_first=False).encoder.norm is None and tiny(norm_first=True).decoder.norm is not None
    with pytest.raises(ValueError, match="TransformerEncoder: num_layers"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 0)
    with pytest.raises(TypeError, match="must be a Module"):
        nn.TransformerEncoder(lambda: None, 2)


def test_translator_keeps_float32_throughout():
    model = tiny()
    logits = model(np.array([[3, 4, 0]]), np.array([[1, 2]]))
    assert logits.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.pos_encoding.pe.dtype == np.float32
