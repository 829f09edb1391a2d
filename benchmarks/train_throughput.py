"""Training throughput of the paper's networks: minicnn versus PyTorch, same machine, same run.

For each network, both libraries run forward + backward + one SGD step
(momentum 0.9, weight decay 5e-4) on the same random batch, with the same
number of threads (``--threads``, 2 by default), in one process:

* **PyTorch, stock**: the twin of ``benchmarks/torch_models.py`` with
  ``torch.nn.LocalResponseNorm`` (its window sum is an ``avg_pool3d``, whose
  backward dominates PyTorch's step on the networks with LRN);
* **PyTorch, expert LRN**: the same twin with the LRN an expert would write
  (``ExpertLocalResponseNorm``: a hand-written backward, the window sum over
  channels as a prefix sum or as a product with a band matrix, whichever is faster
  at the network's shapes on this machine, timed at the start of the run);
* **minicnn, data-parallel** (``minicnn.parallel.DataParallel``: the batch split
  over the threads, one model replica each, what ``--threads`` does in the
  experiment scripts) and, with ``--plain``, minicnn's one-model step.

Both PyTorch runs use the CPU allocator's transparent huge pages
(``THP_MEM_ALLOC_ENABLE=1``, set before PyTorch loads; ``--no-torch-thp`` turns it
off), which spares them a page fault per 4 KB of every fresh activation, as NumPy
does by default; ``--torch-channels-last`` runs them in channels-last layout.
torch.compile is not used (``--torch-compile`` tries it).

The libraries are timed in interleaved rounds (``--rounds`` of ``--steps`` steps), so
a change of load hits all alike; the ratios are the median of the per-round ratios.
Each round also measures the **GEMM rate at the convolutions' sizes**: every thread
runs the products of one image through each convolution (forward, weight and input
gradients, as minicnn's im2col lays them out) side by side, one BLAS thread each.
The *GEMM fraction* is the step's FLOPs (multiply-adds x 2 of the convolutions and
linear layers, x 3 for forward and backward) per second over that rate (over a
2048^3 product's rate on ``--threads`` BLAS threads too). For the multi-task
network the run ends with issue #20's targets, each met or missed: the
data-parallel step >= 2.0x the faster PyTorch, >= 60% of the GEMM rate, the
evaluation on every core, one face's inference < 5 ms on one thread, a step's peak
memory <= PyTorch's (``benchmarks/memory_and_inference.py``).

With ``--device gpu`` minicnn runs on CuPy and PyTorch on CUDA (cuDNN autotuning on,
TF32 off unless ``--torch-tf32``, so both do true float32 arithmetic); each timing is
bracketed by device synchronisations, and the achieved TFLOP/s is compared with the
card's float32 peak (see ``benchmarks/gpu_throughput.py`` for the table and its sources).

    python benchmarks/train_throughput.py                      # all three nets, batch 64, 2 threads
    python benchmarks/train_throughput.py --nets multitask --rounds 5
    python benchmarks/train_throughput.py --device gpu         # multitask and lenet, batch 256
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="cpu: NumPy vs PyTorch; gpu: CuPy vs CUDA")
    p.add_argument("--nets", default=None,
                   help="comma list of multitask, gender, lenet (default: all three on cpu, multitask,lenet on gpu)")
    p.add_argument("--batch", type=int, default=None, help="images per step (default 64 on cpu, 256 on gpu)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per library and round (default 3 cpu, 50 gpu)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 1 cpu, 5 gpu)")
    p.add_argument("--rounds", type=int, default=3, help="cpu: interleaved timing rounds (the ratios are their median)")
    p.add_argument("--plain", action="store_true", help="cpu: also time minicnn's one-model step")
    p.add_argument("--torch-lrn", choices=("auto", "cumsum", "band"), default="auto",
                   help="cpu: the expert LRN's window sum (auto: the faster one at the network's shapes)")
    p.add_argument("--no-torch-thp", action="store_true", help="cpu: leave PyTorch's allocator without huge pages")
    p.add_argument("--torch-channels-last", action="store_true", help="cpu: run both PyTorch twins channels-last")
    p.add_argument("--torch-compile", action="store_true", help="cpu: torch.compile the expert twin (slow to compile)")
    p.add_argument("--no-targets", action="store_true", help="cpu: skip the memory and inference runs of the targets")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variant", default="authors-code", help="paper network variant (authors-code: the 141 MFLOP trunk)")
    p.add_argument("--peak-tflops", type=float, default=None, help="gpu: the card's float32 peak, if not in the table")
    p.add_argument("--torch-tf32", action="store_true", help="gpu: let PyTorch use TF32 tensor cores (off by default)")
    args = p.parse_args(argv)
    gpu = args.device == "gpu"
    defaults = {"nets": "multitask,lenet" if gpu else "multitask,gender,lenet", "batch": 256 if gpu else 64,
                "steps": 50 if gpu else 3, "warmup": 5 if gpu else 1}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before NumPy / PyTorch load their BLAS
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.thread_env import pin_threads

    pin_threads(ARGS.threads)
    if ARGS.device == "cpu" and not ARGS.no_torch_thp:
        os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # read once, when PyTorch's CPU allocator starts

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


def conv_gemm_shapes(torch_model, x) -> list[tuple[int, int, int]]:
    """``(F, K, P)`` of every Conv2d for one image: F filters, K = C*kh*kw, P output pixels (im2col's product)."""
    import torch

    shapes = []

    def hook(mod, inp, out):
        kh, kw = mod.kernel_size
        shapes.append((mod.out_channels, mod.in_channels * kh * kw, out.shape[2] * out.shape[3]))

    handles = [m.register_forward_hook(hook) for m in torch_model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        torch_model(x[:1])
    for h in handles:
        h.remove()
    return shapes


def conv_gemm_rate(shapes: list[tuple[int, int, int]], threads: int, repeats: int = 8) -> float:
    """GFLOP/s of the convolutions' products, ``threads`` threads side by side, one BLAS thread each.

    Per convolution ``(F, K, P)`` the three products of one image as minicnn lays them
    out: ``W (F,K) @ cols (K,P)``, ``cols @ gy.T (K,P)x(P,F)`` and ``W.T @ gy (K,F)x(F,P)``.
    Every thread runs the list ``repeats`` times; the rate is all their FLOPs over the wall time.
    """
    from minicnn.parallel import blas_threads

    rng = np.random.default_rng(0)
    work = []
    for f, k, p in shapes:
        w, cols, gy = (rng.random(shape, dtype=np.float32) for shape in ((f, k), (k, p), (f, p)))
        work.append((w, cols, gy, np.empty((f, p), np.float32), np.empty((k, f), np.float32), np.empty((k, p), np.float32)))
    flops = threads * repeats * sum(3 * 2.0 * f * k * p for f, k, p in shapes)

    def products() -> None:
        for _ in range(repeats):
            for w, cols, gy, y, gw, gcols in work:
                np.matmul(w, cols, out=y)
                np.matmul(cols, gy.T, out=gw)
                np.matmul(w.T, gy, out=gcols)

    best = float("inf")
    with blas_threads(1):
        for _ in range(3):  # best of three
            pool = [threading.Thread(target=products) for _ in range(threads)]
            start = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


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


def median_ratio(rounds: list[dict[str, float]], top: str, bottom) -> float:
    """Median over rounds of ``rounds[r][top] / bottom(rounds[r])`` (both img/s of the same round)."""
    return statistics.median(r[top] / bottom(r) for r in rounds)


def run(args: argparse.Namespace) -> None:
    if args.device == "gpu":
        from benchmarks.gpu_throughput import run_gpu

        run_gpu(args)
        return
    import torch

    from benchmarks.memory_and_inference import print_targets
    from benchmarks.torch_models import expert_lrn_method, torch_twins

    torch.set_num_threads(args.threads)
    try:
        import numba

        numba.set_num_threads(args.threads)
    except Exception:
        pass
    gemm_square = matmul_rate(args.threads)
    print(f"machine: {os.cpu_count()} cores, {args.threads} threads; NumPy {np.__version__}, PyTorch {torch.__version__}, "
          f"minicnn {minicnn.__version__}; float32 matmul 2048^3 on {args.threads} BLAS threads {gemm_square:.1f} GFLOP/s; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"batch {args.batch}; {args.rounds} interleaved rounds of {args.steps} timed steps per library "
          f"({args.warmup} warm-up first); forward+backward+SGD step. PyTorch: THP allocator "
          f"{'on' if os.environ.get('THP_MEM_ALLOC_ENABLE') == '1' else 'off'}, "
          f"{'channels-last' if args.torch_channels_last else 'NCHW'}{', compiled' if args.torch_compile else ''}")
    rng = np.random.default_rng(0)
    summary = {}
    for name in args.nets.split(","):
        model = build(name, args.variant)
        x, labels = batch_for(name, args.batch, rng)
        method, lrn_times = (args.torch_lrn, {}) if args.torch_lrn != "auto" else expert_lrn_method(model, x)
        if lrn_times:
            print(f"{name}: expert LRN window sum, forward+backward of the network's LRNs: "
                  + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in lrn_times.items()) + f" -> {method}")
        twins = torch_twins(model, method, args.torch_channels_last, args.torch_compile)
        tx = torch.from_numpy(x)
        if args.torch_channels_last:
            tx = tx.contiguous(memory_format=torch.channels_last)
        tlabels = [torch.from_numpy(y) for y in labels]
        topts = {k: torch.optim.SGD(t.parameters(), 0.01, momentum=0.9, weight_decay=5e-4) for k, t in twins.items()}
        opt = optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4)
        parallel = DataParallel([model], threads=args.threads)
        steps = {f"PyTorch {k}": (lambda t=t, o=topts[k]: torch_step(t, o, tx, tlabels)) for k, t in twins.items()}
        steps["minicnn d-p"] = lambda: minicnn_parallel_step(parallel, opt, x, labels)
        if args.plain:
            steps["minicnn plain"] = lambda: minicnn_step(model, opt, x, labels)
        stock_twin = twins["stock"]
        flops = 3 * forward_flops(stock_twin, torch.from_numpy(x[:2]))  # a training step is about 3 forward passes
        shapes = conv_gemm_shapes(stock_twin, torch.from_numpy(x[:1]))
        rounds = []
        for r in range(args.rounds):
            ips = {k: args.batch / time_steps(step, args.warmup if r == 0 else 0, args.steps) for k, step in steps.items()}
            ips["gemm"], ips["square"] = conv_gemm_rate(shapes, args.threads), matmul_rate(args.threads)
            rounds.append(ips)
            print(f"  {name} round {r + 1}: " + ", ".join(f"{k} {v:.1f} img/s" for k, v in ips.items()
                                                      if k not in ("gemm", "square"))
                  + f"; GEMM conv-size {ips['gemm']:.1f}, 2048^3 {ips['square']:.1f} GFLOP/s")
            sys.stdout.flush()
        evaluation = evaluation_speedup(parallel, model, x)
        parallel.close()
        torch_keys = [k for k in steps if k.startswith("PyTorch")]
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        res = {
            "ips": med, "flops": flops, "evaluation": evaluation, "method": method,
            "vs_faster": median_ratio(rounds, "minicnn d-p", lambda r: max(r[k] for k in torch_keys)),
            "vs_stock": median_ratio(rounds, "minicnn d-p", lambda r: r["PyTorch stock"]),
            "gemm_fraction": statistics.median(flops * r["minicnn d-p"] / 1e9 / r["gemm"] for r in rounds),
            "torch_gemm_fraction": statistics.median(flops * max(r[k] for k in torch_keys) / 1e9 / r["gemm"]
                                                     for r in rounds),
            "square_fraction": statistics.median(flops * r["minicnn d-p"] / 1e9 / r["square"] for r in rounds),
        }
        summary[name] = res
        print_network(name, res, torch_keys)
    if "multitask" in summary and not args.no_targets:
        print_targets(summary["multitask"], args)


