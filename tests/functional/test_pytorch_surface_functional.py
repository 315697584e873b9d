"""torch.nn.functional's calls run on the engine with only the import changed.

Each test calls a function the way PyTorch code does (PyTorch's argument
names, order, defaults and layouts) and compares values and gradients with
PyTorch's, in float64.  PyTorch is only a reference here.
"""
import warnings

import numpy as np
import pytest

import minitransformer as mt
import minitransformer.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TOL = dict(rtol=1e-10, atol=1e-12)


def T(data, dtype="float64", requires_grad=False):
    return mt.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=mt.get_backend())


def normal(shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def compare(arrays, ours_fn, torch_fn, seed=0, **tol):
    """Values of both, and the gradients of sum(out * v) for each float input that is not None."""
    tol = tol or TOL
    ours_in = [T(a, requires_grad=True) if _differentiable(a) else a for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=_differentiable(a)) if isinstance(a, np.ndarray) else a
                 for a in arrays]
    ours, theirs = ours_fn(*ours_in), torch_fn(*theirs_in)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **tol)
    v = normal(ours.shape, seed + 1)
    ours.backward(T(v))
    theirs.backward(torch.tensor(v))
    for i, (a, b) in enumerate(zip(ours_in, theirs_in)):
        if _differentiable(arrays[i]):
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), err_msg=f"gradient of input {i}", **tol)


def _differentiable(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


# ------------------------------------------------------------ scaled_dot_product_attention
QKV = [normal((2, 3, 4, 5), 1), normal((2, 3, 6, 5), 2), normal((2, 3, 6, 7), 3)]


def sdpa(**kw):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)


def torch_sdpa(**kw):
    return lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, **kw)


def test_sdpa_plain_and_scaled_matches_torch():
    compare(QKV, sdpa(), torch_sdpa())
    compare(QKV, sdpa(scale=0.3), torch_sdpa(scale=0.3))
    compare(QKV, lambda q, k, v: F.scaled_dot_product_attention(q, k, v, None, 0.0, False, scale=0.7),
            lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, None, 0.0, False, scale=0.7))


def test_sdpa_boolean_mask_is_true_where_attention_takes_part():
    mask = np.random.default_rng(0).random((4, 6)) < 0.6
    mask[:, 0] = True
    compare(QKV, sdpa(attn_mask=T(mask, dtype=bool)), torch_sdpa(attn_mask=torch.tensor(mask)))
    compare(QKV, sdpa(attn_mask=mask), torch_sdpa(attn_mask=torch.tensor(mask)))      # an array is fine too
    compare(QKV, sdpa(mask=mask), torch_sdpa(attn_mask=torch.tensor(mask)))           # the engine's keyword


def test_sdpa_float_mask_is_added_and_its_gradient_flows():
    bias = normal((3, 4, 6), 4)                       # broadcast over the batch: a per-head bias (ALiBi-like)
    bias[:, 1, 2:] = -np.inf
    compare(QKV + [bias], lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b),
            lambda q, k, v, b: TF.scaled_dot_product_attention(q, k, v, attn_mask=b))
    finite = normal((4, 6), 5)
    compare(QKV + [finite], lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b),
            lambda q, k, v, b: TF.scaled_dot_product_attention(q, k, v, attn_mask=b))


def test_sdpa_float32_mask_with_float64_query_is_cast_as_in_torch():
    bias = normal((4, 6), 6).astype(np.float32)
    compare(QKV, sdpa(attn_mask=T(bias, dtype="float32")), torch_sdpa(attn_mask=torch.tensor(bias)))


@pytest.mark.parametrize("shapes", [((1, 4, 3), (1, 6, 3)), ((2, 5, 3), (2, 5, 3)), ((6, 3), (4, 3))])
def test_sdpa_is_causal_is_the_lower_triangle_from_the_top_left(shapes):
    q_shape, k_shape = shapes
    arrays = [normal(q_shape, 1), normal(k_shape, 2), normal(k_shape, 3)]
    compare(arrays, sdpa(is_causal=True), torch_sdpa(is_causal=True))


