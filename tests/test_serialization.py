"""mt.save / mt.load: exact round trips, atomic writes, and refusing bad files.

The malicious and damaged archives are built by hand with ``zipfile`` so that
each test names exactly one thing wrong with the file.
"""
import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import numpy.lib.format as npy_format
import pytest

import minitransformer as mt
from minitransformer import serialization
from minitransformer.nn import Module, Parameter
from minitransformer.serialization import FORMAT_NAME, FORMAT_VERSION, CheckpointError, load, save

from helpers.compare import assert_same


# ---------------------------------------------------------------- helpers
def npy_bytes(arr, allow_pickle=False):
    buf = io.BytesIO()
    npy_format.write_array(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def meta_bytes(tree, arrays, version=FORMAT_VERSION, fmt=FORMAT_NAME):
    return json.dumps({"format": fmt, "version": version, "arrays": arrays, "tree": tree}).encode()


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    """members: list of (name, bytes); written in order, duplicates allowed."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def one_array_checkpoint(path, arr_member, tree=None):
    tree = {"__type__": "ndarray", "array": 0} if tree is None else tree
    return write_zip(path, [("__meta__.json", meta_bytes(tree, 1)), ("arr_0.npy", arr_member)])


def nested_state():
    """Model, optimizer, scheduler and RNG state, as a trainer would save them."""
    model = OrderedDict(
        [("embed.weight", mt.randn(5, 4)), ("ln.bias", mt.zeros(4)), ("head.weight", mt.randn(4, 5))]
    )
    optim = {
        "state": {0: {"step": 3, "exp_avg": np.full((5, 4), 0.25, dtype=np.float32)},
                  1: {"step": 3, "exp_avg": np.zeros(4, dtype=np.float32)}},
        "param_groups": [{"lr": 3e-4, "betas": (0.9, 0.98), "params": [0, 1, 2], "amsgrad": False}],
    }
    return {
        "model": model,
        "optim": optim,
        "scheduler": {"last_epoch": 17, "base_lrs": [3e-4]},
        "rng": np.random.default_rng(1234).bit_generator.state,  # ints > 2**64
        "step": 1200, "best": None, "name": "tiny-ñ-模型-🚀",
        "ids": np.arange(-3, 7, dtype=np.int64).reshape(2, 5),
        "f64": np.linspace(0, 1, 7), "mask": np.array([[True, False], [False, True]]),
        "scalar0d": np.array(3.5, dtype=np.float64), "empty": np.zeros((0, 3), dtype=np.float32),
        "u8": np.arange(4, dtype=np.uint8), "c64": np.array([1 + 2j], dtype=np.complex64),
        "np_scalar": np.float32(0.125), "np_int": np.int64(-7), "big": -(2**130) + 1,
        "nested": [[1, [2.5, "x"]], (), [], {}], "floats": [float("nan"), float("inf"), -0.0],
    }


# ---------------------------------------------------------------- round trips
def test_round_trip_nested_state_exact(tmp_path):
    state = nested_state()
    save(state, tmp_path / "ckpt.npz")
    back = load(tmp_path / "ckpt.npz", backend="numpy")   # compared with the host arrays saved
    assert_same(state, back)
    assert isinstance(back["model"], OrderedDict) and type(back["optim"]) is dict
    assert list(back["optim"]["state"]) == [0, 1]  # int keys stay ints
    assert back["rng"]["state"]["state"] == state["rng"]["state"]["state"] > 2**64
    assert back["model"]["embed.weight"].dtype == np.float32 and back["ids"].dtype == np.int64


def test_tensor_array_parameter_distinction_and_sharing(tmp_path):
    with mt.set_default_dtype("float64"):
        w = Parameter(np.arange(6.0).reshape(2, 3))
    frozen = Parameter(np.ones(2, dtype=np.float32), requires_grad=False)
    y = (mt.tensor([1.0, 2.0], requires_grad=True) * 2)  # non-leaf: comes back a leaf
    save({"w": w, "tied": w, "frozen": frozen, "y": y, "arr": np.ones(2), "t": mt.ones(2)},
         tmp_path / "c.npz")
    back = load(tmp_path / "c.npz", backend="numpy")  # default dtype is float32 here: no cast may happen
    assert type(back["w"]) is Parameter and back["w"].requires_grad and back["w"].dtype == np.float64
    assert back["tied"] is back["w"]  # tied weights stay tied
    assert type(back["frozen"]) is Parameter and not back["frozen"].requires_grad
    assert type(back["y"]) is mt.Tensor and back["y"].is_leaf and back["y"].requires_grad
    np.testing.assert_array_equal(back["y"].numpy(), [2.0, 4.0])
    assert type(back["arr"]) is np.ndarray and type(back["t"]) is mt.Tensor
    assert not back["t"].requires_grad and back["t"].grad is None


class _Tiny(Module):
    def __init__(self):
        super().__init__()
        self.weight = Parameter(mt.randn(3, 2))
        self.register_buffer("pos", mt.arange(3))


def test_model_state_dict_round_trip(tmp_path):
    src, dst = _Tiny(), _Tiny()
    dst.weight.data[...] = 0
    save(src.state_dict(), tmp_path / "model.npz")
    dst.load_state_dict(load(tmp_path / "model.npz"))
    np.testing.assert_array_equal(dst.weight.numpy(), src.weight.numpy())
    assert dst.pos.dtype == src.pos.dtype


def test_rng_state_round_trip_resumes_exactly(tmp_path):
    mt.manual_seed(7)
    mt.randn(3)
    save({"rng": mt.backend.get_rng_state()}, tmp_path / "rng.npz")
    expected = mt.randn(5).numpy()
    mt.manual_seed(123)
    mt.backend.set_rng_state(load(tmp_path / "rng.npz")["rng"])
    np.testing.assert_array_equal(mt.randn(5).numpy(), expected)


def test_file_is_a_plain_npz_with_json_meta(tmp_path):
    save({"a": np.arange(3), "t": mt.ones(2)}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__meta__.json", "arr_0", "arr_1"]
        np.testing.assert_array_equal(npz["arr_0"], [0, 1, 2])
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        meta = json.loads(zf.read("__meta__.json"))
    assert meta["format"] == FORMAT_NAME and meta["version"] == FORMAT_VERSION == 1
    assert meta["arrays"] == 2 and meta["tree"]["__type__"] == "dict"


def test_fortran_order_and_non_contiguous_arrays(tmp_path):
    f = np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4))
    v = np.arange(20.0).reshape(4, 5)[::2, 1::2]
    save([f, v], tmp_path / "c.npz")
    back = load(tmp_path / "c.npz", backend="numpy")
    assert_same([f, v], back)


def test_load_places_arrays_on_current_backend(tmp_path, backend):
    save({"t": mt.ones(2), "a": np.arange(3), "s": np.float32(2.0)}, tmp_path / "c.npz")
    back = load(tmp_path / "c.npz")
    assert back["t"].backend == backend and mt.backend.backend_of(back["a"]) == backend
    assert type(back["s"]) is np.float32  # scalars stay host NumPy scalars
    assert mt.backend.backend_of(load(tmp_path / "c.npz", backend="numpy")["a"]) == "numpy"


@pytest.mark.skipif(mt.cupy_available(), reason="checks the error raised without a GPU")
def test_load_to_cupy_without_gpu_raises_backend_error(tmp_path):
    save([1], tmp_path / "c.npz")
    with pytest.raises(mt.BackendError):
        load(tmp_path / "c.npz", backend="cupy")


@pytest.mark.parametrize("bad, err", [
    (np.array([object(), 1], dtype=object), TypeError),
    (object(), TypeError),
    ({(1, 2): 3}, TypeError),
    (np.zeros(2, dtype=[("a", "f4")]), TypeError),
    (b"raw bytes", TypeError),
])
def test_save_refuses_what_it_cannot_store(tmp_path, bad, err):
    with pytest.raises(err, match="save:"):
        save({"x": [bad]}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_numpy_integer_keys_become_int_keys(tmp_path):
    save({np.int64(3): "a", 4: "b"}, tmp_path / "c.npz")
    back = load(tmp_path / "c.npz")
    assert back == {3: "a", 4: "b"} and all(type(k) is int for k in back)


def test_save_refuses_cycles(tmp_path):
    loop = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match="cycle"):
        save(loop, tmp_path / "c.npz")


# ---------------------------------------------------------------- atomic writes
def _crash_in(monkeypatch, module, name, exc=OSError("disk full (simulated)"), after_bytes=False):
    def broken(*args, **kwargs):
        if after_bytes:  # write part of the array first, as a crash mid-write would
            args[0].write(b"\x93NUMPY partial")
        raise exc
    monkeypatch.setattr(module, name, broken)


@pytest.mark.parametrize("target, after_bytes, exc", [
    ("replace", False, OSError("rename failed (simulated)")),
    ("write_array", True, OSError("disk full (simulated)")),
    ("write_array", True, KeyboardInterrupt()),
    ("fsync", False, OSError("fsync failed (simulated)")),
])
def test_crash_mid_save_keeps_previous_checkpoint(tmp_path, monkeypatch, target, after_bytes, exc):
    path = tmp_path / "ckpt.npz"
    save({"w": mt.ones(3), "step": 1}, path)
    before = path.read_bytes()
    module = npy_format if target == "write_array" else os
    _crash_in(monkeypatch, module, target, exc, after_bytes)
    with pytest.raises(type(exc)):
        save({"w": mt.zeros(3), "step": 2}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temp file left behind
    assert load(path)["step"] == 1


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    _crash_in(monkeypatch, os, "replace")
    with pytest.raises(OSError):
        save([1, 2], tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_data_is_fsynced_before_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    save({"a": 1}, tmp_path / "c.npz")
    assert events[:2] == ["fsync", "replace"]


# ---------------------------------------------------------------- refusing bad files
def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(tmp_path / "nope.npz")


@pytest.mark.parametrize("content", [
    b"", b"\x00" * 100, os.urandom(300), b'{"format": "minitransformer-checkpoint"}',
    b"PK\x05\x06" + b"\x00" * 18,  # an empty ZIP
])
def test_foreign_bytes_are_refused(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="x.npz"):
        load(path)


def test_plain_npz_without_meta_is_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    with pytest.raises(CheckpointError, match="no __meta__.json"):
        load(tmp_path / "plain.npz")


@pytest.mark.parametrize("meta, match", [
    (meta_bytes({"__type__": "ndarray", "array": 0}, 1, version=FORMAT_VERSION + 1), "newer"),
    (meta_bytes({"__type__": "ndarray", "array": 0}, 1, fmt="other"), "format"),
    (meta_bytes({"__type__": "ndarray", "array": 0}, 1, version="1"), "version"),
    (b"\xff\xfe not utf8", "JSON"),
    (b"[1, 2]", "format"),
    pytest.param(b"[" * 100000 + b"]" * 100000, "nested|JSON", id="deeply-nested"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_meta_is_refused(tmp_path, meta, match):
    path = write_zip(tmp_path / "c.npz", [("__meta__.json", meta), ("arr_0.npy", npy_bytes(np.ones(2)))])
    with pytest.raises(CheckpointError, match=match):
        load(path)


def test_pickled_object_member_is_refused_without_unpickling(tmp_path, monkeypatch):
    sentinel = tmp_path / "pwned"
    member = npy_bytes(np.array([{"x": 1}, None], dtype=object), allow_pickle=True)

    def boom(*args, **kwargs):
        sentinel.write_text("unpickled!")
        raise AssertionError("pickle was called")
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    with pytest.raises(CheckpointError, match="pickle"):
        load(one_array_checkpoint(tmp_path / "c.npz", member))
    assert not sentinel.exists()


def test_valid_load_never_calls_pickle(tmp_path, monkeypatch):
    save(nested_state(), tmp_path / "c.npz")

    def boom(*args, **kwargs):
        raise AssertionError("load called pickle")
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    assert load(tmp_path / "c.npz")["step"] == 1200


@pytest.mark.parametrize("name", [
    "../evil.npy", "/etc/passwd", "\\windows\\x", "arr_0.npy/../../x", "C:evil", "evil.py",
    "arr_01.npy", "arr_0.npz", "dir/arr_0.npy", "__META__.json",
])
def test_unexpected_or_traversal_member_names_are_refused(tmp_path, name):
    members = [("__meta__.json", meta_bytes({"__type__": "ndarray", "array": 0}, 1)),
               ("arr_0.npy", npy_bytes(np.ones(2))), (name, b"x")]
    with pytest.raises(CheckpointError, match="member"):
        load(write_zip(tmp_path / "c.npz", members))


def _raw_npy(header: dict, data: bytes) -> bytes:
    text = repr(header).encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


@pytest.mark.parametrize("shape", [(10**12,), (2**40, 2**40), (3,), (-1,), (-2, -4)])
def test_declared_shape_must_match_member_size(tmp_path, shape):
    member = _raw_npy({"descr": "<f8", "fortran_order": False, "shape": shape}, b"\x00" * 16)
    with pytest.raises(CheckpointError, match="declares"):
        load(one_array_checkpoint(tmp_path / "c.npz", member))


@pytest.mark.parametrize("descr", ["|V8", [("a", "<f4"), ("b", "<f4")], "<M8[s]", "|S0", "nonsense"])
def test_unsupported_or_invalid_dtypes_are_refused(tmp_path, descr):
    member = _raw_npy({"descr": descr, "fortran_order": False, "shape": (2,)}, b"\x00" * 16)
    with pytest.raises(CheckpointError, match="arr_0.npy"):
        load(one_array_checkpoint(tmp_path / "c.npz", member))


@pytest.mark.parametrize("tree, arrays, match", [
    ({"__type__": "ndarray", "array": 1}, 1, "arr_1.npy"),            # references a missing array
    ([{"__type__": "ndarray", "array": 0}], 2, "missing"),            # declared but absent
    ([], 1, "never referenced"),
    ({"__type__": "pickle", "array": 0}, 1, "malformed"),
    ({"__type__": "ndarray", "array": 0, "extra": 1}, 1, "malformed"),
    ({"__type__": "ndarray", "array": -1}, 1, "reference"),
    ({"__type__": "ndarray", "array": True}, 1, "reference"),
    ({"__type__": "numpy_scalar", "array": 0}, 1, "0-d"),
    ({"__type__": "tensor", "array": 0, "requires_grad": [1], "parameter": False}, 1, "flags"),
    ({"__type__": "dict", "items": [[[1], 2]]}, 1, "dict item"),
    ({"__type__": "dict", "items": {"a": 1}}, 1, "items"),
    ({"__type__": "float", "value": "__import__('os')"}, 1, "float"),
])
def test_malformed_structure_is_refused(tmp_path, tree, arrays, match):
    path = write_zip(tmp_path / "c.npz", [("__meta__.json", meta_bytes(tree, arrays)),
                                          ("arr_0.npy", npy_bytes(np.ones(2)))])
    with pytest.raises(CheckpointError, match=match):
        load(path)


def test_int_tensor_marked_requires_grad_is_refused(tmp_path):
    tree = {"__type__": "tensor", "array": 0, "requires_grad": True, "parameter": False}
    with pytest.raises(CheckpointError, match="requires_grad"):
        load(one_array_checkpoint(tmp_path / "c.npz", npy_bytes(np.arange(3)), tree))


def test_duplicate_and_compressed_members_are_refused(tmp_path):
    meta = meta_bytes({"__type__": "ndarray", "array": 0}, 1)
    dup = [("__meta__.json", meta), ("arr_0.npy", npy_bytes(np.ones(2))),
           ("arr_0.npy", npy_bytes(np.zeros(2)))]
    with pytest.warns(UserWarning, match="Duplicate"):
        write_zip(tmp_path / "dup.npz", dup)
    with pytest.raises(CheckpointError, match="twice"):
        load(tmp_path / "dup.npz")
    write_zip(tmp_path / "z.npz", dup[:2], compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="compressed"):
        load(tmp_path / "z.npz")


def test_extra_bytes_after_array_data_are_refused(tmp_path):
    member = npy_bytes(np.ones(2)) + b"\x00" * 8
    with pytest.raises(CheckpointError, match="declares"):
        load(one_array_checkpoint(tmp_path / "c.npz", member))


def test_truncated_checkpoints_are_refused(tmp_path):
    save(nested_state(), tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    for cut in [0, 1, 4, 30, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1]:
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="cut.npz"):
            load(tmp_path / "cut.npz")


def test_flipped_bytes_in_data_and_meta_are_detected(tmp_path):
    save({"w": np.arange(64, dtype=np.float32), "name": "abc"}, tmp_path / "good.npz")
    data = bytearray((tmp_path / "good.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "good.npz") as zf:
        offsets = {i.filename: i.header_offset + 30 + len(i.filename) for i in zf.infolist()}
    for name, delta in [("arr_0.npy", 200), ("arr_0.npy", 10), ("__meta__.json", 5)]:
        bad = bytearray(data)
        bad[offsets[name] + delta] ^= 0x01  # one bit; only the CRC can notice
        (tmp_path / "bad.npz").write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="CRC|header|JSON"):
            load(tmp_path / "bad.npz")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
    assert serialization.FORMAT_VERSION == FORMAT_VERSION
