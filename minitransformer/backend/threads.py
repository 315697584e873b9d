"""The CPU's threads for the fast kernels: blocks of rows on a small thread pool.

NumPy runs every element-wise operation (``exp``, ``*``, ``maximum``...) and
every reduction on one core; only its BLAS, for matrix products, uses them
all.  A softmax, a layer norm or an Adam update is therefore held to one
core, however many the machine has, and so is a batch of small matrix
products (the attention scores of every head), which BLAS does one after
the other.  But their rows are independent: the softmax of row i needs row
i only.  NumPy releases Python's global interpreter lock inside its loops,
so threads that each take a block of rows really do run at the same time::

    y = xp.empty_like(x)

    def block(rows):                 # rows: a slice of x's first axis
        y[rows] = softmax_of(x[rows])

    for_each_row_block(block, x, passes=5)   # about five passes over the rows

Each row is computed by the same code on the same values whichever block it
falls in, so results do not depend on the number of threads, bit for bit,
and runs stay reproducible.  Small work runs as one block on the calling
thread (handing work to a thread costs tens of microseconds), and so does
everything on the GPU: a CUDA kernel is parallel already.

The thread count is ``MINITRANSFORMER_NUM_THREADS`` or else
``OMP_NUM_THREADS`` (the variable that also sizes BLAS's pool), else the
number of cores this process may use; :func:`set_num_threads` changes it,
as ``torch.set_num_threads`` does in PyTorch.
"""
from __future__ import annotations

import os
import threading

import numpy as np

# work is counted in element passes: a kernel that reads and writes its rows k
# times over does k passes of its elements.  Waking a thread and waiting for
# it costs some tens of microseconds, about what a block of this much work
# takes; smaller work stays in one block on the calling thread
MIN_BLOCK_WORK = 1 << 20
# a kernel that passes over its rows several times runs on chunks of rows of at
# most this many elements (2 MB of float32), so that the second pass and the
# next find them in the core's cache instead of main memory
CACHE_CHUNK_SIZE = 1 << 19
MAX_DEFAULT_THREADS = 8    # element-wise work is bound by memory bandwidth well before this many cores
# OpenBLAS runs a product of at most 4 * 65536 multiply-adds on one thread; larger
# ones it spreads over its own threads, and splitting them again would oversubscribe
SMALL_PRODUCT = 1 << 18

_state = threading.local()   # .in_block: this thread is running a block (nested calls run serially)
_dispatch_lock = threading.Lock()   # one caller hands out blocks at a time; others run theirs serially
_workers: list | None = None
_num_threads: int | None = None


