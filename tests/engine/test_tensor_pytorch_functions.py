"""Tensor's shape and reduction methods mean what they mean in PyTorch, and the functions PyTorch code needs exist.

Each case runs the same call in both libraries on the same float64 values
and compares the results and, where the op is differentiable, the gradients
of ``sum(out * w)`` for a random ``w``.  Second derivatives of the new ops
come through their OpSpecs (tests/engine/test_registry.py); the composed
functions are checked here with ``mt.gradgradcheck``.
"""
import math

import numpy as np
import pytest

import minitransformer as mt

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(26)


def values(*shape, distinct=True):
    """float64 values; distinct ones (no ties) unless asked otherwise."""
    n = math.prod(shape)
    if distinct:
        return RNG.permutation(np.linspace(-3.0, 3.0, n)).reshape(shape) if n > 1 else np.full(shape, 0.7)
    return RNG.standard_normal(shape)


def both(array):
    """The same float64 leaf in minitransformer and in PyTorch."""
    return (mt.tensor(array, dtype="float64", requires_grad=True),
            torch.tensor(array, dtype=torch.float64, requires_grad=True))


def assert_same_values(ours, theirs):
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


def check_against_torch(ours_fn, theirs_fn, *arrays):
    """Values and gradients of one function in both libraries, on the same inputs."""
    pairs = [both(a) for a in arrays]
    ours = ours_fn(*(p[0] for p in pairs))
    theirs = theirs_fn(*(p[1] for p in pairs))
    assert_same_values(ours, theirs)
    w = RNG.standard_normal(tuple(theirs.shape))
    (ours * mt.tensor(w, dtype="float64")).sum().backward()
    (theirs * torch.from_numpy(w)).sum().backward()
    for (x, tx) in pairs:
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- size, numel, dim
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 1, 3)])
def test_size_is_the_shape_and_numel_counts_the_elements(shape):
    x, tx = mt.zeros(shape), torch.zeros(shape)
    assert x.size() == tuple(tx.size()) == shape
    assert isinstance(x.size(), tuple)
    assert x.numel() == tx.numel() == math.prod(shape)
    assert x.dim() == tx.dim() == x.ndim == len(shape)
    for d in range(-len(shape), len(shape)):
        assert x.size(d) == tx.size(d) == shape[d]
        assert isinstance(x.size(d), int)
    if shape:
        assert len(x) == len(tx) == shape[0]


def test_size_of_a_dim_out_of_range_is_an_index_error_as_in_torch():
    for shape, d in (((2, 3), 2), ((2, 3), -3), ((), 0)):
        with pytest.raises(IndexError):
            torch.zeros(shape).size(d)
        with pytest.raises(IndexError, match="size: dim"):
            mt.zeros(shape).size(d)


def test_size_reads_as_in_pytorch_code():
    x = mt.zeros(5, 2, 7)
    batch, length, d_model = x.size()
    assert (batch, length, d_model) == (5, 2, 7)
    assert x.view(x.size(0), -1).shape == (5, 14)


# ------------------------------------------------------- transpose and permute
@pytest.mark.parametrize("shape, dims", [((2, 3), (0, 1)), ((2, 3, 4), (-1, -2)), ((2, 3, 4), (0, 2)),
                                         ((2, 3, 4, 5), (1, 2)), ((3, 4), (1, 1))])
def test_transpose_swaps_two_dims(shape, dims):
    check_against_torch(lambda x: x.transpose(*dims), lambda x: x.transpose(*dims), values(*shape))
    check_against_torch(lambda x: mt.transpose(x, *dims), lambda x: torch.transpose(x, *dims), values(*shape))
    check_against_torch(lambda x: x.swapaxes(*dims), lambda x: x.swapaxes(*dims), values(*shape))


@pytest.mark.parametrize("shape, dims", [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4, 5), (0, 2, 1, 3)),
                                         ((2, 3, 4), (-1, 0, 1))])
