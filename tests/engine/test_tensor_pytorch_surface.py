"""The Tensor's PyTorch surface, each idiom run in both engines and compared.

dtypes by PyTorch's names, devices, the factories and their dtype rules,
casts (differentiable between floats), conversions to Python numbers,
in-place ops with their version counter (and the errors where a graph needs
an old value), and indexing with lists and masks.  Values are compared in
float64, gradients where there are some.  Where this engine differs from
PyTorch on purpose, the test says so and checks what it does instead.

The tests run on the suite's backend (``--backend strict`` too); the ones
about the CPU device name it.
"""
import numpy as np
import pytest
import torch

import minitransformer as mt
from minitransformer.autograd.devices import DEVICE_OF_BACKEND


def np_dtype(torch_dtype) -> np.dtype:
    """The NumPy dtype of a torch dtype."""
    return torch.empty(0, dtype=torch_dtype).numpy().dtype


def same(t: mt.Tensor, ref: torch.Tensor) -> None:
    """Same dtype, shape and values (gradients too if both have one)."""
    assert t.dtype == np_dtype(ref.dtype), (t.dtype, ref.dtype)
    np.testing.assert_allclose(t.numpy(), ref.detach().numpy(), rtol=1e-12, atol=0)


def here() -> mt.device:
    """The device of the suite's backend."""
    return mt.device(DEVICE_OF_BACKEND[mt.get_backend()])


# ----------------------------------------------------------------- dtypes
DTYPE_NAMES = ["float16", "float32", "float64", "float", "double", "half", "int32", "int64", "int", "long",
               "bool", "uint8"]


@pytest.mark.parametrize("name", DTYPE_NAMES)
def test_each_dtype_name_is_pytorchs(name):
    dtype = getattr(mt, name)
    assert dtype == np_dtype(getattr(torch, name))
    assert isinstance(dtype, mt.dtype)
    data = [0, 1, 2]
    same(mt.tensor(data, dtype=dtype), torch.tensor(data, dtype=getattr(torch, name)))
    same(mt.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=getattr(torch, name)))


def test_the_names_that_are_builtins_are_attributes_but_never_star_imported():
    import minitransformer.autograd as autograd
    import minitransformer.ops as ops

    for name in ("float", "int", "bool"):
        assert isinstance(getattr(mt, name), np.dtype)
        for module in (mt, autograd, ops):
            assert name not in module.__all__, f"{module.__name__}.__all__ has {name!r}"
    namespace = {}
    exec("from minitransformer import *", namespace)
    assert "float" not in namespace and "int" not in namespace and "bool" not in namespace
    assert namespace["long"] == np.int64 and namespace["float32"] == np.float32


def test_dtypes_compare_as_pytorchs_do():
    x = mt.tensor([1.0, 2.0])
    assert x.dtype == mt.float32 == mt.float and x.dtype != mt.float64
    assert x.dtype is mt.float32          # NumPy's dtypes are singletons: `is` works too
    assert x.is_floating_point() and not mt.tensor([1]).is_floating_point()
    assert mt.tensor([1]).dtype == mt.long


# --------------------------------------------------------------- factories
@pytest.mark.parametrize("args, kwargs", [
    ((5,), {}), ((2, 10, 3), {}), ((0.0, 1.0, 0.1), {}), ((0, 10), {"dtype": "float"}),
    ((1, 4, 0.5), {}), ((-3, 3), {"dtype": "float64"}), ((10,), {"dtype": "long"}), ((0, 5, 1.0), {}),
])
def test_arange_infers_the_dtype_as_pytorch(args, kwargs):
    ours = {k: getattr(mt, v) for k, v in kwargs.items()}
    theirs = {k: getattr(torch, v) for k, v in kwargs.items()}
    out, ref = mt.arange(*args, **ours), torch.arange(*args, **theirs)
    assert out.dtype == np_dtype(ref.dtype)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)
    assert out.device == here()


