"""Deep, exact equality of saved objects (checkpoints, state dicts, nested containers)."""
import math

import numpy as np

import minitransformer as mt


def assert_same(a, b, where="obj", ignore=()):
    """Recursive exact equality that also checks types, dtypes, shapes and key order.

    Arrays and tensors must match bit for bit (NaN equals NaN, and floats keep
    the sign of zero); a Tensor's ``requires_grad`` must match too.  Dict
    entries whose key is in ``ignore`` are skipped at every depth (e.g. the
    elapsed time of two otherwise identical runs).  ``where`` names the place
    that differs in the assertion message.
    """
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, mt.Tensor):
        assert a.requires_grad == b.requires_grad, where
        a, b = a.numpy(), b.numpy()
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), f"{where}: {a.dtype} vs {b.dtype}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{where} differs"
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), where
        for k in a:
            if k not in ignore:
                assert_same(a[k], b[k], f"{where}[{k!r}]", ignore)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", ignore)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"
