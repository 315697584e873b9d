"""The errors an op raises for bad input: the op, the shapes and dtypes, and what is wrong."""
from __future__ import annotations

from ..backend import to_host


def shapes_error(op: str, *arrays, reason: str = "cannot be broadcast together") -> ValueError:
    """A ValueError naming the op and the shapes and dtypes of its inputs."""
    described = " and ".join(
        f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in arrays
    )
    return ValueError(f"{op}: shapes {described} {reason}")


def out_of_range(ids, n: int):
    """``(first bad id, how many)`` for integer ``ids`` outside 0..n-1, or None when all are in range.

    The smallest and largest id are copied to the host (on a GPU, a wait for
    the device): an index out of range must stop the program with a Python
    error here, where a device kernel would read past the table silently.
    """
    if not ids.size or (int(to_host(ids.min())) >= 0 and int(to_host(ids.max())) < n):
        return None
    bad = ids[(ids < 0) | (ids >= n)].ravel()
    return int(to_host(bad[0])), int(bad.size)