def test_arange_keywords_end_and_stop():
    same(mt.arange(0, end=4), torch.arange(0, end=4))
    same(mt.arange(0, stop=4), torch.arange(0, end=4))


@pytest.mark.parametrize("value", [7, 7.5, True, -2])
def test_full_takes_its_dtype_from_the_value(value):
    same(mt.full((2, 3), value), torch.full((2, 3), value))
    same(mt.full((2,), value, dtype=mt.float64), torch.full((2,), value, dtype=torch.float64))


def test_the_factories_shapes_and_dtypes_match_pytorchs():
    max_len, d_model = 6, 4
    same(mt.zeros(max_len, d_model), torch.zeros(max_len, d_model))
    same(mt.zeros((max_len, d_model)), torch.zeros((max_len, d_model)))
    same(mt.ones(3, dtype=mt.long), torch.ones(3, dtype=torch.long))
    same(mt.tensor(10000.0), torch.tensor(10000.0))
    same(mt.tensor([[1, 2], [3, 4]], dtype=mt.long), torch.tensor([[1, 2], [3, 4]], dtype=torch.long))
    same(mt.tensor([True, False]), torch.tensor([True, False]))
    same(mt.tensor([1.5, 2]), torch.tensor([1.5, 2]))
    t = mt.tensor([[1.0, 2.0]], dtype=mt.float64)
    ref = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    same(mt.zeros_like(t), torch.zeros_like(ref))
    same(mt.ones_like(t, dtype=mt.long), torch.ones_like(ref, dtype=torch.long))
    same(mt.full_like(t, 3), torch.full_like(ref, 3))
    assert mt.empty(2, 3).shape == tuple(torch.empty(2, 3).shape) and mt.empty(2, 3).dtype == mt.float32
    assert mt.empty_like(t).dtype == mt.float64
    assert mt.randn_like(t).dtype == mt.float64 and mt.rand_like(t).shape == (1, 2)
    same(t.new_zeros(2, 3), ref.new_zeros(2, 3))
    same(t.new_ones((2,)), ref.new_ones((2,)))
    same(t.new_full((2,), 5), ref.new_full((2,), 5))
    same(t.new_tensor([1, 2]), ref.new_tensor([1, 2]))
    assert t.new_empty(4).shape == (4,)


def test_the_factories_take_a_device():
    for factory in (mt.zeros, mt.ones, mt.randn, mt.rand, mt.empty):
        out = factory(2, 3, device="cpu")
        assert out.backend == "numpy" and out.device == "cpu" and out.shape == (2, 3)
    assert mt.tensor([1, 2], device="cpu").device == mt.device("cpu")
    assert mt.arange(3, device=mt.device("cpu")).backend == "numpy"
    assert mt.full((2,), 1.0, device="strict").backend == "strict"
    assert mt.zeros_like(mt.zeros(2, device="cpu"), device="strict").backend == "strict"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mt.zeros(2, device="tpu")
    with pytest.raises(ValueError, match="disagree"):
        mt.zeros(2, device="cpu", backend="strict")


def test_from_numpy_shares_the_memory_and_keeps_the_dtype():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    t, ref = mt.from_numpy(a), torch.from_numpy(a.copy())
    same(t, ref)
    a[0, 0] = 42.0                     # the tensor sees the change: one memory
    assert t.numpy()[0, 0] == 42.0 and t.device == "cpu"
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray, got list"):
        mt.from_numpy([1, 2])


def test_the_legacy_constructors():
    same(mt.LongTensor([1, 2, 3]), torch.LongTensor([1, 2, 3]))
    same(mt.LongTensor(np.array([4, 5])), torch.LongTensor(np.array([4, 5])))
    same(mt.FloatTensor([1, 2]), torch.FloatTensor([1, 2]))
    same(mt.DoubleTensor([1.5]), torch.DoubleTensor([1.5]))
    same(mt.BoolTensor([1, 0]), torch.BoolTensor([1, 0]))
    same(mt.Tensor([1, 2]), torch.Tensor([1, 2]))          # torch.Tensor(list) is float32
    assert mt.FloatTensor(2, 3).shape == (2, 3) and mt.Tensor(2, 3).dtype == mt.float32
    with pytest.raises(TypeError, match=r"mt.tensor\(2.5\)"):
        mt.Tensor(2.5)


