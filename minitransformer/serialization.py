"""Safe checkpoints: ``mt.save(obj, path)`` and ``mt.load(path, backend=None)``.

    mt.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": 1200}, "ckpt.npz")
    state = mt.load("ckpt.npz")

Why not pickle?  ``pickle.load`` runs whatever code the file names, so a
downloaded checkpoint could own your machine.  Here a checkpoint is *data
only*: arrays and a JSON description of the tree that holds them.

File format (``FORMAT_NAME`` "minitransformer-checkpoint", ``FORMAT_VERSION`` 1)
--------------------------------------------------------------------------------
One uncompressed ZIP archive (so ``numpy.load`` can open it too) holding

* ``__meta__.json`` -- UTF-8 JSON ``{"format": "minitransformer-checkpoint",
  "version": 1, "arrays": N, "tree": TREE}``;
* ``arr_0.npy`` ... ``arr_{N-1}.npy`` -- one ``.npy`` file per array, each
  referenced by TREE.  Nothing else may be in the archive.

TREE encodes the saved object.  ``null``/``true``/``false``, JSON numbers
(ints of any size) and strings stand for themselves; a JSON list is a Python
list; every other node is an object tagged by ``"__type__"``:

* ``{"__type__": "dict" | "ordereddict", "items": [[key, value], ...]}`` --
  keys are strings or ints (optimizer state uses int keys), order is kept;
* ``{"__type__": "tuple", "items": [...]}``;
* ``{"__type__": "tensor", "array": i, "requires_grad": b, "parameter": b}`` --
  an ``mt.Tensor`` (an ``nn.Parameter`` when ``parameter``) over ``arr_i``;
  gradients and graph history are not saved;
* ``{"__type__": "ndarray", "array": i}`` -- a bare array;
* ``{"__type__": "numpy_scalar", "array": i}`` -- e.g. ``numpy.float32(0.5)``,
  stored as a 0-d array;
* ``{"__type__": "float", "value": "nan" | "inf" | "-inf"}`` (JSON has no NaN).

An object saved twice (tied weights) is stored once and loads as one object.
Arrays may be bool, int, uint, float, complex or fixed-width str/bytes; never
object arrays, which would need pickle.

Safety: writes are atomic (a temporary file, fsync, ``os.replace``), so a crash
mid-save leaves the previous checkpoint intact.  ``load`` never unpickles and
never evaluates code; it checks every member name, the meta, each ``.npy``
header and each declared size against the real data *before* allocating, and
raises ``CheckpointError`` for anything wrong -- never a partial result.
"""
from __future__ import annotations

import json
import math
import os
import re
import struct
import zipfile
from collections import OrderedDict

import numpy
import numpy.lib.format as npy_format

from . import backend as _backend
from .autograd import Tensor
from .autograd.tensor import _is_array
from .nn.parameter import Parameter

__all__ = ["CheckpointError", "FORMAT_NAME", "FORMAT_VERSION", "load", "save"]

FORMAT_NAME = "minitransformer-checkpoint"
FORMAT_VERSION = 1
META_NAME = "__meta__.json"
_ARRAY_NAME = re.compile(r"arr_(0|[1-9][0-9]{0,8})\.npy")
_ARRAY_KINDS = "biufcSU"  # bool, int, uint, float, complex, bytes, str: no pickle needed
_CHUNK = 1 << 24  # read array data 16 MiB at a time
_NODE_FIELDS = {  # the exact keys of each tagged node of the tree
    "dict": {"__type__", "items"}, "ordereddict": {"__type__", "items"},
    "tuple": {"__type__", "items"}, "float": {"__type__", "value"},
    "ndarray": {"__type__", "array"}, "numpy_scalar": {"__type__", "array"},
    "tensor": {"__type__", "array", "requires_grad", "parameter"},
}


class CheckpointError(ValueError):
    """A file is not a valid, safe minitransformer checkpoint."""


# ============================================================== saving
def _check_dtype(dtype, where: str) -> None:
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.itemsize == 0:
        raise TypeError(
            f"save: cannot store an array of dtype {dtype} at {where}; checkpoints hold "
            "bool/int/uint/float/complex/str arrays (object arrays would need pickle)"
        )