def _default_num_threads() -> int:
    for var in ("MINITRANSFORMER_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                raise ValueError(f"{var} must be a whole number of threads, got {value!r}") from None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_THREADS))


def get_num_threads() -> int:
    """How many threads element-wise work is spread over (1: the calling thread only)."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_num_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``n >= 1``) for element-wise work from now on."""
    global _num_threads, _workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: the number of threads must be an integer >= 1, got {n!r}")
    with _dispatch_lock:   # no blocks are running while the workers change
        _num_threads = n
        old, _workers = _workers, None
    for worker in old or ():
        worker.stop()


class _Worker:
    """A thread that runs the calls it is handed, one batch at a time.

    Two locks pass the work back and forth: the caller releases ``_start``
    to wake the thread and acquires ``_done`` to wait for it.  Locks are the
    cheapest wake-up Python has; a ``ThreadPoolExecutor`` (futures, a queue,
    a condition variable per task) costs several times as long per hand-off,
    which would eat much of what splitting a millisecond of work saves.
    """

    def __init__(self, name: str):
        self._start, self._done = threading.Lock(), threading.Lock()
        self._start.acquire()
        self._done.acquire()
        self._job = None
        self.error = None
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def _loop(self) -> None:
        _state.in_block = True   # everything this thread runs is a block
        while True:
            self._start.acquire()             # sleep until handed a job
            fn, items = self._job
            if fn is None:
                return
            try:
                for item in items:
                    fn(item)
            except BaseException as exc:      # handed back to the caller by wait()
                self.error = exc
            self._done.release()

    def run(self, fn, items) -> None:
        self._job, self.error = (fn, items), None
        self._start.release()

    def wait(self):
        """Block until the job is done; its error, if any.

        An interrupt (Ctrl-C) while waiting is held back until the job is
        done: the job writes into the caller's arrays, and a release of
        ``_done`` left pending would end the wait for the next job early.
        """
        interrupted = None
        while True:
            try:
                self._done.acquire()
                break
            except BaseException as exc:
                interrupted = interrupted or exc
        self._job = None
        if interrupted is not None:
            raise interrupted
        return self.error

    def stop(self) -> None:
        self._job = (None, None)
        self._start.release()


def _get_workers() -> list:
    """The ``get_num_threads() - 1`` worker threads (the caller is the last one)."""
    global _workers
    if _workers is None:
        _workers = [_Worker(f"minitransformer-{i}") for i in range(get_num_threads() - 1)]
    return _workers


def _forget_workers_after_fork() -> None:
    """A forked child has none of the parent's threads: start new ones when needed."""
    global _workers, _dispatch_lock
    _workers, _dispatch_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


def row_blocks(n_rows: int, work: int) -> list:
    """Split ``range(n_rows)`` into near-equal slices, one per thread, each of
    at least ``MIN_BLOCK_WORK`` element passes when ``work`` of them is
    spread evenly over the rows (one slice for small work)."""
    n_blocks = max(1, min(get_num_threads(), n_rows, work // MIN_BLOCK_WORK))
    bounds = [n_rows * i // n_blocks for i in range(n_blocks + 1)]
    return [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def run_parallel(fn, items) -> None:
    """Call ``fn(item)`` for every item, spread over the worker threads and this
    one, and wait for all of them; re-raise the first error.

    Calls from inside a block, or while another thread is handing out
    blocks, run serially here (waiting for busy workers could deadlock)."""
    items = list(items)
    if len(items) <= 1 or getattr(_state, "in_block", False) or get_num_threads() == 1 \
            or not _dispatch_lock.acquire(blocking=False):
        for item in items:
            fn(item)
        return
    try:
        workers = _get_workers()
        n = len(workers) + 1
        shares = [items[i::n] for i in range(n)]   # share 0 is this thread's
        busy = [w for w, share in zip(workers, shares[1:]) if share]
        for worker, share in zip(busy, shares[1:]):
            worker.run(fn, share)
        error = None
        _state.in_block = True
        try:
            for item in shares[0]:
                fn(item)
        except BaseException as exc:   # still wait: the other blocks may be writing into shared outputs
            error = exc
        finally:
            _state.in_block = False
        for worker in busy:   # every worker, even after an error: none may be left running
            try:
                worker_error = worker.wait()
            except BaseException as exc:   # an interrupt while waiting: still wait for the others
                worker_error = exc
            error = error or worker_error
    finally:
        _dispatch_lock.release()
    if error is not None:
        raise error


def shares_by_size(items: list, arrays: list, passes: int = 1) -> list:
    """Deal ``items`` into one list per thread, ``arrays[i]`` being the array
    item i works on (``passes`` times over): near-equal total sizes (largest
    first, each to the lightest share), the items' order kept within a
    share.  One share when the total is small or the arrays are not NumPy
    arrays (CuPy)."""
    if not all(isinstance(a, np.ndarray) for a in arrays):
        return [list(items)]
    sizes = [a.size for a in arrays]
    n_shares = min(get_num_threads(), len(items), max(1, passes * sum(sizes) // MIN_BLOCK_WORK))
    if n_shares <= 1:
        return [list(items)]
    loads, owner = [0] * n_shares, [0] * len(items)
    for i in sorted(range(len(items)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        owner[i] = lightest
        loads[lightest] += sizes[i]
    return [[item for item, o in zip(items, owner) if o == share] for share in range(n_shares)]


def for_each_row_block(block, x, split: bool = True, passes: int = 1) -> None:
    """Call ``block(rows)`` for slices ``rows`` that cover ``x``'s first axis.

    ``passes`` says about how many times the block goes over its elements
    (each NumPy call that reads or writes arrays of the block's size is
    one): NumPy arrays with enough work are cut into one block per thread,
    run in parallel, and a thread's block of a kernel of several passes is
    called in chunks of at most ``CACHE_CHUNK_SIZE`` elements.  Anything
    else (small work, CuPy arrays, ``split=False`` for work that mixes
    rows, 0-d arrays) is one call ``block(...)``: the index ``...`` selects
    the whole array.  ``block`` must write only the rows it is given.
    """
    if not split or not isinstance(x, np.ndarray) or x.ndim == 0:
        block(...)
        return
    blocks = row_blocks(x.shape[0], x.size * passes)
    if passes == 1 or x.size <= CACHE_CHUNK_SIZE:
        run_parallel(block, blocks)
        return
    chunk_rows = max(1, CACHE_CHUNK_SIZE // (x.size // x.shape[0]))

    def in_chunks(rows):   # one thread's block, chunk after chunk
        for start in range(rows.start, rows.stop, chunk_rows):
            block(slice(start, min(start + chunk_rows, rows.stop)))

    run_parallel(in_chunks, blocks)


def rows_of(a, rows, like):
    """The block ``rows`` of an operand ``a`` that broadcasts against the array
    ``like`` whose rows are being split: sliced where ``a`` has those rows,
    whole where it broadcasts along the first axis (size 1, or fewer axes)."""
    if a is None or rows is Ellipsis or a.ndim < like.ndim or a.shape[0] != like.shape[0]:
        return a
    return a[rows]

