"""Fuzzing mt.load: damaged or hostile files may only raise CheckpointError.

Three attackers: (1) random bytes, (2) byte-level mutations of a valid
checkpoint (flips, truncation, insertion, deletion), (3) a well-formed ZIP
with valid CRCs whose JSON tree or .npy member is arbitrary -- which gets past
the ZIP checks and exercises the structure and header validation.  Whenever a
load succeeds, the result must be well-formed (only the types save can write).
"""
import io
import json
import zipfile
from collections import OrderedDict

import numpy as np
import numpy.lib.format as npy_format
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitransformer as mt
from minitransformer.backend import is_array
from minitransformer.nn import Parameter
from minitransformer.serialization import FORMAT_NAME, CheckpointError, load, save

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def valid(workdir):
    """A small valid checkpoint (bytes) and the object it holds."""
    obj = {
        "w": mt.tensor([[1.0, 2.0], [3.0, 4.0]]), "p": Parameter(np.ones(3, dtype=np.float32)),
        "opt": {0: {"step": 2, "m": np.arange(3, dtype=np.int64)}}, "t": (True, None, "é"),
        "s": np.float32(0.5), "big": 2**70,
    }
    save(obj, workdir / "valid.npz")
    return (workdir / "valid.npz").read_bytes(), obj


def well_formed(x) -> bool:
    """Only the node types that save can write, with arrays of the allowed kinds."""
    if x is None or isinstance(x, (bool, int, float, str)):
        return True
    if isinstance(x, mt.Tensor):
        x = x.data
    if is_array(x) or isinstance(x, np.generic):   # an array of the session's backend, or a scalar
        return x.dtype.kind in "biufcSU" and x.dtype.fields is None
    if isinstance(x, (list, tuple)):
        return all(well_formed(v) for v in x)
    if isinstance(x, (dict, OrderedDict)):
        return all(isinstance(k, (str, int)) and well_formed(v) for k, v in x.items())
    return False


def load_bytes(workdir, data: bytes):
    """Load ``data`` from a file; return the result, or None when refused."""
    path = workdir / "fuzzed.npz"
    path.write_bytes(data)
    try:
        out = load(path)
    except CheckpointError as exc:
        assert "fuzzed.npz" in str(exc)  # the message names the file
        return None
    assert well_formed(out), out
    return out


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(workdir, data):
    assert load_bytes(workdir, data) is None


@st.composite
def mutations(draw, size: int):
    """A list of edits: ("flip", pos, mask), ("cut", pos), ("insert", pos, bytes), ("delete", pos, n)."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, size))
        if kind == "flip":
            edits.append((kind, pos, draw(st.integers(1, 255))))
        elif kind == "insert":
            edits.append((kind, pos, draw(st.binary(min_size=1, max_size=16))))
        elif kind == "delete":
            edits.append((kind, pos, draw(st.integers(1, 16))))
        else:
            edits.append((kind, pos))
    return edits


def apply(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for kind, pos, *arg in edits:
        pos = min(pos, len(buf))
        if kind == "flip" and pos < len(buf):
            buf[pos] ^= arg[0]
        elif kind == "cut":
            del buf[pos:]
        elif kind == "insert":
            buf[pos:pos] = arg[0]
        elif kind == "delete":
            del buf[pos:pos + arg[0]]
    return bytes(buf)


@FUZZ
@given(st.data())
def test_mutated_valid_checkpoint(workdir, valid, data):
    good, obj = valid
    edits = data.draw(mutations(len(good)))
    out = load_bytes(workdir, apply(good, edits))
    if out is not None:  # a mutation the CRCs cannot see (e.g. a timestamp) changes nothing
        assert sorted(out) == sorted(obj)
        np.testing.assert_array_equal(out["w"].numpy(), obj["w"].numpy())
        assert out["opt"][0]["step"] == 2 and out["big"] == 2**70


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
    | st.sampled_from(["dict", "ordereddict", "tuple", "tensor", "ndarray", "numpy_scalar",
                       "float", "items", "array", "nan", "__type__"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["__type__", "items", "array", "value", "requires_grad",
                                       "parameter", "x"]), inner, max_size=4),
    max_leaves=20,
)


def npy(arr) -> bytes:
    buf = io.BytesIO()
    npy_format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def archive(meta, members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("__meta__.json", json.dumps(meta))
        for name, payload in members:
            zf.writestr(name, payload)
    return buf.getvalue()


@FUZZ
@given(tree=json_values, arrays=st.integers(0, 3))
def test_arbitrary_structure_in_a_valid_zip(workdir, tree, arrays):
    members = [(f"arr_{i}.npy", npy(np.arange(i, dtype=np.float32))) for i in range(arrays)]
    meta = {"format": FORMAT_NAME, "version": 1, "arrays": arrays, "tree": tree}
    load_bytes(workdir, archive(meta, members))


@FUZZ
@given(st.data())
# a mutated header may read as written by Python 2: NumPy warns, and parses it
@pytest.mark.filterwarnings("ignore:Reading `.npy` or `.npz` file required additional header parsing")
def test_mutated_npy_member_in_a_valid_zip(workdir, data):
    member = bytearray(npy(np.arange(6, dtype=np.int16).reshape(2, 3)))
    edits = data.draw(mutations(len(member)))
    meta = {"format": FORMAT_NAME, "version": 1, "arrays": 1,
            "tree": {"__type__": "ndarray", "array": 0}}
    out = load_bytes(workdir, archive(meta, [("arr_0.npy", apply(bytes(member), edits))]))
    if out is not None:
        assert is_array(out)