def evaluation_speedup(parallel: DataParallel, model, x: np.ndarray) -> tuple[float, float, int]:
    """Evaluation forwards of ``x`` (no graph): img/s on one core (one BLAS thread, serial Numba kernels), img/s
    split over the replicas as ``Trainer.evaluate`` does (``DataParallel.map``), and the threads the split used."""
    from minicnn.functions import _kernels_cpu
    from minicnn.parallel import blas_threads

    ran_on: set[int] = set()

    def one_thread() -> None:
        with minicnn.no_grad(), blas_threads(1), _kernels_cpu.serial_only():
            model(Tensor(x))

    def forward_slice(replicas, part):
        ran_on.add(threading.get_ident())
        return replicas[0](Tensor(x[part]))

    def split() -> None:
        with minicnn.no_grad():
            parallel.map(forward_slice, len(x))

    model.eval()
    try:
        one_thread(), split()
        return (len(x) / min(_timed(one_thread) for _ in range(3)), len(x) / min(_timed(split) for _ in range(3)),
                len(ran_on))
    finally:
        model.train()


def print_network(name: str, res: dict, torch_keys: list[str]) -> None:
    """One network's medians: img/s of each library, the ratios, GFLOP/s and the GEMM fractions."""
    med, flops = res["ips"], res["flops"]
    libraries = ", ".join(f"{k} {med[k]:.1f}" for k in med if k not in ("gemm", "square"))
    print(f"{name}: median img/s {libraries}")
    print(f"{name}: data-parallel / faster PyTorch {res['vs_faster']:.2f}x, / stock PyTorch {res['vs_stock']:.2f}x; "
          f"{flops / 1e9:.3f} GFLOP per image per step; minicnn {flops * med['minicnn d-p'] / 1e9:.1f} GFLOP/s = "
          f"{res['gemm_fraction']:.0%} of the conv-size GEMM rate (median {med['gemm']:.1f}), "
          f"{res['square_fraction']:.0%} of the 2048^3 rate (median {med['square']:.1f}); "
          f"faster PyTorch {res['torch_gemm_fraction']:.0%} of the conv-size rate")
    plain, split, threads = res["evaluation"]
    print(f"{name}: evaluation forward, img/s: one thread {plain:.1f}, split over {threads} threads {split:.1f} "
          f"({split / plain:.2f}x)")
    sys.stdout.flush()


if __name__ == "__main__":
    run(ARGS)