def test_tensor_of_none_is_refused():
    with pytest.raises(TypeError, match="cannot make a tensor from None"):
        mt.tensor(None)
    with pytest.raises(TypeError, match=r"cannot make a tensor from list \[1, None\]"):
        mt.tensor([1, None])
    with pytest.raises(TypeError, match="from None"):
        mt.tensor(None, dtype=mt.float32)


def test_a_list_of_one_element_tensors_makes_a_tensor():
    data = [mt.tensor(1.5, device="cpu"), mt.tensor(2.5, device="cpu")]
    same(mt.tensor(data), torch.tensor([torch.tensor(1.5), torch.tensor(2.5)]))


def test_no_grad_decorates_with_and_without_parentheses():
    @mt.no_grad
    def bare(x):
        return x * 2

    @mt.no_grad()
    def called(x):
        return x * 2

    x = mt.tensor([1.0], requires_grad=True)
    assert not bare(x).requires_grad and not called(x).requires_grad
    assert bare.__name__ == "bare" and mt.is_grad_enabled()


# ------------------------------------------------------------------ casts
VALUES = [-1.7, -0.2, 0.0, 0.5, 2.5, 3.9]


@pytest.mark.parametrize("method", ["float", "double", "half", "long", "int", "bool", "byte"])
def test_each_cast_method_gives_pytorchs_values_and_dtype(method):
    values = [abs(v) for v in VALUES] if method == "byte" else VALUES
    x, ref = mt.tensor(values, dtype=mt.float64), torch.tensor(values, dtype=torch.float64)
    same(getattr(x, method)(), getattr(ref, method)())


def test_a_cast_to_the_same_dtype_is_the_tensor_itself():
    x = mt.tensor([1.0, 2.0])
    assert x.float() is x and x.to(mt.float32) is x and x.to(x) is x and x.type(mt.float32) is x
    copied = x.to(mt.float32, copy=True)
    assert copied is not x and not np.shares_memory(copied.numpy(), x.numpy())


def test_a_float_to_float_cast_is_differentiable_and_each_gradient_keeps_its_dtype():
    w_values, x_values = [0.5, -1.25, 2.0], [1.0, 3.0, -2.0]
    x = mt.tensor(x_values, dtype=mt.float64, requires_grad=True)
    w = mt.tensor(w_values, dtype=mt.float32, requires_grad=True)
    ref_x = torch.tensor(x_values, dtype=torch.float64, requires_grad=True)
    ref_w = torch.tensor(w_values, dtype=torch.float32, requires_grad=True)
    ((x.float() * w) ** 2).sum().backward()
    ((ref_x.float() * ref_w) ** 2).sum().backward()
    same(x.grad, ref_x.grad)                    # float64, as its input
    same(w.grad, ref_w.grad)
    y = x.to(mt.float32)
    assert y.requires_grad and y._ctx.name == "Cast"


def test_casts_to_integers_and_bool_leave_the_graph():
    x = mt.tensor([1.5, -2.5], requires_grad=True)
    for cast in (x.long(), x.int(), x.bool(), x.to(mt.long)):
        assert not cast.requires_grad and cast.is_leaf
    assert not mt.tensor([1, 2]).float().requires_grad