def test_permute_reorders_every_dim(shape, dims):
    check_against_torch(lambda x: x.permute(*dims), lambda x: x.permute(*dims), values(*shape))
    check_against_torch(lambda x: x.permute(dims), lambda x: x.permute(dims), values(*shape))
    check_against_torch(lambda x: mt.permute(x, dims), lambda x: torch.permute(x, dims), values(*shape))


def test_T_reverses_every_dim_and_t_transposes_a_matrix():
    check_against_torch(lambda x: x.T, lambda x: x.T, values(3, 4))
    check_against_torch(lambda x: x.t(), lambda x: x.t(), values(3, 4))
    check_against_torch(lambda x: mt.t(x), lambda x: torch.t(x), values(4))
    x = values(2, 3, 4)
    np.testing.assert_array_equal(mt.tensor(x, dtype="float64").T.numpy(), x.T)      # every dim reversed, as NumPy's
    with pytest.raises(ValueError, match="t: .*2 dims"):
        mt.zeros(2, 3, 4).t()


def test_a_numpy_style_transpose_on_a_tensor_names_permute():
    with pytest.raises(TypeError, match=r"permute\(0, 2, 1\)"):
        mt.zeros(2, 3, 4).transpose(0, 2, 1)
    with pytest.raises(TypeError, match=r"permute\(1, 0\)"):
        mt.zeros(2, 3).transpose((1, 0))


# ------------------------------------------------------------------ reductions
DIMS = [None, 0, -1, (0, 2), (-1, 1)]


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "logsumexp", "amax", "amin"])
def test_reductions_take_dim_and_keepdim(name, dim, keepdim):
    x = values(2, 3, 4)
    torch_dim = tuple(range(3)) if dim is None else dim
    check_against_torch(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim),
                        lambda t: getattr(t, name)(dim=torch_dim, keepdim=keepdim), x)
    check_against_torch(lambda t: getattr(mt, name)(t, dim, keepdim),
                        lambda t: getattr(torch, name)(t, torch_dim, keepdim), x)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "logsumexp", "amax"])
def test_numpy_names_axis_and_keepdims_mean_dim_and_keepdim(name):
    x = mt.tensor(values(2, 3, 4), dtype="float64")
    np.testing.assert_array_equal(getattr(x, name)(axis=(0, 2), keepdims=True).numpy(),
                                  getattr(x, name)(dim=(0, 2), keepdim=True).numpy())
    np.testing.assert_array_equal(getattr(x, name)(1).numpy(), getattr(x, name)(axis=1).numpy())
    with pytest.raises(TypeError, match="one argument"):
        getattr(x, name)(dim=0, axis=0)
    with pytest.raises(TypeError, match="one argument"):
        getattr(x, name)(0, keepdim=True, keepdims=True)


def test_sum_of_a_tuple_of_dims_and_negative_dims_match_numpy():
    x = values(2, 3, 4)
    t = mt.tensor(x, dtype="float64")
    np.testing.assert_allclose(t.sum((0, -1)).numpy(), x.sum(axis=(0, 2)), rtol=1e-13)
    np.testing.assert_allclose(t.mean(-2, keepdim=True).numpy(), x.mean(axis=1, keepdims=True), rtol=1e-13)


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("call", [
    lambda f, x: f(x),                                      # unbiased, as in torch
    lambda f, x: f(x, 1),
    lambda f, x: f(x, dim=(0, 2), keepdim=True),
    lambda f, x: f(x, dim=-1, unbiased=False),
    lambda f, x: f(x, 0, True, True),                       # dim, unbiased, keepdim
    lambda f, x: f(x, False),                               # torch's var(unbiased)
    lambda f, x: f(x, dim=1, correction=0),
    lambda f, x: f(x, dim=None, correction=2),
])
def test_var_and_std_are_unbiased_by_default_as_in_torch(name, call):
    check_against_torch(lambda t: call(getattr(mt, name), t), lambda t: call(getattr(torch, name), t),
                        values(3, 4, 5))
    check_against_torch(lambda t: call(lambda *a, **k: getattr(t, name)(*a[1:], **k), t),
                        lambda t: call(lambda *a, **k: getattr(t, name)(*a[1:], **k), t), values(3, 4, 5))


