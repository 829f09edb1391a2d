"""The GPU half of ``train_throughput.py --device gpu``: minicnn on CuPy versus PyTorch on CUDA.

Both libraries train the same network (weights copied across) on the same random batch:
forward + backward + one SGD step (momentum 0.9, weight decay 5e-4), with the loss read
back to the host each step as a training loop does. Every timing starts and ends with a
device synchronisation (CuPy's and PyTorch's), after untimed warm-up steps that compile
CuPy's kernels and let cuDNN pick its algorithms (``torch.backends.cudnn.benchmark``).

PyTorch's TF32 tensor-core mode is switched off unless ``--torch-tf32``, so both sides do
float32 arithmetic and the card's float32 peak (CUDA cores, :data:`FP32_PEAKS`) is the
fair yardstick for the achieved TFLOP/s.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable

import numpy as np

import minicnn
from minicnn import backend, optim

#: Float32 peak of cards (CUDA cores, no tensor cores), TFLOP/s, matched by a substring of the
#: device name, most specific first; the third field says where the number comes from.
FP32_PEAKS: list[tuple[str, float, str]] = [
    ("H200 NVL", 60.0, "NVIDIA H200 datasheet, H200 NVL column: FP32 60 TFLOPS"),
    ("H200", 67.0, "NVIDIA H200 datasheet, H200 SXM column: FP32 67 TFLOPS (the H100 SXM's GH100 chip)"),
    ("H100 NVL", 60.0, "NVIDIA H100 datasheet, H100 NVL column: FP32 60 TFLOPS"),
    ("H100 PCIe", 51.0, "NVIDIA H100 datasheet, H100 PCIe column: FP32 51 TFLOPS"),
    ("H100", 67.0, "NVIDIA H100 datasheet, H100 SXM column: FP32 67 TFLOPS"),
    ("A100", 19.5, "NVIDIA A100 datasheet: FP32 19.5 TFLOPS"),
]

#: Float32 lanes (CUDA cores) per streaming multiprocessor, by compute capability (CUDA programming guide).
FP32_LANES_PER_SM = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128, (9, 0): 128}


def card_peak(properties: dict[str, Any], override: float | None) -> tuple[float | None, str, float | None]:
    """The card's float32 peak: ``(TFLOP/s or None, where it comes from, the value computed from the properties)``.

    The computed value is SMs x float32 lanes per SM x 2 (a fused multiply-add) x the boost clock,
    a cross-check of the table (None for a compute capability not in :data:`FP32_LANES_PER_SM`).
    """
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else str(properties["name"])
    lanes = FP32_LANES_PER_SM.get((properties["major"], properties["minor"]))
    clock_khz = properties.get("clockRate", 0)
    computed = properties["multiProcessorCount"] * lanes * 2 * clock_khz * 1e3 / 1e12 if lanes and clock_khz else None
    if override is not None:
        return override, "--peak-tflops", computed
    for key, peak, source in FP32_PEAKS:
        if key in name:
            return peak, source, computed
    if computed is not None:
        return computed, "computed: SMs x FP32 lanes x 2 x boost clock (card not in FP32_PEAKS)", computed
    return None, "unknown card: pass --peak-tflops", None


def timed(step: Callable[[], float], warmup: int, steps: int, sync: Callable[[], None]) -> tuple[float, float]:
    """Seconds per step over ``steps`` steps after ``warmup`` untimed ones; also the first step's loss."""
    first = step()
    for _ in range(warmup - 1):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - start) / steps, first