def test_to_type_and_type_as_take_what_pytorch_takes():
    x, ref = mt.tensor([1.5, -2.5]), torch.tensor([1.5, -2.5])
    ids, ref_ids = mt.tensor([1, 2]), torch.tensor([1, 2])
    same(x.to(ids), ref.to(ref_ids))
    same(x.to(dtype=mt.float64), ref.to(dtype=torch.float64))
    same(x.to(here(), mt.int32), ref.to("cpu", torch.int32))
    same(x.type(mt.float64), ref.type(torch.float64))
    same(x.type("torch.LongTensor"), ref.type("torch.LongTensor"))
    same(ids.type_as(x), ref_ids.type_as(ref))
    assert x.type() == "minitransformer.FloatTensor" and ref.type() == "torch.FloatTensor"
    assert ids.type_as(x.data).dtype == mt.float32                      # an array works too (t.type_as(src.data))
    with pytest.raises(TypeError, match="to\\(\\): expected a device, a dtype or a tensor"):
        x.to(3)


def test_backend_moves_still_work_beside_devices():
    x = mt.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    assert x.to("numpy") is x and x.cpu() is x and x.to("cpu") is x
    moved = x.to("strict")
    assert moved.backend == "strict" and moved.device == "strict" and moved.requires_grad and moved.is_leaf
    back = moved.cpu()
    assert back.backend == "numpy" and back.device == mt.device("cpu")
    np.testing.assert_array_equal(back.numpy(), [1.0, 2.0])
    both = moved.to("cpu", mt.float64)
    assert both.backend == "numpy" and both.dtype == mt.float64


# ----------------------------------------------------------------- devices
def test_device_names_and_equality_as_pytorch():
    x = mt.zeros(2, device="cpu")
    ref = torch.zeros(2)
    assert repr(x.device) == repr(ref.device) and str(x.device) == str(ref.device) == "cpu"
    assert x.device == "cpu" and x.device == mt.device("cpu") and x.device.type == ref.device.type
    assert not x.is_cuda and x.device != "cuda"
    assert repr(mt.device("cuda:0")) == repr(torch.device("cuda:0"))
    assert str(mt.device("cuda", 0)) == str(torch.device("cuda", 0)) == "cuda:0"
    assert mt.device("cupy") == "cuda" and mt.device("numpy") == "cpu"
    with pytest.raises(ValueError, match="only 'cuda' devices have an index"):
        mt.device("cpu:1")


@pytest.mark.skipif(mt.cupy_available(), reason="a GPU is usable here")
def test_cuda_without_a_gpu_raises_the_backend_error():
    assert not mt.cuda.is_available() and mt.cuda.device_count() == 0
    x = mt.tensor([1.0])
    for move in (x.cuda, lambda: x.to("cuda"), lambda: x.to("cuda:0"), lambda: mt.zeros(2, device="cuda")):
        with pytest.raises(mt.BackendError, match="cupy"):
            move()


# ---------------------------------------------------------- Python numbers
def test_python_numbers_from_one_element_tensors():
    x, ref = mt.tensor([2.75], device="cpu"), torch.tensor([2.75])
    assert float(x) == float(ref) and int(x) == int(ref) and bool(x) == bool(ref)
    ids = mt.tensor(3, device="cpu")
    assert list(range(10))[ids] == 3 == ids.__index__()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mt.tensor([1.0, 2.0], device="cpu"))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="only an integer tensor"):
        [0][mt.tensor(0.0, device="cpu")]


def test_numpy_asarray_of_a_cpu_tensor_shares_its_memory():
    x = mt.tensor([1.0, 2.0], device="cpu")
    a = np.asarray(x)
    assert np.shares_memory(a, x.data) and a.dtype == np.float32
    with pytest.raises(TypeError, match="copy it to the host first"):
        np.asarray(mt.tensor([1.0], device="strict"))


def test_data_is_the_raw_array_unlike_pytorch():
    """x.data[0] and src.data work, but they are arrays, not tensors: no in-place methods on them."""
    x = mt.tensor([[1.0, 2.0], [3.0, 4.0]], device="cpu")
    row = x.data[0]
    assert isinstance(row, np.ndarray) and row.tolist() == [1.0, 2.0]
    assert not hasattr(x.data, "normal_")         # PyTorch's p.data.normal_() is p.normal_() under no_grad here