def test_var_default_divides_by_n_minus_one_and_ddof_is_numpys_name_of_correction():
    x = values(4, 6)
    t = mt.tensor(x, dtype="float64")
    np.testing.assert_allclose(t.var().item(), np.var(x, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(t.var(axis=1).numpy(), np.var(x, axis=1, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(t.var(axis=1, ddof=0).numpy(), np.var(x, axis=1), rtol=1e-13)
    np.testing.assert_allclose(t.std(0, ddof=2).numpy(), np.std(x, axis=0, ddof=2), rtol=1e-13)
    with pytest.raises(TypeError, match="pass one"):
        t.var(unbiased=True, ddof=1)


def test_the_variance_of_one_element_unbiased_is_nan_as_in_torch():
    with np.errstate(invalid="ignore", divide="ignore"):
        ours = mt.tensor([2.0], dtype="float64", requires_grad=True)
        out = ours.var()
        out.backward()
    with pytest.warns(UserWarning):
        theirs = torch.tensor([2.0], dtype=torch.float64).var()
    assert math.isnan(out.item()) and math.isnan(theirs.item())
    assert np.isnan(ours.grad.numpy()).all()


def test_std_has_the_gradient_of_torch_and_second_derivatives():
    x = values(3, 4)
    check_against_torch(lambda t: t.std(dim=1), lambda t: t.std(dim=1), x)
    t = mt.tensor(x, dtype="float64", requires_grad=True)
    assert mt.gradcheck(lambda a: a.std(dim=0, keepdim=True), [t])
    assert mt.gradgradcheck(lambda a: a.std(), [t])


def test_layer_norm_composed_stays_biased():
    import minitransformer.functional as F

    x = values(2, 5)
    ours = F.layer_norm_composed(mt.tensor(x, dtype="float64"), 5)
    theirs = torch.nn.functional.layer_norm(torch.from_numpy(x), (5,))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- max and min
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_along_a_dim_returns_values_and_indices(name, dim, keepdim):
    x = values(3, 4)
    ours, theirs = both(x)
    out, tout = getattr(ours, name)(dim, keepdim=keepdim), getattr(theirs, name)(dim, keepdim=keepdim)
    v, i = out                                                # unpacks like torch's return type
    assert out.values is v and out.indices is i
    assert_same_values(v, tout.values)
    np.testing.assert_array_equal(i.numpy(), tout.indices.numpy())
    assert i.dtype == np.int64 and not i.requires_grad and v.requires_grad
    w = RNG.standard_normal(tuple(tout.values.shape))
    (v * mt.tensor(w, dtype="float64")).sum().backward()
    (tout.values * torch.from_numpy(w)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    # the function form and the keyword
    fv, fi = getattr(mt, name)(mt.tensor(x, dtype="float64"), dim=dim, keepdim=keepdim)
    np.testing.assert_array_equal(fv.numpy(), v.numpy())
    np.testing.assert_array_equal(fi.numpy(), i.numpy())


def test_max_along_a_dim_gives_the_gradient_to_the_first_of_tied_maxima_as_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 5.0], [4.0, 4.0, 4.0]])
    for name in ("max", "min"):
        ours, theirs = both(x)
        v, i = getattr(ours, name)(1)
        tv, ti = getattr(theirs, name)(1)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        v.sum().backward()
        tv.sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_max_of_every_element_is_0d_and_ties_share_the_gradient_as_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 3.0]])
    for name in ("max", "min"):
        ours, theirs = both(x)
        out, tout = getattr(ours, name)(), getattr(theirs, name)()
        assert out.shape == () and out.item() == tout.item()
        out.backward()
        tout.backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-15)


def test_max_of_two_tensors_is_the_elementwise_maximum():
    check_against_torch(lambda a, b: mt.max(a, b), lambda a, b: torch.max(a, b), values(3, 4), values(4))
    check_against_torch(lambda a, b: a.min(b), lambda a, b: a.min(b), values(3, 4), values(3, 1))


