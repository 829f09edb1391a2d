"""Training throughput of the paper's networks: minicnn versus PyTorch, same machine, same run.

For each network, both libraries run forward + backward + one SGD step
(momentum 0.9, weight decay 5e-4) on the same random batch, with the same
number of threads. minicnn is timed twice: the plain step (the matrix products
use the BLAS threads, everything else one core) and the data-parallel step
(``minicnn.parallel.DataParallel``: the batch split over the threads, one model
replica each, what ``--threads`` does in the experiment scripts). Prints images/s
for each, the ratios to PyTorch, the GFLOP/s achieved (the faster minicnn step)
and the fraction of this machine's measured float32 matrix-product rate.

With ``--device gpu`` minicnn runs on CuPy and PyTorch on CUDA (cuDNN autotuning on,
TF32 off unless ``--torch-tf32``, so both do true float32 arithmetic); each timing is
bracketed by device synchronisations, and the achieved TFLOP/s is compared with the
card's float32 peak (see ``benchmarks/gpu_throughput.py`` for the table and its sources).

    python benchmarks/train_throughput.py                      # all three nets, batch 64, 2 threads
    python benchmarks/train_throughput.py --nets multitask --steps 20
    python benchmarks/train_throughput.py --device gpu         # multitask and lenet, batch 256
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="cpu: NumPy vs PyTorch; gpu: CuPy vs CUDA")
    p.add_argument("--nets", default=None,
                   help="comma list of multitask, gender, lenet (default: all three on cpu, multitask,lenet on gpu)")
    p.add_argument("--batch", type=int, default=None, help="images per step (default 64 on cpu, 256 on gpu)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per library and network (default 10 cpu, 50 gpu)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 2 cpu, 5 gpu)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variant", default="authors-code", help="paper network variant (authors-code: the 141 MFLOP trunk)")
    p.add_argument("--peak-tflops", type=float, default=None, help="gpu: the card's float32 peak, if not in the table")
    p.add_argument("--torch-tf32", action="store_true", help="gpu: let PyTorch use TF32 tensor cores (off by default)")
    args = p.parse_args(argv)
    gpu = args.device == "gpu"
    defaults = {"nets": "multitask,lenet" if gpu else "multitask,gender,lenet", "batch": 256 if gpu else 64,
                "steps": 50 if gpu else 10, "warmup": 5 if gpu else 2}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before NumPy / PyTorch load their BLAS
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import minicnn  # noqa: E402
from minicnn import Tensor, optim  # noqa: E402
from minicnn.functions.loss import cross_entropy  # noqa: E402
from facestack.models import GenderNet, LeNetAge, MultiTaskNet  # noqa: E402
from minicnn.parallel import DataParallel  # noqa: E402


def build(name: str, variant: str):
    """(minicnn model, number of outputs per task) for a network name."""
    if name == "multitask":
        return MultiTaskNet(variant=variant, dropout=0.0)
    if name == "gender":
        return GenderNet(variant=variant, dropout=0.0)
    if name == "lenet":
        return LeNetAge()
    raise SystemExit(f"unknown network {name!r}: choose from multitask, gender, lenet")


def forward_flops(torch_model, x) -> float:
    """Multiply-adds x 2 of every Conv2d and Linear in one forward pass, per image."""
    import torch

    total = [0.0]

    def hook(mod, inp, out):
        if isinstance(mod, torch.nn.Conv2d):
            kh, kw = mod.kernel_size
            total[0] += 2.0 * out.numel() * mod.in_channels * kh * kw
        elif isinstance(mod, torch.nn.Linear):
            total[0] += 2.0 * out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in torch_model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        torch_model(x)
    for h in handles:
        h.remove()
    return total[0] / x.shape[0]


def matmul_rate(threads: int) -> float:
    """Measured float32 GEMM rate of NumPy here, GFLOP/s (2048^3, best of 5)."""
    n = 2048
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def losses(outputs, labels):
    if isinstance(outputs, tuple):
        return [cross_entropy(o, y) for o, y in zip(outputs, labels)]
    return [cross_entropy(outputs, labels[0])]


def minicnn_parallel_step(parallel, opt, x, labels):
    """The same step with the batch split over threads (``minicnn.parallel.DataParallel``)."""
    opt.zero_grad()

    def work(replicas, part, share):
        ls = losses(replicas[0](Tensor(x[part])), [y[part] for y in labels])
        total = ls[0]
        for extra in ls[1:]:
            total = total + extra
        (total * share).backward()
        return total.item() * share

    value = sum(parallel.run(work, len(x)))
    opt.step()
    return value


def minicnn_step(model, opt, x, labels):
    opt.zero_grad()
    ls = losses(model(Tensor(x)), labels)
    total = ls[0]
    for extra in ls[1:]:
        total = total + extra
    total.backward()
    opt.step()
    return total.item()


def torch_step(model, opt, x, labels):
    import torch.nn.functional as F

    opt.zero_grad()
    out = model(x)
    outs = out if isinstance(out, tuple) else (out,)
    total = sum(F.cross_entropy(o, y) for o, y in zip(outs, labels))
    total.backward()
    opt.step()
    return total.item()


def time_steps(step, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def batch_for(name: str, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """A random float32 (batch, 1, 128, 128) batch and the labels of ``name``'s tasks."""
    x = rng.random((batch, 1, 128, 128), dtype=np.float32)
    labels = [rng.integers(0, 2, batch), rng.integers(0, 4, batch)]
    if name == "lenet":
        labels = [labels[1]]
    elif name == "gender":
        labels = [labels[0]]
    return x, labels