# --------------------------------------------------------- writing: values
def both(values, dtype=torch.float64):
    return mt.tensor(values, dtype=np_dtype(dtype)), torch.tensor(values, dtype=dtype)


INDEX_CASES = [
    (1, 5.0), (-1, 5.0), (slice(1, None), 7.0), ((slice(None), 0), [1.0, 2.0, 3.0]),
    (([0, 2], slice(None)), 9.0), ((slice(None), [-1]), [[1.0], [2.0], [3.0]]),
    ("mask", -1.0), ("mask_tensor", 0.5), ("index_tensor", 2.0), ((Ellipsis, 1), 4.0),
    ((slice(None, None, 2), slice(1, 3)), [[1.0, 2.0]]), ((0, slice(None)), "tensor_value"),
]


def _index(kind, x_values):
    """The index in both engines' terms."""
    if kind == "mask":
        mask = np.asarray(x_values) > 0.3
        return mask, torch.from_numpy(mask)
    if kind == "mask_tensor":
        mask = np.asarray(x_values) < 0.5
        return mt.tensor(mask), torch.from_numpy(mask)
    if kind == "index_tensor":
        return mt.tensor([2, 0]), torch.tensor([2, 0])
    return kind, kind


@pytest.mark.parametrize("index, value", INDEX_CASES, ids=[str(i) for i in range(len(INDEX_CASES))])
def test_setitem_writes_as_pytorch(index, value):
    values = np.random.default_rng(0).random((3, 4)).tolist()
    x, ref = both(values)
    ours, theirs = _index(index, values)
    if value == "tensor_value":
        value_ours, value_theirs = both([1.0, 2.0, 3.0, 4.0])
    else:
        value_ours, value_theirs = value, torch.tensor(value, dtype=torch.float64)
    x[ours] = value_ours
    ref[theirs] = value_theirs
    same(x, ref)
    assert x._version == ref._version == 1


def test_setitem_casts_the_value_to_the_tensors_dtype():
    x, ref = mt.zeros(3, dtype=mt.long), torch.zeros(3, dtype=torch.long)
    x[0], ref[0] = 1.7, 1.7
    same(x, ref)
    y, ref_y = mt.zeros(2), torch.zeros(2)
    y[:] = mt.tensor([0.1, 0.2], dtype=mt.float64)
    ref_y[:] = torch.tensor([0.1, 0.2], dtype=torch.float64)
    same(y, ref_y)


def test_the_positional_encoding_idiom():
    """pe[:, 0::2] = sin(position * div_term): the table of 'Attention Is All You Need'."""
    max_len, d_model = 10, 6
    pe = mt.zeros(max_len, d_model)
    angles = np.arange(max_len)[:, None] * np.exp(np.arange(0, d_model, 2) * (-np.log(10000.0) / d_model))
    pe[:, 0::2] = mt.tensor(np.sin(angles))
    pe[:, 1::2] = mt.tensor(np.cos(angles))
    ref = torch.zeros(max_len, d_model)
    ref[:, 0::2] = torch.tensor(np.sin(angles), dtype=torch.float32)
    ref[:, 1::2] = torch.tensor(np.cos(angles), dtype=torch.float32)
    same(pe, ref)


@pytest.mark.parametrize("op, args", [
    ("fill_", (2.5,)), ("zero_", ()), ("add_", (1.5,)), ("sub_", (0.25,)), ("mul_", (3.0,)), ("div_", (4.0,)),
    ("add_", ("tensor",)), ("mul_", ("row",)), ("copy_", ("tensor",)), ("copy_", ("row",)),
    ("masked_fill_", ("mask", -1e9)), ("fill_", ("scalar_tensor",)),
])
def test_each_in_place_method_changes_the_tensor_and_returns_it(op, args):
    values = [[0.5, -1.0, 2.0], [1.5, 0.25, -3.0]]
    x, ref = both(values)

    def arg(a, lib):
        table = {"tensor": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "row": [10.0, 20.0, 30.0]}
        if a == "mask":
            return (lib.tensor(values) > 0) if lib is torch else x > 0
        if a == "scalar_tensor":
            return lib.tensor(7.0, dtype=mt.float64 if lib is mt else torch.float64)
        if a in table:
            return lib.tensor(table[a], dtype=mt.float64 if lib is mt else torch.float64)
        return a

    ours = getattr(x, op)(*(arg(a, mt) for a in args))
    theirs = getattr(ref, op)(*(arg(a, torch) for a in args))
    assert ours is x and theirs is ref
    same(x, ref)
    assert x._version == ref._version == 1


