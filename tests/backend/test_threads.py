"""Row blocks on threads: the same numbers bit for bit, whatever the thread count.

The fused kernels (layer norm, cross-entropy, masked softmax, ReLU, batched
matmul) and the optimizers split their work into blocks of rows that run on
a thread pool.  Normal test arrays are too small to be split, so the
``threads`` fixture lowers the block size to one element: every op below
then really runs in several blocks on several threads, and its forward and
backward must equal the one-block result exactly.
"""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import functional as F
from minitransformer import nn, optim
from minitransformer.backend import threads as cpu_threads
from minitransformer.backend.fast.gradient_sum import sum_over_threads
from minitransformer.backend.fast.matmul import batched_products_over_threads
from minitransformer.ops.matrix_product import MatMul


@pytest.fixture
def threads(monkeypatch):
    """set(n): n threads, blocks as small as one element, kernels of several passes
    in chunks of a row or two (restored afterwards)."""
    before = cpu_threads.get_num_threads()
    monkeypatch.setattr(cpu_threads, "MIN_BLOCK_WORK", 1)
    monkeypatch.setattr(cpu_threads, "CACHE_CHUNK_SIZE", 2)

    def set_threads(n):
        cpu_threads.set_num_threads(n)

    yield set_threads
    cpu_threads.set_num_threads(before)


@pytest.fixture
def split_calls(monkeypatch):
    """The number of items of every ``run_parallel`` call made during the test."""
    calls = []
    real_run_parallel = cpu_threads.run_parallel
    monkeypatch.setattr(cpu_threads, "run_parallel", lambda fn, items: (calls.append(len(items)),
                                                                        real_run_parallel(fn, items)))
    return calls


def run_both(threads, fn):
    """fn() with one thread and with three; both results (tuples of arrays)."""
    threads(1)
    one = fn()
    threads(3)
    three = fn()
    return one, three


def assert_identical(one, three):
    assert len(one) == len(three)
    for a, b in zip(one, three):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def forward_backward(fn, *arrays, seed=0):
    """fn's output and the gradients of sum(output * r) for a fixed random r."""
    inputs = [mt.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*inputs)
    r = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    (out * mt.tensor(r)).sum().backward()
    return (out.numpy(), *[(t.grad.numpy() if t.grad is not None else None) for t in inputs])


# ------------------------------------------------------------------ the helpers
def test_row_blocks_cover_every_row_once_in_near_equal_parts(threads):
    threads(3)
    blocks = cpu_threads.row_blocks(10, 10_000)
    assert blocks == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert cpu_threads.row_blocks(2, 10_000) == [slice(0, 1), slice(1, 2)]     # never more blocks than rows
    assert cpu_threads.row_blocks(0, 0) == [slice(0, 0)]


def test_small_work_stays_in_one_block():
    assert cpu_threads.row_blocks(1000, cpu_threads.MIN_BLOCK_WORK - 1) == [slice(0, 1000)]