def test_max_with_numpys_axis_gives_the_values_only():
    x = values(2, 3, 4)
    t = mt.tensor(x, dtype="float64")
    out = t.max(axis=1)
    assert isinstance(out, mt.Tensor)
    np.testing.assert_array_equal(out.numpy(), x.max(axis=1))
    np.testing.assert_array_equal(t.min(axis=(0, 2), keepdims=True).numpy(), x.min(axis=(0, 2), keepdims=True))


def test_max_along_a_dim_of_a_0d_tensor_as_torch():
    v, i = mt.tensor(3.0).max(0)
    tv, ti = torch.tensor(3.0).max(0)
    assert v.shape == () and v.item() == tv.item() and i.item() == ti.item() == 0


def test_max_along_a_dim_has_second_derivatives():
    t = mt.tensor(values(3, 4), dtype="float64", requires_grad=True)
    assert mt.gradcheck(lambda a: a.max(1).values, [t])
    assert mt.gradgradcheck(lambda a: a.min(0, keepdim=True).values ** 2, [t])


# ------------------------------------------------------------ argmax and argmin
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_matches_torch(name, dim, keepdim):
    x = values(3, 4, distinct=False)
    x[1, 2] = x[1, 3] = x.max() + 1          # a tie: the first index wins in both
    x[0, 0] = x[0, 1] = x.min() - 1
    ours = getattr(mt.tensor(x, dtype="float64"), name)(dim, keepdim)
    theirs = getattr(torch.from_numpy(x), name)(dim, keepdim)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(getattr(mt, name)(mt.tensor(x, dtype="float64"), dim=dim, keepdim=keepdim).numpy(), theirs.numpy())


def test_argmax_takes_numpys_axis():
    x = values(3, 4)
    np.testing.assert_array_equal(mt.tensor(x).argmax(axis=-1).numpy(), x.argmax(axis=-1))


# ----------------------------------------------------------------- sin and cos
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_and_cos_and_their_derivatives(name):
    x = values(3, 5)
    check_against_torch(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), x)
    check_against_torch(lambda t: getattr(mt, name)(t), lambda t: getattr(torch, name)(t), x)
    t = mt.tensor(x, dtype="float64", requires_grad=True)
    assert mt.gradgradcheck(getattr(mt, name), [t])


def test_sin_and_cos_build_the_sinusoidal_positional_encoding():
    """The PyTorch tutorial's positional encoding, line for line."""
    max_len, d_model = 6, 8
    pe = []
    for lib in (mt, torch):
        position = lib.arange(max_len).unsqueeze(1)
        div_term = lib.exp(lib.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe.append(lib.cat([lib.sin(position * div_term), lib.cos(position * div_term)], dim=1))
    np.testing.assert_allclose(pe[0].numpy(), pe[1].numpy(), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------- triu and tril
@pytest.mark.parametrize("name", ["triu", "tril"])
@pytest.mark.parametrize("diagonal", [0, 1, -1, 3])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 4, 3)])
def test_triu_and_tril(name, diagonal, shape):
    check_against_torch(lambda t: getattr(mt, name)(t, diagonal), lambda t: getattr(torch, name)(t, diagonal),
                        values(*shape))
    check_against_torch(lambda t: getattr(t, name)(diagonal=diagonal),
                        lambda t: getattr(t, name)(diagonal=diagonal), values(*shape))


def test_triu_of_minus_infinity_writes_zeros_and_builds_a_causal_mask():
    ours = mt.full((3, 3), -math.inf).triu(1)
    theirs = torch.full((3, 3), -math.inf).triu(1)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    mask = mt.ones(3, 3, dtype="bool").tril()
    np.testing.assert_array_equal(mask.numpy(), torch.ones(3, 3, dtype=torch.bool).tril().numpy())
    assert mask.dtype == np.bool_


def test_triu_needs_a_matrix():
    with pytest.raises(ValueError, match=r"triu: .*shape \(3,\)"):
        mt.zeros(3).triu()


