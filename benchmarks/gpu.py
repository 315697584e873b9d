"""Training-step benchmark on the GPU: minitransformer on CuPy vs PyTorch CUDA (eager), float32.

    python benchmarks/gpu.py --config small            # or tiny, base, all
    python benchmarks/gpu.py --config base --steps 20 --repeats 3

The same measurement as train_step.py (which this script drives with
``--device cuda``): same model, data, loss, Adam, fresh child processes
alternating ours/torch, with a device synchronisation after every step.
Float32 throughout: TF32 is switched off on both sides (CUPY_TF32=0,
torch.backends.cuda.matmul.allow_tf32 = False), so the products are real
float32 ones.  The GEMM peak is a float32 ``--peak-size`` (8192) product in
CuPy and in PyTorch, best of several.  Memory is what each library's
caching allocator holds: CuPy's default memory pool (total_bytes) and
PyTorch's ``max_memory_reserved``, minus the amount after the model is built.

Without CuPy or a GPU the script says why and exits 0; without a CUDA
PyTorch it measures ours only.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import train_step  # noqa: E402


def probe() -> dict:
    """What this machine offers: CuPy with a GPU? PyTorch with CUDA? (run in a child)"""
    out = dict(cupy=None, gpu=None, torch_cuda=False, torch=None)
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            raise RuntimeError("no CUDA device visible")
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        out["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        out["gpu_memory_gb"] = round(props["totalGlobalMem"] / 2**30, 1)
        out["cupy"] = cupy.__version__
        out["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable CuPy GPU
        out["cupy_error"] = f"{type(exc).__name__}: {exc}"
    if out["cupy"] is not None and harness.torch_version() is not None:   # torch only matters with a GPU
        import torch

        out["torch"] = torch.__version__
        out["torch_cuda"] = bool(torch.cuda.is_available())
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--probe"]:
        harness.emit(probe())
        return None
    if "--child" in argv:          # children are train_step.py's; kept for symmetry
        return train_step.main(argv, device_default="cuda", ours_lib="cupy")
    info = harness.run_child("gpu.py", ["--probe"], threads=1)
    if info["cupy"] is None:
        print(f"gpu.py: skipped, no usable GPU for minitransformer's CuPy backend ({info.get('cupy_error')}); "
              "install CuPy (pip install 'minitransformer[gpu]') on a machine with an NVIDIA GPU")
        return None
    if not info["torch_cuda"]:
        why = "not installed" if info["torch"] is None else f"{info['torch']} has no CUDA"
        print(f"gpu.py: PyTorch with CUDA unavailable ({why}): measuring ours only")
        argv += ["--impl", "ours"]
    if not any(a == "--peak-size" or a.startswith("--peak-size=") for a in argv):
        argv += ["--peak-size", "8192"]
    header = {"gpu": f"{info['gpu']} ({info['gpu_memory_gb']} GiB), CuPy {info['cupy']}, "
                     f"CUDA runtime {info['cuda_runtime']}, PyTorch {info['torch']}"}
    return train_step.main(argv, title="training step on the GPU: minitransformer (CuPy) vs PyTorch CUDA (float32)",
                           device_default="cuda", ours_lib="cupy", header=header)


if __name__ == "__main__":
    main()