def test_the_augmented_operators_change_the_tensor_itself():
    x, ref = both([1.0, 2.0])
    alias, ref_alias = x, ref
    x += 1
    x *= mt.tensor([2.0, 3.0], dtype=mt.float64)
    x -= 0.5
    x /= 2
    ref += 1
    ref *= torch.tensor([2.0, 3.0], dtype=torch.float64)
    ref -= 0.5
    ref /= 2
    assert x is alias and ref is ref_alias
    same(x, ref)
    assert x._version == ref._version == 4


def test_a_manual_sgd_step_under_no_grad_updates_the_parameter():
    w_values, x_values = [0.5, -1.0], [2.0, 3.0]
    w, ref_w = mt.tensor(w_values, requires_grad=True), torch.tensor(w_values, requires_grad=True)
    for p, xv in ((w, mt.tensor(x_values)), (ref_w, torch.tensor(x_values))):
        ((p * xv).sum() ** 2).backward()
        with (mt.no_grad() if p is w else torch.no_grad()):
            p -= 0.1 * p.grad
            p.add_(p.grad, alpha=-0.01)
            p.grad.zero_()
    same(w, ref_w)
    same(w.grad, ref_w.grad)
    assert w.is_leaf and w.requires_grad


def test_random_fills_draw_from_the_seeded_generator():
    x = mt.zeros(2, 3, dtype=mt.float64)
    mt.manual_seed(5)
    assert x.normal_(mean=1.0, std=2.0) is x
    first = x.numpy()
    expected = np.random.default_rng(5).standard_normal((2, 3)) * 2.0 + 1.0
    np.testing.assert_allclose(first, expected, rtol=1e-12)
    mt.manual_seed(5)
    np.testing.assert_array_equal(x.normal_(1.0, 2.0).numpy(), first)       # reproducible
    u = mt.zeros(1000).uniform_(-2, 3)
    assert u.numpy().min() >= -2 and u.numpy().max() < 3 and u.dtype == mt.float32
    assert abs(u.numpy().mean() - 0.5) < 0.2
    with pytest.raises(TypeError, match="normal_: draws floats"):
        mt.zeros(2, dtype=mt.long).normal_()


def test_changes_under_no_grad_are_seen_through_views_as_in_pytorch():
    x, ref = mt.zeros(4, dtype=mt.float64), torch.zeros(4, dtype=torch.float64)
    x[1:3].fill_(1.0)
    ref[1:3].fill_(1.0)
    same(x, ref)


# ------------------------------------------------ writing: the graph records it
def _grads(build, inputs):
    """Run ``build`` on fresh leaves in both engines; return (ours, theirs) outputs and gradients."""
    ours = [mt.tensor(v, dtype=mt.float64, requires_grad=True) for v in inputs]
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
    out_ours, out_theirs = build(mt, *ours), build(torch, *theirs)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    same(out_ours, out_theirs)
    for a, b in zip(ours, theirs):
        same(a.grad, b.grad)