def test_sdpa_is_causal_with_a_mask_is_refused_as_in_torch():
    q, k, v = (torch.tensor(a, requires_grad=True) for a in QKV)
    mask = np.ones((4, 6), dtype=bool)
    with pytest.raises(RuntimeError, match="should not be set when is_causal=True"):
        TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(mask), is_causal=True)
    for keyword in ("attn_mask", "mask"):
        with pytest.raises(ValueError, match="should not be given with is_causal=True"):
            F.scaled_dot_product_attention(*(T(a) for a in QKV), is_causal=True, **{keyword: mask})


def test_sdpa_fully_masked_rows_give_zeros_and_zero_gradients_as_torch_2_13():
    mask = np.ones((4, 6), dtype=bool)
    mask[2] = False
    compare(QKV, sdpa(attn_mask=mask), torch_sdpa(attn_mask=torch.tensor(mask)))
    out = F.scaled_dot_product_attention(*(T(a) for a in QKV), attn_mask=mask)
    assert np.all(out.numpy()[..., 2, :] == 0.0)
    bias = np.zeros((4, 6))
    bias[2] = -np.inf
    compare(QKV, sdpa(attn_mask=T(bias)), torch_sdpa(attn_mask=torch.tensor(bias)))


def test_sdpa_grouped_query_attention_matches_torch():
    arrays = [normal((2, 6, 4, 5), 1), normal((2, 2, 7, 5), 2), normal((2, 2, 7, 3), 3)]
    compare(arrays, sdpa(enable_gqa=True, is_causal=True), torch_sdpa(enable_gqa=True, is_causal=True))


def test_sdpa_dropout_is_seeded_and_switched_off_by_training_false():
    q, k, v = (T(a) for a in QKV)
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    mt.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    mt.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False).numpy(),
                                  plain)
    out, weights = F.scaled_dot_product_attention(q, k, v, return_weights=True)
    np.testing.assert_allclose(weights.numpy().sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), plain, rtol=1e-12)


def test_sdpa_bad_input_names_the_problem():
    q, k, v = (T(a) for a in QKV)
    mask = np.ones((4, 6), dtype=bool)
    with pytest.raises(TypeError, match="pass the mask once"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask, mask=mask)
    with pytest.raises(TypeError, match="boolean .* or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 6), dtype=np.int64))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(5, 6\) does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.zeros((5, 6)))
    with pytest.raises(TypeError, match="requires grad"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=T(np.zeros((4, 6)), dtype="float32", requires_grad=True))
    with pytest.raises(ValueError, match="multiple"):
        F.scaled_dot_product_attention(T(normal((1, 3, 4, 5))), T(normal((1, 2, 6, 5))), T(normal((1, 2, 6, 5))),
                                       enable_gqa=True)


# ------------------------------------------------------------ cross_entropy and the other losses
@pytest.mark.parametrize("shape", [(5,), (4, 5), (4, 5, 3), (2, 5, 3, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_takes_pytorchs_layout_and_defaults(shape, reduction, smoothing):
    rng = np.random.default_rng(len(shape))
    target = rng.integers(0, 5, shape[:1] + shape[2:] if len(shape) > 1 else ())
    if target.ndim:
        target.flat[0] = -100                         # ignored by default, as in PyTorch
    compare([normal(shape, 7, 3.0)],
            lambda x: F.cross_entropy(x, target, reduction=reduction, label_smoothing=smoothing),
            lambda x: TF.cross_entropy(x, torch.tensor(target), reduction=reduction, label_smoothing=smoothing))


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_with_class_weights_matches_torch(shape, reduction, smoothing):
    rng = np.random.default_rng(1)
    target = rng.integers(0, 5, shape[:1] + shape[2:])
    target.flat[1] = 2
    target.flat[0] = 2                                # an ignore_index other than -100
    weight = rng.random(5) + 0.1
    compare([normal(shape, 8, 2.0)],
            lambda x: F.cross_entropy(x, target, weight, ignore_index=2, reduction=reduction,
                                      label_smoothing=smoothing),
            lambda x: TF.cross_entropy(x, torch.tensor(target), torch.tensor(weight), ignore_index=2,
                                       reduction=reduction, label_smoothing=smoothing))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_with_class_probabilities_matches_torch_in_both_inputs(weighted, reduction):
    probs = np.random.default_rng(2).random((4, 5, 3))
    probs /= probs.sum(axis=1, keepdims=True)
    weight = np.linspace(0.5, 1.5, 5) if weighted else None
    compare([normal((4, 5, 3), 9), probs],
            lambda x, p: F.cross_entropy(x, p, weight, reduction=reduction, label_smoothing=0.1),
            lambda x, p: TF.cross_entropy(x, p, None if weight is None else torch.tensor(weight),
                                          reduction=reduction, label_smoothing=0.1))


def test_cross_entropy_fused_and_composed_agree_in_pytorchs_layout():
    target = np.random.default_rng(3).integers(0, 6, (3, 4))
    x1, x2 = T(normal((3, 6, 4), 1), requires_grad=True), T(normal((3, 6, 4), 1), requires_grad=True)
    a = F.cross_entropy(x1, target, label_smoothing=0.1)
    b = F.cross_entropy_composed(x2, target, label_smoothing=0.1)
    np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL)
    a.backward()
    b.backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), **TOL)


def test_cross_entropy_classes_last_logits_get_a_shape_error_with_the_fix():
    logits = T(normal((2, 3, 7)))                     # (B, T, V), classes last
    target = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=r"classes are at dim 1.*logits.reshape\(-1, C\)"):
        F.cross_entropy(logits, target)
    loss = F.cross_entropy(logits.reshape(-1, 7), target.reshape(-1))
    expected = TF.cross_entropy(torch.tensor(normal((2, 3, 7))).reshape(-1, 7), torch.tensor(target).reshape(-1))
    np.testing.assert_allclose(loss.item(), expected.item(), **TOL)