def test_the_passes_of_a_kernel_count_towards_its_work():
    before = cpu_threads.get_num_threads()
    cpu_threads.set_num_threads(2)
    try:
        x = np.zeros((64, cpu_threads.MIN_BLOCK_WORK // 64))
        blocks = []
        cpu_threads.for_each_row_block(blocks.append, x)              # one pass: one block's work
        assert blocks == [slice(0, 64)]
        blocks.clear()
        cpu_threads.for_each_row_block(blocks.append, x, passes=2)    # two passes: two blocks' work
        assert sorted(b.start for b in blocks) == [0, 32]
    finally:
        cpu_threads.set_num_threads(before)


def test_a_kernel_of_several_passes_sees_its_rows_in_cache_sized_chunks(threads, monkeypatch):
    threads(2)
    monkeypatch.setattr(cpu_threads, "CACHE_CHUNK_SIZE", 6)
    calls, lock = [], threading.Lock()

    def block(rows):
        with lock:
            calls.append((rows.start, rows.stop))

    x = np.zeros((10, 3))                                   # 3 elements a row: 2 rows a chunk
    cpu_threads.for_each_row_block(block, x, passes=2)
    assert sorted(calls) == [(0, 2), (2, 4), (4, 5), (5, 7), (7, 9), (9, 10)]   # blocks 0-5 and 5-10
    calls.clear()
    cpu_threads.for_each_row_block(block, x, passes=1)        # one pass: nothing to keep in cache
    assert sorted(calls) == [(0, 5), (5, 10)]


def test_blocks_run_on_several_threads_at_the_same_time(threads):
    threads(3)
    seen, lock = {}, threading.Lock()
    all_started = threading.Barrier(3, timeout=10)   # passes only if three blocks run at once
    x = np.zeros((9, 4))

    def block(rows):
        with lock:
            seen[(rows.start, rows.stop)] = threading.get_ident()
        all_started.wait()
        x[rows] += 1

    cpu_threads.for_each_row_block(block, x)
    assert sorted(seen) == [(0, 3), (3, 6), (6, 9)]
    assert len(set(seen.values())) == 3
    np.testing.assert_array_equal(x, np.ones((9, 4)))


def test_split_false_and_zero_d_arrays_are_one_call_on_the_whole_array(threads):
    threads(3)
    calls = []
    cpu_threads.for_each_row_block(calls.append, np.zeros((6, 2)), split=False)
    cpu_threads.for_each_row_block(calls.append, np.float64(2.0))
    assert calls == [Ellipsis, Ellipsis]


def test_an_error_in_a_block_reaches_the_caller_after_every_block_finished(threads):
    threads(3)
    done = []

    def block(rows):
        if rows.start == 3:
            raise ValueError("block 3 failed")
        done.append(rows.start)

    with pytest.raises(ValueError, match="block 3 failed"):
        cpu_threads.for_each_row_block(block, np.zeros((9, 1)))
    assert sorted(done) == [0, 6]


def test_an_interrupt_waits_for_the_workers_and_leaves_them_ready_for_the_next_job(threads):
    threads(2)
    out = np.zeros(2)

    def interrupted_here(i):
        if i == 0:
            raise KeyboardInterrupt
        time.sleep(0.05)
        out[i] = 1

    with pytest.raises(KeyboardInterrupt):
        cpu_threads.run_parallel(interrupted_here, [0, 1])
    assert out[1] == 1            # the worker's block had finished when the interrupt came out

    class InterruptedOnce:        # Ctrl-C arriving while the caller waits for a worker
        def __init__(self, lock):
            self.lock, self.fired = lock, False

        def acquire(self):
            if not self.fired:
                self.fired = True
                raise KeyboardInterrupt
            return self.lock.acquire()

        def release(self):
            self.lock.release()

    worker = cpu_threads._get_workers()[0]
    worker._done = InterruptedOnce(worker._done)

    def slow(i):
        time.sleep(0.05)
        out[i] = 2

    with pytest.raises(KeyboardInterrupt):
        cpu_threads.run_parallel(slow, [0, 1])
    assert out.tolist() == [2, 2]
    cpu_threads.run_parallel(slow, [1, 0])    # a new job waits for itself, not for a leftover signal
    out[:] = 0
    cpu_threads.run_parallel(slow, [0, 1])
    assert out.tolist() == [2, 2]


def test_nested_blocks_run_serially_instead_of_waiting_on_the_pool(threads):
    threads(2)
    out = np.zeros((4, 4))

    def outer(rows):
        part = out[rows]

        def inner(inner_rows):
            part[inner_rows] += 1

        cpu_threads.for_each_row_block(inner, part)   # from inside a block: no new tasks, no deadlock

    cpu_threads.for_each_row_block(outer, out)
    np.testing.assert_array_equal(out, np.ones((4, 4)))


def test_rows_of_slices_only_operands_that_have_the_rows():
    like = np.zeros((4, 2, 3))
    full, one, short = np.zeros((4, 2, 3)), np.zeros((1, 2, 3)), np.zeros((2, 3))
    rows = slice(1, 3)
    assert cpu_threads.rows_of(full, rows, like).shape == (2, 2, 3)
    assert cpu_threads.rows_of(one, rows, like) is one          # broadcasts along the first axis
    assert cpu_threads.rows_of(short, rows, like) is short      # fewer axes: broadcasts too
    assert cpu_threads.rows_of(None, rows, like) is None
    assert cpu_threads.rows_of(full, ..., like) is full


def test_shares_by_size_balance_the_load_and_keep_every_item_once(threads):
    threads(2)
    items = list("abcde")
    arrays = [np.zeros(n) for n in (100, 10, 60, 50, 5)]
    shares = cpu_threads.shares_by_size(items, arrays)
    assert sorted(x for share in shares for x in share) == items
    loads = [sum(arrays[items.index(x)].size for x in share) for share in shares]
    assert sorted(loads) == [110, 115]
    threads(1)
    assert cpu_threads.shares_by_size(items, arrays) == [items]


def test_shares_of_non_numpy_arrays_stay_together(threads):
    class GpuLike:   # anything that is not a NumPy array (CuPy) is one share
        size = 10 ** 6

    threads(3)
    assert cpu_threads.shares_by_size(["a", "b"], [GpuLike(), GpuLike()]) == [["a", "b"]]


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads: the number of threads must be an integer >= 1"):
            cpu_threads.set_num_threads(bad)


@pytest.mark.parametrize("env, expected", [
    ({"MINITRANSFORMER_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}, "3"),
    ({"MINITRANSFORMER_NUM_THREADS": "", "OMP_NUM_THREADS": "2"}, "2"),
])
def test_the_thread_count_comes_from_the_environment(env, expected):
    code = "from minitransformer.backend import threads; print(threads.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == expected


def test_a_bad_thread_count_in_the_environment_is_named():
    code = "from minitransformer.backend import threads; threads.get_num_threads()"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "MINITRANSFORMER_NUM_THREADS": "two"},
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "MINITRANSFORMER_NUM_THREADS must be a whole number of threads, got 'two'" in proc.stderr


def test_importing_the_package_first_shortens_openblas_busy_waiting_unless_set():
    code = "import os, minitransformer; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OPENBLAS_THREAD_TIMEOUT": "12"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "12"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_pool_of_its_own(threads):
    threads(3)
    cpu_threads.for_each_row_block(lambda rows: None, np.zeros((6, 1)))   # the parent's pool exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: the parent's worker threads did not come along
        try:
            x = np.zeros((6, 2))

            def block(rows):
                x[rows] = rows.start
            cpu_threads.for_each_row_block(block, x)
            os.write(write, b"ok" if x[:, 0].tolist() == [0, 0, 2, 2, 4, 4] else b"bad")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    assert answer == b"ok"


# ------------------------------------------------------------------ the fused ops, split vs whole
def _rng(seed=0):
    return np.random.default_rng(seed)


def test_layer_norm_is_identical_in_blocks(threads):
    x = _rng().standard_normal((5, 3, 8))
    w, b = _rng(1).standard_normal(8), _rng(2).standard_normal(8)
    one, three = run_both(threads, lambda: forward_backward(
        lambda x, w, b: F.layer_norm(x, 8, w, b), x, w, b))
    assert_identical(one, three)
    # normalizing over every axis cannot be split by rows: still right
    one, three = run_both(threads, lambda: forward_backward(lambda x: F.layer_norm(x, (5, 3, 8)), x))
    assert_identical(one, three)


def test_cross_entropy_is_identical_in_blocks(threads):
    logits = _rng().standard_normal((4, 7, 11)).astype(np.float32)
    targets = _rng(1).integers(0, 11, size=(4, 7))
    targets[0, :3] = 0
    for smoothing, reduction in [(0.0, "mean"), (0.1, "sum"), (0.2, "none")]:
        one, three = run_both(threads, lambda: forward_backward(
            lambda x: F.cross_entropy(x.reshape(-1, 11), targets.reshape(-1), ignore_index=0,
                                      label_smoothing=smoothing, reduction=reduction), logits))
        assert_identical(one, three)


@pytest.mark.parametrize("mask_shape", [None, (4, 1, 1, 6), (1, 1, 5, 6), (5, 6), (4, 3, 5, 6)])
def test_masked_softmax_is_identical_in_blocks(threads, mask_shape):
    scores = _rng().standard_normal((4, 3, 5, 6))
    mask = None if mask_shape is None else _rng(1).random(mask_shape) < 0.7
    if mask is not None:
        mask[..., 0, :] = False   # a fully masked row somewhere
    one, three = run_both(threads, lambda: forward_backward(lambda s: F.masked_softmax(s, mask), scores))
    assert_identical(one, three)
    assert np.isfinite(three[0]).all()


def test_relu_is_identical_in_blocks(threads):
    x = _rng().standard_normal((6, 5)).astype(np.float32)
    one, three = run_both(threads, lambda: forward_backward(lambda x: x.relu(), x))
    assert_identical(one, three)
    np.testing.assert_array_equal(three[0], np.maximum(x, 0))


@pytest.mark.parametrize("shape_a, shape_b", [
    ((4, 3, 5, 2), (4, 3, 2, 6)),     # attention-like batches
    ((4, 1, 5, 2), (1, 3, 2, 6)),     # broadcast batch axes
    ((6, 5, 2), (6, 2, 3)),
])
def test_batched_matmul_is_identical_in_blocks(threads, shape_a, shape_b):
    a, b = _rng().standard_normal(shape_a), _rng(1).standard_normal(shape_b)
    one, three = run_both(threads, lambda: forward_backward(lambda a, b: a @ b, a, b))
    assert_identical(one, three)
    np.testing.assert_allclose(three[0], np.matmul(a, b), rtol=1e-5, atol=1e-6)


def test_matmul_keeps_its_shape_error_when_batches_do_not_broadcast():
    with pytest.raises(ValueError, match="matmul: .*batch dimensions that cannot be broadcast"):
        MatMul.apply(mt.tensor(np.zeros((3, 2, 2))), mt.tensor(np.zeros((4, 2, 2))))


def test_large_products_are_left_to_blas_and_small_ones_split(threads, split_calls):
    threads(2)
    large = _rng().standard_normal((2, 80, 80)).astype(np.float32)   # 80^3 > SMALL_PRODUCT
    np.testing.assert_array_equal(batched_products_over_threads(large, large), large @ large)
    assert split_calls == []
    small = _rng().standard_normal((4, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(batched_products_over_threads(small, small), small @ small)
    assert split_calls == [2]


def test_add_in_blocks_equals_the_plain_sum_and_falls_back_when_it_cannot_split(threads, split_calls):
    threads(3)
    a = _rng().standard_normal((7, 5)).astype(np.float32)
    b = _rng(1).standard_normal((7, 5))
    total = sum_over_threads(a, b)
    assert split_calls == [3] and total.dtype == np.float64     # NumPy's promotion, as a + b
    np.testing.assert_array_equal(total, a + b)
    split_calls.clear()
    np.testing.assert_array_equal(sum_over_threads(a, a[0]), a + a[0])   # broadcasting: plain a + b
    np.testing.assert_array_equal(sum_over_threads(a, 2.0), a + 2.0)
    assert split_calls == []


def test_a_tensor_used_several_times_sums_its_gradients_in_blocks(threads):
    x = _rng().standard_normal((6, 4)).astype(np.float32)

    def used_three_times(t):
        return t * t + t.relu() + t

    one, three = run_both(threads, lambda: forward_backward(used_three_times, x))
    assert_identical(one, three)
    r = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_allclose(three[1], r * (2 * x + (x > 0) + 1), rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    lambda ps: optim.AdamW(ps, lr=0.01),
    lambda ps: optim.LAMB(ps, lr=0.01),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
])
def test_optimizer_steps_are_identical_when_shared_over_threads(threads, make):
    def train():
        mt.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.Linear(16, 3))
        opt = make(model.parameters())
        x = mt.tensor(_rng().standard_normal((10, 6)).astype(np.float32))
        for _ in range(3):
            opt.zero_grad()
            (model(x).relu() ** 2).mean().backward()
            opt.step()
        return tuple(p.numpy().copy() for p in model.parameters())

    one, three = run_both(threads, train)
    assert_identical(one, three)


def test_a_transformer_training_step_is_identical_on_one_or_three_threads(threads):
    def step():
        mt.manual_seed(0)
        model = nn.TransformerTranslator(src_vocab_size=13, tgt_vocab_size=13, d_model=8, nhead=2,
                                         num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, dropout=0.1)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        src = _rng().integers(1, 13, size=(3, 5))
        tgt = _rng(1).integers(1, 13, size=(3, 6))
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 13), tgt[:, 1:].reshape(-1), ignore_index=0, label_smoothing=0.1)
        loss.backward()
        opt.step()
        return (loss.numpy(),) + tuple(p.numpy().copy() for p in model.parameters())

    one, three = run_both(threads, step)
    assert_identical(one, three)


def test_linear_with_bias_is_identical_in_blocks(threads):
    x = _rng().standard_normal((4, 5, 6)).astype(np.float32)
    w, b = _rng(1).standard_normal((3, 6)).astype(np.float32), _rng(2).standard_normal(3).astype(np.float32)
    one, three = run_both(threads, lambda: forward_backward(F.linear, x, w, b))
    assert_identical(one, three)
    np.testing.assert_allclose(three[0], x @ w.T + b, rtol=1e-5, atol=1e-6)
