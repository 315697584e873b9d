"""minitransformer.memory: the allocator setting of the command and the benchmarks."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_reuse_freed_memory_is_accepted_and_large_arrays_still_work():
    # a fresh interpreter: the setting is process-wide
    code = (
        "import numpy as np\n"
        "from minitransformer.memory import reuse_freed_memory\n"
        "assert reuse_freed_memory() is True\n"
        "for _ in range(3):\n"
        "    a = np.ones((3000, 4000), dtype=np.float32)   # 48 MB, above glibc's mmap threshold\n"
        "    assert float(a.sum()) == 12e6\n"
        "    del a\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