# ------------------------------------------------------------------ cat, stack
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_take_dim(dim):
    a, b = values(2, 3), values(2, 3)
    check_against_torch(lambda x, y: mt.cat([x, y], dim=dim), lambda x, y: torch.cat([x, y], dim=dim), a, b)
    check_against_torch(lambda x, y: mt.cat((x, y), dim), lambda x, y: torch.cat((x, y), dim), a, b)
    check_against_torch(lambda x, y: mt.concatenate([x, y], axis=dim), lambda x, y: torch.cat([x, y], dim), a, b)
    check_against_torch(lambda x, y: mt.stack([x, y], dim=dim), lambda x, y: torch.stack([x, y], dim=dim), a, b)


# ------------------------------------------------------------------------ topk
@pytest.mark.parametrize("k, dim, largest", [(1, -1, True), (3, -1, True), (2, 0, False), (4, 1, False),
                                             (0, -1, True), (5, 1, True)])
def test_topk_matches_torch(k, dim, largest):
    x = values(3, 5)
    ours, theirs = both(x)
    v, i = ours.topk(k, dim=dim, largest=largest)
    tv, ti = theirs.topk(k, dim=dim, largest=largest)
    assert_same_values(v, tv)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    assert i.dtype == np.int64 and not i.requires_grad
    w = RNG.standard_normal(tuple(tv.shape))
    (v * mt.tensor(w, dtype="float64")).sum().backward()
    (tv * torch.from_numpy(w)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    fv, fi = mt.topk(mt.tensor(x, dtype="float64"), k, dim, largest)
    np.testing.assert_array_equal(fv.numpy(), v.numpy())
    np.testing.assert_array_equal(fi.numpy(), i.numpy())


def test_topk_with_ties_gives_torchs_values_and_indices_of_those_values():
    x = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    v, i = mt.tensor(x).topk(3)
    tv, _ = torch.from_numpy(x).topk(3)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(x[i.numpy()], v.numpy())
    assert sorted(i.tolist()) == [1, 2, 4]


def test_topk_of_integers_and_its_second_derivative():
    ids = np.array([[4, 9, 1, 7]])
    v, i = mt.tensor(ids).topk(2)
    tv, ti = torch.from_numpy(ids).topk(2)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    t = mt.tensor(values(3, 4), dtype="float64", requires_grad=True)
    assert mt.gradgradcheck(lambda a: a.topk(2, dim=0).values ** 2, [t])


def test_topk_k_out_of_range():
    with pytest.raises(ValueError, match=r"topk: k=6"):
        mt.zeros(2, 5).topk(6)


# ----------------------------------------------------------------- multinomial
def test_multinomial_is_reproducible_with_manual_seed_and_int64():
    probs = mt.tensor([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    mt.manual_seed(3)
    first = mt.multinomial(probs, 2)
    mt.manual_seed(3)
    again = probs.multinomial(2)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    assert first.dtype == np.int64 and first.shape == (2, 2) and not first.requires_grad
    assert mt.multinomial(mt.tensor([1.0, 1.0]), 5, replacement=True).shape == (5,)


def test_multinomial_with_replacement_draws_each_category_in_proportion_to_its_weight():
    weights = np.array([1.0, 0.0, 3.0, 6.0])                # unnormalized, with a zero
    mt.manual_seed(0)
    n = 20_000
    draws = mt.multinomial(mt.tensor(weights), n, replacement=True).numpy()
    counts = np.bincount(draws, minlength=4)
    assert counts[1] == 0                                     # weight 0: never
    expected = n * weights / weights.sum()
    # each count is Binomial(n, p): within 5 standard deviations
    sd = np.sqrt(n * (weights / weights.sum()) * (1 - weights / weights.sum()))
    assert np.all(np.abs(counts - expected) <= 5 * sd + 1e-9), (counts, expected)


def test_multinomial_rows_are_separate_distributions():
    probs = mt.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    mt.manual_seed(1)
    draws = mt.multinomial(probs, 50, replacement=True).numpy()
    assert (draws[0] == 0).all() and (draws[1] == 2).all()
    assert set(draws[2]) == {1, 2}


def test_multinomial_without_replacement_draws_distinct_categories_first_in_proportion():
    weights = np.array([0.5, 0.3, 0.2, 0.0])
    rows = 20_000
    mt.manual_seed(2)
    draws = mt.multinomial(mt.tensor(np.tile(weights, (rows, 1))), 3).numpy()
    assert all(len(set(row)) == 3 for row in draws[:500])        # distinct in each row
    assert not (draws == 3).any()                                # weight 0: never
    first = np.bincount(draws[:, 0], minlength=4) / rows
    np.testing.assert_allclose(first, weights, atol=0.015)
    # the second draw, given the first, is in proportion to the weights left:
    # P(second = 1) = sum over first = j != 1 of p_j * p_1 / (1 - p_j)
    p = weights
    second_1 = sum(p[j] * p[1] / (1 - p[j]) for j in (0, 2))
    np.testing.assert_allclose((draws[:, 1] == 1).mean(), second_1, atol=0.015)


# ------------------------------------------------------------- shape methods
def test_contiguous_returns_the_tensor_and_view_reshapes():
    t = mt.tensor(values(2, 3), dtype="float64", requires_grad=True)
    assert t.contiguous() is t
    check_against_torch(lambda x: x.transpose(0, 1).contiguous().view(-1), lambda x: x.t().contiguous().view(-1),
                        values(2, 3))
    check_against_torch(lambda x: x.view(3, 2), lambda x: x.view(3, 2), values(2, 3))
    check_against_torch(lambda x: x.view((1, 6)), lambda x: x.view((1, 6)), values(2, 3))


@pytest.mark.parametrize("arg, dim", [(2, 0), (3, 0), (5, 0), (7, 0), ([1, 4], 0), ([2, 0, 3], 0), (2, 1), (1, -1)])
def test_split_cuts_pieces_of_a_size_as_torch(arg, dim):
    x = values(5, 3)
    ours, theirs = both(x)
    pieces, tpieces = ours.split(arg, dim), theirs.split(arg, dim)
    assert isinstance(pieces, tuple) and len(pieces) == len(tpieces)
    for p, tp in zip(pieces, tpieces):
        assert_same_values(p, tp)
    assert len(mt.split(mt.tensor(x), arg, dim=dim)) == len(tpieces)
    weights = [RNG.standard_normal(tuple(tp.shape)) for tp in tpieces]
    sum((p * mt.tensor(w, dtype="float64")).sum() for p, w in zip(pieces, weights)).backward()
    sum((tp * torch.from_numpy(w)).sum() for tp, w in zip(tpieces, weights)).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("n, chunks", [(6, 3), (6, 4), (5, 2), (5, 5), (3, 7), (10, 4)])
def test_chunk_as_torch(n, chunks):
    x = values(n, 2)
    ours = mt.tensor(x, dtype="float64").chunk(chunks)
    theirs = torch.from_numpy(x).chunk(chunks)
    assert [p.shape[0] for p in ours] == [p.shape[0] for p in theirs]
    for p, tp in zip(ours, theirs):
        np.testing.assert_array_equal(p.numpy(), tp.numpy())
    assert [p.shape for p in mt.tensor(x).chunk(2, dim=1)] == [(n, 1), (n, 1)]


@pytest.mark.parametrize("start, end", [(0, -1), (1, -1), (0, 1), (1, 2), (-2, -1), (2, 2)])
def test_flatten(start, end):
    check_against_torch(lambda x: x.flatten(start, end), lambda x: x.flatten(start, end), values(2, 3, 4))
    check_against_torch(lambda x: mt.flatten(x, start_dim=start, end_dim=end),
                        lambda x: torch.flatten(x, start_dim=start, end_dim=end), values(2, 3, 4))


def test_flatten_of_a_0d_tensor_has_one_element():
    assert mt.tensor(2.0).flatten().shape == tuple(torch.tensor(2.0).flatten().shape) == (1,)


@pytest.mark.parametrize("shape, sizes", [((3, 1), (2, -1, 4)), ((3, 1), (3, 5)), ((1, 2), (-1, 2)),
                                          ((2,), (4, 3, 2)), ((), (2, 3))])
def test_expand_keeps_dims_with_minus_one_and_adds_leading_ones(shape, sizes):
    check_against_torch(lambda x: x.expand(*sizes), lambda x: x.expand(*sizes), values(*shape))
    check_against_torch(lambda x: x.expand(sizes), lambda x: x.expand(sizes), values(*shape))


def test_expand_refuses_what_torch_refuses():
    for sizes in ((-1, 3, 1), (2, 4), (3,)):
        with pytest.raises(RuntimeError):
            torch.zeros(3, 1).expand(*sizes)
        with pytest.raises(ValueError, match="expand|broadcast_to"):
            mt.zeros(3, 1).expand(*sizes)


@pytest.mark.parametrize("shape, sizes", [((2, 3), (2, 1)), ((2, 3), (1, 3)), ((2, 3), (2, 2)),
                                          ((3,), (2, 2)), ((2, 3), (3, 1, 2)), ((2, 3), (0, 1)), ((), (3,))])
def test_repeat_tiles_as_torch(shape, sizes):
    check_against_torch(lambda x: x.repeat(*sizes), lambda x: x.repeat(*sizes), values(*shape))
    check_against_torch(lambda x: x.repeat(sizes), lambda x: x.repeat(sizes), values(*shape))


def test_repeat_has_second_derivatives_and_needs_a_count_per_dim():
    t = mt.tensor(values(2, 3), dtype="float64", requires_grad=True)
    assert mt.gradgradcheck(lambda a: a.repeat(2, 1, 2) ** 2, [t])
    with pytest.raises(ValueError, match="repeat"):
        t.repeat(2)


@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, (0, 2)])
def test_squeeze_as_torch_leaves_dims_that_are_not_one(dim):
    x = values(1, 3, 1)
    check_against_torch(lambda t: t.squeeze() if dim is None else t.squeeze(dim),
                        lambda t: t.squeeze() if dim is None else t.squeeze(dim), x)
    if dim is not None:
        check_against_torch(lambda t: t.squeeze(dim=dim), lambda t: t.squeeze(dim=dim), x)


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_unsqueeze_takes_dim(dim):
    check_against_torch(lambda t: t.unsqueeze(dim), lambda t: t.unsqueeze(dim), values(2, 3))
    check_against_torch(lambda t: t.unsqueeze(dim=dim), lambda t: t.unsqueeze(dim=dim), values(2, 3))
    check_against_torch(lambda t: mt.unsqueeze(t, dim), lambda t: torch.unsqueeze(t, dim), values(2, 3))


# ------------------------------------- the Tensor namespace keeps NumPy's meanings
def test_the_tensor_namespace_speaks_numpy():
    """Backward code written for arrays runs on Tensors: xp.transpose permutes, xp.max gives
    values, xp.var is biased."""
    x = values(2, 3, 4)
    t = mt.tensor(x, dtype="float64")
    xp = mt.get_array_module(t)
    assert xp is not np
    np.testing.assert_array_equal(xp.transpose(t, (2, 0, 1)).numpy(), np.transpose(x, (2, 0, 1)))
    np.testing.assert_array_equal(xp.transpose(t).numpy(), np.transpose(x))
    np.testing.assert_array_equal(xp.max(t, axis=-1, keepdims=True).numpy(), np.max(x, axis=-1, keepdims=True))
    np.testing.assert_array_equal(xp.max(t, 1).numpy(), np.max(x, 1))
    np.testing.assert_array_equal(xp.min(t, 0).numpy(), np.min(x, 0))
    np.testing.assert_allclose(xp.var(t, axis=1).numpy(), np.var(x, axis=1), rtol=1e-13)
    np.testing.assert_allclose(xp.std(t).numpy(), np.std(x), rtol=1e-13)
    np.testing.assert_allclose(xp.sin(t).numpy(), np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(xp.cos(t).numpy(), np.cos(x), rtol=1e-15)
    np.testing.assert_array_equal(xp.swapaxes(t, 0, 2).numpy(), np.swapaxes(x, 0, 2))