def test_cross_entropy_bad_input_names_the_problem():
    x = T(normal((4, 5)))
    with pytest.raises(TypeError, match="integer class ids or float class probabilities"):
        F.cross_entropy(x, np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match=r"weight must have one value per class, shape \(5,\)"):
        F.cross_entropy(x, np.zeros(4, dtype=np.int64), weight=np.ones(4))
    with pytest.raises(IndexError, match="target id 5 is out of range for logits with 5 classes"):
        F.cross_entropy(x, np.array([0, 5, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, np.zeros(4, dtype=np.int64), reduction="avg")


def test_size_average_and_reduce_map_to_reduction_with_a_warning_as_torch():
    x, target = normal((4, 5)), np.array([0, 1, 2, 3])
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning, match="deprecated"):
            ours = F.cross_entropy(T(x), target, size_average=size_average, reduce=reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = TF.cross_entropy(torch.tensor(x), torch.tensor(target), size_average=size_average,
                                      reduce=reduce)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), **TOL)


@pytest.mark.parametrize("shape", [(5,), (4, 5), (4, 5, 3)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_of_log_softmax_matches_torch(shape, weighted, reduction):
    rng = np.random.default_rng(4)
    target = rng.integers(0, 5, shape[:1] + shape[2:] if len(shape) > 1 else ())
    weight = rng.random(5) + 0.5 if weighted else None
    compare([normal(shape, 10)],
            lambda x: F.nll_loss(F.log_softmax(x, dim=-1 if x.ndim == 1 else 1), target, weight,
                                 reduction=reduction),
            lambda x: TF.nll_loss(TF.log_softmax(x, dim=-1 if x.ndim == 1 else 1), torch.tensor(target),
                                  None if weight is None else torch.tensor(weight), reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    compare([normal((3, 4), 1), normal((3, 4), 2)],
            lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction))


def test_mse_loss_warns_on_broadcasting_as_torch():
    with pytest.warns(UserWarning, match="broadcast"):
        F.mse_loss(T(normal((3, 4))), T(normal((4,))))


# ------------------------------------------------------------ activations and softmax
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_take_dim(dim):
    compare([normal((3, 4, 5), 1)], lambda x: F.softmax(x, dim=dim), lambda x: TF.softmax(x, dim=dim))
    compare([normal((3, 4, 5), 2)], lambda x: F.log_softmax(x, dim), lambda x: TF.log_softmax(x, dim))
    compare([normal((3, 4, 5), 3)], lambda x: F.softmax(x, axis=dim), lambda x: TF.softmax(x, dim=dim))


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_without_dim_follows_torchs_implicit_choice_and_warns(shape):
    x = normal(shape, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        ours = F.softmax(T(x)).numpy()
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        ours_log = F.log_softmax(T(x)).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(ours, TF.softmax(torch.tensor(x)).numpy(), **TOL)
        np.testing.assert_allclose(ours_log, TF.log_softmax(torch.tensor(x)).numpy(), **TOL)


def test_softmax_dtype_casts_the_input_first_and_dim_axis_conflict_is_refused():
    x = normal((3, 4), 5).astype(np.float32)
    out = F.softmax(T(x, dtype="float32"), dim=-1, dtype="float64")
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), TF.softmax(torch.tensor(x), dim=-1, dtype=torch.float64).numpy(),
                               rtol=1e-12)
    with pytest.raises(TypeError, match="requires grad"):
        F.softmax(T(x, dtype="float32", requires_grad=True), dim=-1, dtype="float64")
    with pytest.raises(TypeError, match="dim=0 and axis=1"):
        F.softmax(T(x), dim=0, axis=1)


def test_gelu_is_exact_by_default_as_torch():
    x = normal((4, 6), 6, 2.0)
    compare([x], F.gelu, TF.gelu)
    compare([x], lambda t: F.gelu(t, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh"))
    compare([x], lambda t: mt.gelu(t), lambda t: TF.gelu(t))            # the engine's op: the same default
    exact, tanh_form = F.gelu(T(x)).numpy(), F.gelu(T(x), approximate="tanh").numpy()
    assert 0 < np.abs(exact - tanh_form).max() < 1e-2


def test_relu_tanh_sigmoid_take_pytorchs_arguments():
    x = normal((3, 4), 7)
    compare([x], F.relu, TF.relu)
    compare([x], lambda t: F.relu(t, inplace=True), lambda t: TF.relu(t * 1.0, inplace=True))
    compare([x], F.tanh, torch.tanh)
    compare([x], F.sigmoid, torch.sigmoid)


# ------------------------------------------------------------ the layers' functions, by PyTorch's names
def test_linear_layer_norm_embedding_take_pytorchs_argument_names():
    x, w, b = normal((2, 3, 4), 1), normal((5, 4), 2), normal((5,), 3)
    compare([x, w, b], lambda i, w_, b_: F.linear(input=i, weight=w_, bias=b_),
            lambda i, w_, b_: TF.linear(input=i, weight=w_, bias=b_))
    g, h = normal((3, 4), 4), normal((3, 4), 5)
    compare([x, g, h], lambda i, w_, b_: F.layer_norm(input=i, normalized_shape=(3, 4), weight=w_, bias=b_, eps=1e-6),
            lambda i, w_, b_: TF.layer_norm(input=i, normalized_shape=(3, 4), weight=w_, bias=b_, eps=1e-6))
    ids = np.array([[1, 4, 0], [4, 4, 2]])
    compare([normal((5, 3), 6)], lambda t: F.embedding(input=ids, weight=t, padding_idx=-1),
            lambda t: TF.embedding(input=torch.tensor(ids), weight=t, padding_idx=-1))
    with pytest.raises(ValueError, match="max_norm"):
        F.embedding(ids, T(normal((5, 3))), max_norm=1.0)


def test_dropout_takes_pytorchs_arguments():
    x = T(np.ones((50, 40)))
    mt.manual_seed(0)
    y = F.dropout(input=x, p=0.25, training=True, inplace=False).numpy()
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.03
    assert F.dropout(x, 0.25, False) is x
    np.testing.assert_array_equal(F.dropout(x, p=1.0).numpy(), TF.dropout(torch.ones(50, 40), p=1.0).numpy())
