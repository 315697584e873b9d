"""The flat gradient buffer, the all-reduce hook and the parameter broadcast, on CPU without MPI.

Several ranks are simulated in one process: a fake transport sums the
buffers the "ranks" hand it, exactly what MPI Allreduce computes.
"""
import numpy as np
import pytest

import minitransformer as mt
from minitransformer.distributed import FlatBuffer, GradientAllreducer, broadcast_parameters
from minitransformer.nn import Parameter


def test_pack_then_unpack_round_trips():
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,), (), (2, 1, 3)]
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    buf = FlatBuffer(shapes, np.float32, extra=1)
    assert buf.numel == 12 + 5 + 1 + 6 and buf.data.shape == (25,)
    flat = buf.pack(arrays)
    assert flat is buf.data
    np.testing.assert_array_equal(flat[:24], np.concatenate([a.ravel() for a in arrays]))
    out = [np.zeros(s, np.float32) for s in shapes]
    buf.unpack(out)
    for a, b in zip(arrays, out):
        np.testing.assert_array_equal(a, b)
    for a, v in zip(arrays, buf.unpack()):
        np.testing.assert_array_equal(a, v)


def test_views_alias_the_buffer_and_none_means_zeros():
    buf = FlatBuffer([(2,), (3,)], np.float64, extra=2)
    buf.pack([np.ones(2), np.full(3, 2.0)])
    buf.data[:] *= 10                       # e.g. the all-reduce writes into data ...
    np.testing.assert_array_equal(buf.views[1], [20, 20, 20])   # ... and the views see it
    buf.extra[:] = [7, 8]
    assert buf.data[-2:].tolist() == [7, 8]
    buf.pack([None, np.zeros(3)])
    assert buf.views[0].tolist() == [0, 0]
    assert buf.nbytes == 7 * 8


def test_pack_rejects_wrong_count_and_shape():
    buf = FlatBuffer([(2, 2)], np.float32)
    with pytest.raises(ValueError, match=r"FlatBuffer.pack: expected 1 arrays, got 2"):
        buf.pack([np.zeros((2, 2)), np.zeros(1)])
    with pytest.raises(ValueError, match=r"array 0 has shape \(4,\), expected \(2, 2\)"):
        buf.pack([np.zeros(4)])
    with pytest.raises(ValueError, match="FlatBuffer.unpack"):
        buf.unpack([np.zeros(3)])
    with pytest.raises(ValueError, match="extra"):
        FlatBuffer([(1,)], np.float32, extra=-1)


class _SumOfRanks:
    """A transport for rank 0 of a simulated world: adds the other ranks' buffers."""

    name = "fake"

    def __init__(self, others):
        self.others = others  # the flat buffers of ranks 1..N-1

    def allreduce_(self, array, what=""):
        for other in self.others:   # the other ranks' buffers, built on the host
            array += mt.backend.get_array_module(array).asarray(other)
        return array


def _params(rng, with_grads):
    ps = [Parameter(rng.standard_normal(s).astype(np.float32)) for s in [(4, 3), (3,), (2, 2)]]
    for p, g in zip(ps, with_grads):
        p.grad = None if g is None else mt.tensor(g)
    return ps


def test_allreducer_sums_gradients_and_loss_over_ranks():
    rng = np.random.default_rng(1)
    g0 = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,), (2, 2)]]
    g1 = [rng.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,), (2, 2)]]
    # rank 1 packs its gradients and loss exactly as the hook does
    other = FlatBuffer([g.shape for g in g1], np.float32, extra=1)
    other.pack(g1)
    other.extra[0] = 2.5
    params = _params(rng, [g0[0], None, g0[2]])   # rank 0's micro-batches never reached param 1
    hook = GradientAllreducer(params, _SumOfRanks([other.data]))
    loss = hook(params, 1.25)
    assert loss == pytest.approx(3.75)
    np.testing.assert_allclose(params[0].grad.numpy(), g0[0] + g1[0], rtol=1e-6)
    np.testing.assert_allclose(params[1].grad.numpy(), g1[1], rtol=1e-6)      # zeros + rank 1's
    np.testing.assert_allclose(params[2].grad.numpy(), g0[2] + g1[2], rtol=1e-6)
    assert hook.calls == 1 and hook.seconds >= 0
    # the gradient arrays are the parameters' own, not views of the reused buffer
    assert not mt.backend.get_array_module(hook.buffer.data).shares_memory(params[0].grad.data, hook.buffer.data)
    with pytest.raises(ValueError, match="built for 3"):
        hook(params[:2], 0.0)


def test_allreducer_rejects_mixed_dtypes_and_no_parameters():
    a = Parameter(np.zeros(2, np.float32))
    with mt.set_default_dtype("float64"):
        b = Parameter(np.zeros(2))
    assert b.dtype == np.float64
    with pytest.raises(TypeError, match="several dtypes"):
        GradientAllreducer([a, b], _SumOfRanks([]))
    with pytest.raises(ValueError, match="no parameter"):
        GradientAllreducer([], _SumOfRanks([]))


class _FakeWorld:
    """Rank 1 of 2: its Bcast receives rank 0's buffer."""

    size, rank = 2, 1

    def __init__(self, root_buffer):
        self.root_buffer = root_buffer
        self.calls = []

    def broadcast_(self, array, root=0, what=""):
        self.calls.append((root, what))
        array[...] = mt.backend.get_array_module(array).asarray(self.root_buffer)
        return array


def test_broadcast_parameters_copies_rank_0s_values_in_place():
    rng = np.random.default_rng(2)
    root = [rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (4,)]]
    mine = [Parameter(np.zeros(s, np.float32)) for s in [(3, 2), (4,)]]
    arrays_before = [p.data for p in mine]
    packed = FlatBuffer([a.shape for a in root], np.float32)
    packed.pack(root)
    world = _FakeWorld(packed.data.copy())
    sent = broadcast_parameters(world, mine)
    assert sent == 10 * 4 and world.calls == [(0, "parameter Bcast")]
    for p, r, before in zip(mine, root, arrays_before):
        np.testing.assert_array_equal(p.numpy(), r)
        assert p.data is before                      # in place: the optimizer keeps its references


def test_broadcast_parameters_is_free_in_one_process():
    world = _FakeWorld(None)
    world.size = 1
    assert broadcast_parameters(world, [Parameter(np.ones(3, np.float32))]) == 0
    assert world.calls == []