def test_writing_a_value_that_requires_grad_into_a_plain_tensor():
    """The RNN idiom: out = zeros(T, D); out[t] = h_t; gradients reach every h_t."""
    def build(lib, h, w):
        out = lib.zeros(3, 2, dtype=h.dtype)
        for t in range(3):
            out[t] = h[t] * w
        return out * lib.tensor([[1.0, 2.0]], dtype=h.dtype)

    _grads(build, [[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [0.5, -1.5]])


def test_clone_then_write_keeps_the_gradient_where_the_value_was_kept():
    def build(lib, x, v):
        y = x.clone()
        y[0, 1:] = v * 3
        y[:, 0] = 0.0
        return y * y

    _grads(build, [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [7.0, 8.0]])


@pytest.mark.parametrize("change", ["add_", "sub_", "mul_", "div_", "iadd", "masked_fill_", "fill_",
                                    "zero_", "copy_", "normal_"])
def test_each_in_place_method_on_a_computed_tensor_is_recorded(change):
    def build(lib, x, w):
        y = x * 2
        if change == "iadd":
            y += w
        elif change == "masked_fill_":
            y.masked_fill_(x > 1.5, -1.0)
        elif change == "fill_":
            y.fill_(3.0)
        elif change == "zero_":
            y.zero_()
        elif change == "copy_":
            y.copy_(w * w)
        elif change == "normal_":
            y.normal_()
            return (y * 0) * w                      # the draws differ between engines: compare the graph
        else:
            getattr(y, change)(w)
        return y * w

    _grads(build, [[1.0, 2.0, 3.0], [0.5, -2.0, 4.0]])


def test_loss_accumulated_with_plus_equals():
    def build(lib, x):
        total = lib.zeros((), dtype=x.dtype)
        for k in range(3):
            total += (x * (k + 1)).sum()
        return total

    _grads(build, [[1.0, -2.0, 0.5]])


# ------------------------------------------ the version counter's refusals
def _in_both(body):
    """Run ``body(lib)`` in both engines; return the two exceptions (None where it passed)."""
    errors = []
    for lib in (mt, torch):
        try:
            body(lib)
            errors.append(None)
        except RuntimeError as exc:
            errors.append(exc)
    return errors


def test_changing_an_input_a_backward_needs_is_refused_naming_the_op():
    def body(lib):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = lib.tensor([4.0, 5.0, 6.0])
        c = a * b
        b[0] = 10.0
        c.sum().backward()

    ours, theirs = _in_both(body)
    assert theirs is not None and "modified by an inplace operation" in str(theirs)
    assert isinstance(ours, mt.GraphError)
    assert str(ours) == (
        "Mul needs input 1 (shape (3,)) for its backward, but it was modified in place by setitem after Mul "
        "used it (version 1, expected 0): change it before, or use out-of-place ops / .clone()"
    )


def test_changing_an_output_a_backward_needs_is_refused():
    def body(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        with lib.no_grad():
            y.add_(1)
        y.sum().backward()

    ours, theirs = _in_both(body)
    assert theirs is not None
    assert "Exp needs its output (shape (2,))" in str(ours) and "by add_" in str(ours)


def test_a_change_through_a_detached_alias_is_refused_too():
    def body(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = lib.tensor([1.0, 1.0, 1.0], requires_grad=True)
        p = x * w
        x.detach().zero_()
        p.sum().backward()

    ours, theirs = _in_both(body)
    assert theirs is not None
    assert "Mul needs input 0 (shape (3,))" in str(ours) and "shares its memory" in str(ours)


def test_changing_a_parameter_outside_no_grad_is_refused_with_pytorchs_reason():
    for change in (lambda p: p.__setitem__(0, 1.0), lambda p: p.fill_(0), lambda p: p.add_(1),
                   lambda p: p.normal_(), lambda p: p.zero_()):
        def body(lib, change=change):
            change(lib.tensor([1.0, 2.0], requires_grad=True))

        ours, theirs = _in_both(body)
        assert "a leaf Variable that requires grad" in str(theirs)
        assert isinstance(ours, mt.InPlaceError) and "a leaf tensor that requires grad" in str(ours)
        assert "is being used in an in-place operation" in str(ours)


def test_changes_before_the_graph_used_the_tensor_are_fine():
    def body(lib):
        b = lib.tensor([4.0, 5.0, 6.0])
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b[0] = 10.0
        (a * b).sum().backward()
        return a.grad

    assert _in_both(body) == [None, None]
    a = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mt.tensor([4.0, 5.0, 6.0])
    b.zero_()
    c = a * b
    b2 = b.clone()
    b2.fill_(7.0)                             # a clone: the graph kept the original
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0, 0.0])


def test_an_op_that_used_a_tensor_before_a_recorded_change_is_refused_unlike_pytorch():
    """PyTorch routes z's gradient to y's old value; here the graph's edges are the tensors, and
    y now stands for its new value, so the backward stops with a clear error instead."""
    def body(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        z = y + 1
        y += 1
        (z.sum() + y.sum()).backward()

    ours, theirs = _in_both(body)
    assert theirs is None
    assert isinstance(ours, mt.GraphError)
    assert "Add used input 0 (shape (3,)) before an in-place op changed it" in str(ours)


def test_versions_count_every_in_place_change_as_pytorch():
    x, ref = mt.zeros(3), torch.zeros(3)
    for t in (x, ref):
        t[0] = 1
        t.fill_(2)
        t += 1
        t.add_(1)
        t.zero_()
    assert x._version == ref._version == 5
    assert mt.zeros(2)._version == 0 and (x + 1)._version == 0


# ------------------------------------------------- indexing with lists and masks
@pytest.mark.parametrize("index", ["last_as_list", "list", "repeated", "mask", "mask_rows", "index_tensor"])
def test_indexing_with_lists_and_masks_forward_and_backward(index):
    values = np.random.default_rng(1).standard_normal((2, 3, 4))

    def pick(lib, x):
        if index == "last_as_list":
            return x[:, [-1], :]
        if index == "list":
            return x[[1, 0]]
        if index == "repeated":
            return x[:, [0, 2, 0]]
        if index == "mask":
            return x[x > 0]
        if index == "mask_rows":
            keep = lib.tensor([True, False, True])
            return x[:, keep]
        return x[lib.tensor([1, 1, 0])]

    _grads(lambda lib, x: pick(lib, x) * 2, [values.tolist()])


def test_a_recorded_change_keeps_the_old_value_for_the_ops_that_saved_it_unlike_pytorch():
    """y = x.exp(); y[0] = 0: PyTorch refuses the backward (Exp saved y, now changed).  Here the
    recorded change wrote a new array, Exp's output is intact, and the gradient is right."""
    def body(lib):
        x = lib.tensor([0.5, 1.0, 2.0], dtype=mt.float64 if lib is mt else torch.float64, requires_grad=True)
        y = x.exp()
        y[0] = 0.0
        y.sum().backward()
        return x

    ours, theirs = _in_both(body)
    assert theirs is not None and ours is None
    x = body(mt)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, np.exp(1.0), np.exp(2.0)], rtol=1e-12)


def test_a_tensor_changed_at_every_step_keeps_a_bounded_log():
    x = mt.zeros(3)
    w = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * x
    for _ in range(100):
        x.add_(1.0)
    assert x._version == 100 and len(x._edits.latest) <= 16
    with pytest.raises(mt.GraphError, match=r"version 100, expected 84 or less"):
        y.sum().backward()


def test_bad_writes_name_the_op_the_shape_and_the_dtype():
    x = mt.zeros(3)
    with pytest.raises(IndexError, match=r"setitem on a tensor of shape \(3,\) and dtype float32: index 10"):
        x[10] = 1.0
    with pytest.raises(ValueError, match=r"setitem on a tensor of shape \(3,\).*shape \(4,\)"):
        x[:] = mt.zeros(4)
    with pytest.raises(TypeError, match=r"add_ on a tensor of shape \(3,\) and dtype int64"):
        mt.zeros(3, dtype=mt.long).add_(1.5)
    with pytest.raises(ValueError, match=r"setitem: cannot write a value of shape \(2,\) at index 0 of a tensor "
                                         r"of shape \(3,\)"):
        x[0] = mt.tensor([1.0, 2.0], requires_grad=True)
    assert x._version == 0                      # nothing was written