def run_gpu(args: argparse.Namespace) -> None:
    """Print the GPU table (see the module docstring)."""
    try:
        cp = backend._require_cupy()  # names `pip install .[gpu]` when CuPy or the device is missing
    except RuntimeError as error:
        raise SystemExit(f"--device gpu: {error}") from error
    import torch

    from benchmarks.torch_models import copy_weights, twin_of
    from benchmarks.train_throughput import batch_for, build, forward_flops, minicnn_step, torch_step

    if not torch.cuda.is_available():
        raise SystemExit(f"PyTorch {torch.__version__} sees no CUDA device: install a CUDA build of torch")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.torch_tf32
    torch.backends.cuda.matmul.allow_tf32 = args.torch_tf32
    properties = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    peak, source, computed = card_peak(properties, args.peak_tflops)
    name = properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"]

    def sync() -> None:
        cp.cuda.Device().synchronize()
        torch.cuda.synchronize()

    print(f"device: {name}; CuPy {cp.__version__}, CUDA runtime {cp.cuda.runtime.runtimeGetVersion()}, "
          f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), "
          f"minicnn {minicnn.__version__}")
    print(f"cuDNN benchmark on, PyTorch TF32 {'on' if args.torch_tf32 else 'off'}")
    print("float32 peaks known (TFLOP/s, CUDA cores):")
    for key, value, where in FP32_PEAKS:
        print(f"  {key:<10} {value:>5.1f}  {where}")
    computed_text = "n/a" if computed is None else f"{computed:.1f}"
    peak_text = "unknown" if peak is None else f"{peak:.1f} TFLOP/s"
    print(f"peak used: {peak_text} ({source}); computed from SMs x lanes x 2 x boost clock: {computed_text}")
    print(f"batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up; forward+backward+SGD step")
    print(f"{'network':<10} {'minicnn img/s':>14} {'PyTorch img/s':>14} {'ratio':>7} "
          f"{'minicnn TFLOP/s':>16} {'of peak':>8} {'PyTorch TFLOP/s':>16} {'of peak':>8}")
    rng = np.random.default_rng(0)
    notes = []
    for net in args.nets.split(","):
        model = build(net, args.variant)
        twin = twin_of(model)
        copy_weights(model, twin)  # on the host, before either model moves
        x, labels = batch_for(net, args.batch, rng)
        flops = 3 * forward_flops(twin, torch.from_numpy(x[:2]))  # a training step is about 3 forward passes
        model.to("gpu")
        twin = twin.cuda()
        gx, glabels = backend.to_device(x, "gpu"), [backend.to_device(y, "gpu") for y in labels]
        tx, tlabels = torch.from_numpy(x).cuda(), [torch.from_numpy(y).cuda() for y in labels]
        opt = optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
        topt = torch.optim.SGD(twin.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
        t_mine, loss_mine = timed(lambda: minicnn_step(model, opt, gx, glabels), args.warmup, args.steps, sync)
        t_torch, loss_torch = timed(lambda: torch_step(twin, topt, tx, tlabels), args.warmup, args.steps, sync)
        ips_m, ips_t = args.batch / t_mine, args.batch / t_torch
        tf_m, tf_t = flops * ips_m / 1e12, flops * ips_t / 1e12
        share = (lambda v: f"{v / peak:>7.1%}") if peak else (lambda v: f"{'n/a':>7}")
        print(f"{net:<10} {ips_m:>14.1f} {ips_t:>14.1f} {ips_m / ips_t:>6.2f}x "
              f"{tf_m:>16.2f} {share(tf_m):>8} {tf_t:>16.2f} {share(tf_t):>8}")
        sys.stdout.flush()
        pool = cp.get_default_memory_pool()
        notes.append(f"{net}: first-step loss minicnn {loss_mine:.6f}, PyTorch {loss_torch:.6f} "
                     f"(relative difference {abs(loss_mine - loss_torch) / abs(loss_torch):.1e}); "
                     f"{flops / 1e9:.3f} GFLOP per image per step; memory: CuPy pool {pool.total_bytes() / 2**20:.0f} MiB, "
                     f"PyTorch peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
        del model, twin, opt, topt, gx, glabels, tx, tlabels
        pool.free_all_blocks()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    for note in notes:
        print(note)