class _Encoder:
    """Turns a Python tree into JSON-able nodes, collecting arrays on the side."""

    def __init__(self):
        self.arrays: list = []      # host NumPy arrays, arr_i.npy in order
        self._memo: dict = {}       # id(tensor or array) -> node, so sharing survives
        self._keep: list = []       # keep memoized objects alive (ids stay unique)
        self._active: set = set()   # ids of containers being encoded: detects cycles

    def _add(self, obj, host, node: dict, where: str) -> dict:
        if id(obj) in self._memo:
            return self._memo[id(obj)]
        _check_dtype(host.dtype, where)
        node["array"] = len(self.arrays)
        self.arrays.append(host)
        self._memo[id(obj)] = node
        self._keep.append(obj)
        return node

    def encode(self, obj, where: str = "obj"):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, numpy.generic):  # before float: numpy.float64 is a float
            return self._add(obj, numpy.asarray(obj), {"__type__": "numpy_scalar"}, where)
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"__type__": "float", "value": repr(obj)}
        if isinstance(obj, Tensor):
            node = {"__type__": "tensor", "requires_grad": obj.requires_grad,
                    "parameter": isinstance(obj, Parameter)}
            return self._add(obj, _backend.to_host(obj.data), node, where)
        if _is_array(obj):
            return self._add(obj, _backend.to_host(obj), {"__type__": "ndarray"}, where)
        if not isinstance(obj, (dict, list, tuple)):
            raise TypeError(
                f"save: cannot store an object of type {type(obj).__name__} at {where}; "
                "checkpoints hold dicts, lists, tuples, Tensors, arrays, numbers, str and None"
            )
        if id(obj) in self._active:
            raise ValueError(f"save: {where} contains itself (a reference cycle)")
        self._active.add(id(obj))
        try:
            if isinstance(obj, list):
                return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            if isinstance(obj, tuple):
                return {"__type__": "tuple",
                        "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int, numpy.integer)):
                    raise TypeError(f"save: dict key {k!r} at {where} is a {type(k).__name__}; "
                                    "keys must be str or int")
                items.append([k if isinstance(k, str) else int(k), self.encode(v, f"{where}[{k!r}]")])
            kind = "ordereddict" if isinstance(obj, OrderedDict) else "dict"
            return {"__type__": kind, "items": items}
        finally:
            self._active.discard(id(obj))


def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays, numbers, str, None) to ``path``.

    Atomic: the archive is written to a temporary file in the same directory,
    flushed and fsync'ed, then renamed over ``path`` with ``os.replace``; a
    crash or an exception at any point leaves the old ``path`` untouched and
    removes the temporary file.  Raises TypeError for an object it cannot store.
    """
    path = os.fspath(path)
    encoder = _Encoder()
    tree = encoder.encode(obj)  # fail on an unsupported object before touching the disk
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
            "arrays": len(encoder.arrays), "tree": tree}
    meta_bytes = json.dumps(meta, allow_nan=False, separators=(",", ":")).encode("utf-8")

    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    # os.open with 0o666 lets the umask pick the permissions, as open() would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                zf.writestr(META_NAME, meta_bytes)
                for i, arr in enumerate(encoder.arrays):
                    big = arr.nbytes + 4096 > zipfile.ZIP64_LIMIT  # needs ZIP64 size fields
                    with zf.open(f"arr_{i}.npy", "w", force_zip64=big) as member:
                        npy_format.write_array(member, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave a half-written temp file
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself (POSIX); best effort, a no-op where unsupported."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# ============================================================= loading
# What a hostile or damaged ZIP can make zipfile raise while it is parsed.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
               struct.error, NotImplementedError, OverflowError)


def load(path, backend: str | None = None):
    """Read a checkpoint written by ``save``; arrays and Tensors go to ``backend``.

    ``backend`` is 'numpy' or 'cupy'; the default is the current backend
    (``mt.get_backend()``).  Numbers, strings and NumPy scalars are returned
    as saved.  Raises FileNotFoundError for a missing file and CheckpointError
    (a ValueError) for anything that is not a valid, safe checkpoint.
    """
    path = os.fspath(path)
    xp = _backend.array_module(backend or _backend.get_backend())
    with open(path, "rb") as f:  # FileNotFoundError names the path
        archive_size = os.fstat(f.fileno()).st_size
        try:
            with zipfile.ZipFile(f) as zf:
                return _Decoder(path, zf, archive_size, xp).run()
        except CheckpointError:
            raise
        except RecursionError as exc:
            raise CheckpointError(f"{path!r}: checkpoint structure is nested too deeply") from exc
        except _ZIP_ERRORS as exc:
            raise CheckpointError(
                f"{path!r} is not a readable checkpoint (truncated, corrupted or not a "
                f"ZIP archive): {type(exc).__name__}: {exc}"
            ) from exc


class _Decoder:
    """Validates one open archive and rebuilds the saved tree."""

    def __init__(self, path, zf, archive_size, xp):
        self.path, self.zf, self.archive_size, self.xp = path, zf, archive_size, xp
        self.host: dict = {}   # array index -> validated host array
        self.built: dict = {}  # (kind, index) -> restored object (shared objects stay shared)

    def fail(self, what: str):
        raise CheckpointError(f"{self.path!r}: {what}")

    def run(self):
        infos = self._check_members()
        meta = self._read_meta(infos)
        count = meta["arrays"]
        for name in infos:
            if name != META_NAME and int(name[4:-4]) >= count:
                self.fail(f"member {name!r} is not declared (the meta declares {count} arrays)")
        if len(infos) != count + 1:
            missing = next(f"arr_{i}.npy" for i in range(count) if f"arr_{i}.npy" not in infos)
            self.fail(f"array member {missing!r} is missing")
        self.infos = infos
        tree = self.decode(meta["tree"])
        unused = sorted(set(range(count)) - set(self.host))
        if unused:
            self.fail(f"array member 'arr_{unused[0]}.npy' is stored but never referenced")
        return tree

    def _check_members(self) -> dict:
        names = [info.filename for info in self.zf.infolist()]
        if META_NAME not in names:
            self.fail(f"no {META_NAME} member (members: {names[:5]}): "
                      "not a minitransformer checkpoint")
        infos = {}
        for info in self.zf.infolist():
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in name or ":" in name:
                self.fail(f"member name {name!r} tries to escape the archive (path traversal)")
            if name != META_NAME and not _ARRAY_NAME.fullmatch(name):
                self.fail(f"unexpected member {name!r} (a checkpoint holds only "
                          f"{META_NAME} and arr_<i>.npy)")
            if name in infos:
                self.fail(f"member {name!r} appears twice")
            if info.flag_bits & 0x1:
                self.fail(f"member {name!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED:
                self.fail(f"member {name!r} is compressed (method {info.compress_type}); "
                          "checkpoints are stored uncompressed")
            if info.file_size != info.compress_size or info.file_size > self.archive_size:
                self.fail(f"member {name!r} declares sizes {info.compress_size} (stored) and "
                          f"{info.file_size} (data) in an archive of {self.archive_size} bytes "
                          "(truncated or corrupted)")
            infos[name] = info
        return infos

    def _read_meta(self, infos) -> dict:
        try:
            meta = json.loads(self.zf.read(infos[META_NAME]).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.fail(f"{META_NAME} is not valid UTF-8 JSON ({exc})")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            self.fail(f"{META_NAME} does not name the format {FORMAT_NAME!r}")
        version = meta.get("version")
        if not _is_index(version) or version < 1:
            self.fail(f"invalid format version {version!r}")
        if version > FORMAT_VERSION:
            self.fail(f"format version {version} is newer than this minitransformer reads "
                      f"(up to {FORMAT_VERSION}); upgrade minitransformer")
        if set(meta) != {"format", "version", "arrays", "tree"} or not _is_index(meta["arrays"]):
            self.fail(f"{META_NAME} must hold exactly format, version, arrays (a count) and tree")
        return meta

    # ------------------------------------------------------------ tree
    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        kind = node.get("__type__")
        fields = _NODE_FIELDS.get(kind) if isinstance(kind, str) else None
        if fields is None or set(node) != fields:
            self.fail(f"malformed node in the structure: {str(node)[:80]}")
        if kind in ("dict", "ordereddict"):
            out = OrderedDict() if kind == "ordereddict" else {}
            for pair in _as_list(node["items"], self):
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], (str, int))):
                    self.fail(f"malformed dict item {str(pair)[:80]} (want [str-or-int key, value])")
                out[pair[0]] = self.decode(pair[1])
            return out
        if kind == "tuple":
            return tuple(self.decode(v) for v in _as_list(node["items"], self))
        if kind == "float":
            if node["value"] not in ("nan", "inf", "-inf"):
                self.fail(f"bad special float {node['value']!r}")
            return float(node["value"])
        index = node["array"]
        if not _is_index(index):
            self.fail(f"bad array reference {index!r}")
        flags = (node.get("requires_grad", False), node.get("parameter", False))
        if not all(isinstance(flag, bool) for flag in flags):
            self.fail(f"tensor node for arr_{index}.npy has non-boolean flags")
        key = (kind, index, *flags)
        if key not in self.built:
            self.built[key] = self._build(kind, index, node)
        return self.built[key]

    def _build(self, kind, index, node):
        arr = self._array(index)
        if kind == "numpy_scalar":
            if arr.ndim != 0:
                self.fail(f"arr_{index}.npy holds shape {arr.shape}, not a 0-d scalar")
            return arr[()]
        data = arr if self.xp is numpy else self.xp.asarray(arr)
        if kind == "ndarray":
            return data
        grad, param = node["requires_grad"], node["parameter"]
        if grad and arr.dtype.kind != "f":
            self.fail(f"arr_{index}.npy has dtype {arr.dtype} but is marked requires_grad")
        t = Parameter.__new__(Parameter) if param else Tensor.__new__(Tensor)
        Tensor.__init__(t, data, requires_grad=grad)  # no dtype cast: float64 stays float64
        return t

    # ----------------------------------------------------------- arrays
    def _array(self, index: int):
        if index in self.host:
            return self.host[index]
        name = f"arr_{index}.npy"
        info = self.infos.get(name)
        if info is None:
            self.fail(f"the structure references {name!r}, which is not in the archive")
        with self.zf.open(info) as fp:
            try:
                version = npy_format.read_magic(fp)
                if version not in ((1, 0), (2, 0)):
                    raise ValueError(f"unsupported .npy version {version}")
                reader = (npy_format.read_array_header_1_0 if version == (1, 0)
                          else npy_format.read_array_header_2_0)
                shape, fortran, dtype = reader(fp)
            except zipfile.BadZipFile:
                raise  # a CRC error found while reading: reported as corruption by load
            except Exception as exc:  # noqa: BLE001  NumPy's header parser (literal_eval,
                # tokenize, dtype parsing) raises many exception types on hostile text;
                # any of them means the same thing here: a bad header.
                self.fail(f"{name} has an invalid .npy header: {type(exc).__name__}: {exc}")
            if dtype.hasobject:
                self.fail(f"{name} holds Python objects (dtype {dtype}), which would need pickle")
            if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.itemsize == 0:
                self.fail(f"{name} has unsupported dtype {dtype}")
            if any(d < 0 for d in shape):
                self.fail(f"{name} declares a negative shape {shape}")
            count = math.prod(shape)
            declared, actual = count * dtype.itemsize, info.file_size - fp.tell()
            if declared != actual:  # checked BEFORE allocating: no huge buffer from a tiny file
                self.fail(f"{name} declares shape {shape} of {dtype} ({declared} bytes) but "
                          f"holds {actual} bytes of data")
            flat = numpy.empty(count, dtype=dtype)
            buf, pos = flat.view(numpy.uint8), 0
            while pos < declared:
                chunk = fp.read(min(_CHUNK, declared - pos))
                if not chunk:
                    self.fail(f"{name} ends early (truncated)")
                buf[pos:pos + len(chunk)] = numpy.frombuffer(chunk, dtype=numpy.uint8)
                pos += len(chunk)
            if fp.read(1):  # also reaches the end of the member, where zipfile checks the CRC
                self.fail(f"{name} has data beyond its declared shape")
        arr = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
        self.host[index] = arr
        return arr


def _is_index(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _as_list(items, decoder):
    if not isinstance(items, list):
        decoder.fail(f"malformed items {str(items)[:80]} (want a JSON list)")
    return items
