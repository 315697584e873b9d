"""The strict backend: NumPy arrays that refuse, as CuPy does, to be used as host arrays."""
import numpy as np
import pytest

import minitransformer as mt
from minitransformer.backend import StrictArrayError, to_host
from minitransformer.backend.strict import StrictArray, xp


def device(values):
    return xp.asarray(np.asarray(values, dtype=np.float64))


@pytest.mark.parametrize("use, words", [
    (lambda a: np.asarray(a), "numpy.asarray"),
    (lambda a: float(a.sum()), "float()"),
    (lambda a: bool(a.sum() > 0), "bool()"),
    (lambda a: a.item(), ".item()"),
    (lambda a: a.tolist(), ".tolist()"),
    (lambda a: f"{a.sum():.2f}", "formatting"),
    (lambda a: np.exp(a), "numpy.exp()"),
    (lambda a: np.concatenate([a, a]), "numpy.concatenate()"),
    (lambda a: a + np.ones(3), "mixes a device array with a host NumPy array of shape (3,)"),
    (lambda a: a[np.array([0])], "indexing mixes"),
    (lambda a: xp.maximum(a, np.zeros(3)), "mixes"),
])
def test_every_implicit_use_as_a_host_array_raises_naming_the_line(use, words):
    a = device(np.arange(6.0).reshape(2, 3))
    with pytest.raises(StrictArrayError) as info:
        use(a)
    message = str(info.value)
    assert words in message
    assert "test_strict_backend.py:" in message   # where the code is, not where the check is


def test_strict_arrays_compute_what_numpy_computes():
    host = np.arange(6.0).reshape(2, 3)
    a = device(host)
    result = xp.exp(a - a.max(axis=1, keepdims=True)) * np.float32(2) + 1
    assert type(result) is StrictArray
    expected = np.exp(host - host.max(axis=1, keepdims=True)) * 2 + 1
    np.testing.assert_array_equal(to_host(result), expected)
    # reductions give 0-d arrays, as CuPy's do, not host scalars
    assert type(a.sum()) is StrictArray and a.sum().shape == ()
    out = xp.zeros(3)
    xp.add.at(out, xp.asarray(np.array([0, 0, 2])), 1.0)
    np.testing.assert_array_equal(to_host(out), [2.0, 0.0, 1.0])


def test_seeded_draws_are_numpy_draws():
    mt.manual_seed(3)
    with mt.use_backend("strict"):
        strict_draw = mt.randn(4).numpy()
    mt.manual_seed(3)
    np.testing.assert_array_equal(strict_draw, mt.randn(4).numpy())


def test_a_training_step_on_strict_arrays_matches_numpy():
    def step(backend):
        mt.manual_seed(0)
        with mt.use_backend(backend):
            x = mt.randn(3, 4, requires_grad=True)
            w = mt.randn(4, 2, requires_grad=True)
            loss = mt.functional.cross_entropy(x @ w, mt.tensor(np.array([0, 1, 1])))
            loss.backward()
            assert x.backend == backend
            return loss.item(), x.grad.numpy(), w.grad.numpy()

    for got, want in zip(step("strict"), step("numpy")):
        np.testing.assert_array_equal(got, want)


def test_host_data_goes_where_the_session_computes():
    """Parameters built from host NumPy arrays, and host masks or ids used as an index,
    land on the current backend (as a list would); a Tensor wraps its array as it is."""
    host = np.arange(6.0).reshape(2, 3)
    with mt.use_backend("strict"):
        p = mt.nn.Parameter(host)
        assert p.backend == "strict"
        assert mt.Tensor(host).backend == "numpy"          # the low-level wrapper copies nothing
        picked = p[host[:, 0] > 0]                          # a host boolean mask
        picked.sum().backward()
        np.testing.assert_array_equal(picked.numpy(), host[1:])
        np.testing.assert_array_equal(p.grad.numpy(), [[0, 0, 0], [1, 1, 1]])
        table = mt.nn.Parameter(host)
        rows = mt.functional.embedding(mt.tensor(np.array([1, 1, 0])), table)
        rows.sum().backward()
        np.testing.assert_array_equal(table.grad.numpy(), [[1, 1, 1], [2, 2, 2]])   # repeated ids add up


def test_an_out_of_range_id_is_an_index_error_on_strict_arrays_too():
    with mt.use_backend("strict"):
        table = mt.nn.Parameter(np.zeros((4, 2)))
        with pytest.raises(IndexError, match="token id 7 is out of range for a table of 4 rows"):
            mt.functional.embedding(mt.tensor(np.array([0, 7])), table)