def run(args: argparse.Namespace) -> None:
    if args.device == "gpu":
        from benchmarks.gpu_throughput import run_gpu

        run_gpu(args)
        return
    import torch

    from benchmarks.torch_models import copy_weights, twin_of

    torch.set_num_threads(args.threads)
    try:
        import numba

        numba.set_num_threads(args.threads)
    except Exception:
        pass
    gemm = matmul_rate(args.threads)
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads; NumPy {np.__version__}, PyTorch {torch.__version__}, "
          f"minicnn {minicnn.__version__}; float32 matmul {gemm:.1f} GFLOP/s")
    print(f"batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up; forward+backward+SGD step")
    header = (f"{'network':<10} {'minicnn img/s':>14} {'data-parallel':>14} {'PyTorch img/s':>14} {'ratio':>7} "
              f"{'d-p ratio':>9} {'GFLOP/s':>8} {'of GEMM':>8}")
    print(header)
    rng = np.random.default_rng(0)
    for name in args.nets.split(","):
        model = build(name, args.variant)
        twin = twin_of(model)
        copy_weights(model, twin)
        x, labels = batch_for(name, args.batch, rng)
        tx = torch.from_numpy(x)
        tlabels = [torch.from_numpy(y) for y in labels]
        opt = optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
        topt = torch.optim.SGD(twin.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
        parallel = DataParallel([model], threads=args.threads)
        t_mine = time_steps(lambda: minicnn_step(model, opt, x, labels), args.warmup, args.steps)
        t_dp = time_steps(lambda: minicnn_parallel_step(parallel, opt, x, labels), args.warmup, args.steps)
        t_torch = time_steps(lambda: torch_step(twin, topt, tx, tlabels), args.warmup, args.steps)
        parallel.close()
        flops = 3 * forward_flops(twin, tx[:2])  # a training step is about 3 forward passes
        ips_m, ips_dp, ips_t = args.batch / t_mine, args.batch / t_dp, args.batch / t_torch
        gflops = flops * max(ips_m, ips_dp) / 1e9
        print(f"{name:<10} {ips_m:>14.1f} {ips_dp:>14.1f} {ips_t:>14.1f} {ips_m / ips_t:>6.2f}x {ips_dp / ips_t:>8.2f}x "
              f"{gflops:>8.1f} {gflops / gemm:>7.0%}")
        sys.stdout.flush()


if __name__ == "__main__":
    run(ARGS)
