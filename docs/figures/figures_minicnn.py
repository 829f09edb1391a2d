"""The figures of the minicnn tutorials, each computed by the code it explains.

Every function takes the output folder, writes one PNG named after the function
(without ``figure_``) and returns its path. ``make_figures.py`` runs them all.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from minicnn import Tensor, nn  # noqa: E402
from minicnn import functions as F  # noqa: E402
from minicnn.functions._im2col import im2col, make_window  # noqa: E402
from minicnn.gradcheck import assert_gradcheck, numerical_gradient  # noqa: E402
from minicnn.tensor import GraphNode, _topological_order, graph_node  # noqa: E402

DPI = 90


def save(fig: plt.Figure, path: Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG (tight bounding box) and close it."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def number_grid(ax: plt.Axes, values: np.ndarray, colours: np.ndarray | None = None, fmt: str = "{:g}",
                title: str = "") -> None:
    """Draw a 2-D array as a grid of cells with its numbers written in them.

    ``colours`` is an optional ``(rows, cols, 4)`` RGBA array of cell colours (white otherwise).
    """
    rows, cols = values.shape
    face = np.ones((rows, cols, 4)) if colours is None else colours
    ax.imshow(face, extent=(0, cols, rows, 0), interpolation="nearest")
    for r in range(rows):
        for c in range(cols):
            ax.text(c + 0.5, r + 0.5, fmt.format(values[r, c]), ha="center", va="center", fontsize=8)
    ax.hlines(np.arange(rows + 1), 0, cols, color="0.3", linewidth=0.6)
    ax.vlines(np.arange(cols + 1), 0, rows, color="0.3", linewidth=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.tick_params(which="both", length=0)
    ax.set_title(title, fontsize=9)


# --------------------------------------------------------------------------------- autodiff
def two_layer_loss() -> tuple[Tensor, dict[int, str]]:
    """A two-layer net on a batch of 4: Linear(3, 5) -> ReLU -> Linear(5, 2) -> cross-entropy.

    Returns the loss (graph recorded, backward already run) and display names of the leaves.
    """
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    fc1, fc2 = nn.Linear(3, 5, rng=rng), nn.Linear(5, 2, rng=rng)
    loss = F.cross_entropy(fc2(F.relu(fc1(x))), np.array([0, 1, 1, 0]))
    loss.backward()
    names = {id(x): "x", id(fc1.weight): "fc1.weight", id(fc1.bias): "fc1.bias",
             id(fc2.weight): "fc2.weight", id(fc2.bias): "fc2.bias", id(graph_node(loss)): "loss"}
    return loss, names


def graph_layout(loss: Tensor) -> tuple[dict[int, tuple[float, float]], list[tuple[int, int]], dict[int, object]]:
    """Positions of the tensors and Functions of the graph behind ``loss``, left to right.

    Tensors are the graph's nodes: leaf Tensors, and the GraphNode standing for each
    tensor a Function made (its shape, without its data).

    A Function sits one column right of its right-most non-leaf input, its output one
    column further; a leaf sits just left of the Function that reads it, above the
    main row when it is not that Function's first input.
    Returns (position by id, edges (from id, to id), object by id).
    """
    order = _topological_order(loss)  # inputs before outputs
    column: dict[int, int] = {}
    objects: dict[int, object] = {}
    edges: list[tuple[int, int]] = []
    for t in order:
        fn = t._ctx
        if fn is None:
            continue
        col = 1 + max([column[id(i)] for i in fn.inputs if i._ctx is not None], default=0)
        column[id(fn)], column[id(t)] = col, col + 1
        objects[id(fn)], objects[id(t)] = fn, t
        edges.append((id(fn), id(t)))
        for i in fn.inputs:
            edges.append((id(i), id(fn)))
    position: dict[int, tuple[float, float]] = {}
    for key, col in column.items():
        position[key] = (col, 0.0)
    for t in order:
        if t._ctx is None:
            consumer = next(fn for fn in objects.values() if not isinstance(fn, (Tensor, GraphNode))
                            and any(i is t for i in fn.inputs))
            slot = [i is t for i in consumer.inputs].index(True)
            position[id(t)] = (column[id(consumer)] - 1, float(slot))
            objects[id(t)] = t
    return position, edges, objects


def figure_autodiff_graph(out_dir: Path) -> Path:
    """The recorded graph of a two-layer net, with the order in which backward visits it."""
    loss, names = two_layer_loss()
    position, edges, objects = graph_layout(loss)
    backward_rank = {}
    for rank, t in enumerate(t for t in reversed(_topological_order(loss)) if t._ctx is not None):
        backward_rank[id(t._ctx)] = rank + 1
    fig, ax = plt.subplots(figsize=(12, 3.6))
    for src, dst in edges:
        (x0, y0), (x1, y1) = position[src], position[dst]
        ax.annotate("", xy=(x1 - 0.3, y1), xytext=(x0 + 0.3, y0),
                    arrowprops=dict(arrowstyle="->", color="0.35", shrinkA=0, shrinkB=0))
    for key, (x, y) in position.items():
        obj = objects[key]
        if isinstance(obj, (Tensor, GraphNode)):
            label = names.get(key, "")
            label = f"{label}\n{obj.shape}" if label else f"{obj.shape}"
            if obj._ctx is None and obj.grad is not None:
                label += f"\ngrad {obj.grad.shape}"
            colour = "#f6c28b" if obj.requires_grad and obj._ctx is None else (
                "#cfe2f3" if obj._ctx is None else "white")
            ax.text(x, y, label, ha="center", va="center", fontsize=8,
                    bbox=dict(boxstyle="round,pad=0.35", facecolor=colour, edgecolor="0.3"))
        else:
            ax.text(x, y, f"{type(obj).__name__}\nbackward #{backward_rank[key]}", ha="center", va="center",
                    fontsize=8, bbox=dict(boxstyle="square,pad=0.35", facecolor="0.85", edgecolor="0.3"))
    right = max(x for x, _ in position.values())
    ax.annotate("", xy=(0.2, -0.75), xytext=(right, -0.75),
                arrowprops=dict(arrowstyle="->", color="tab:red", linestyle="--"))
    ax.text(right / 2, -0.95, "loss.backward(): each Function's backward once, in reverse topological order",
            color="tab:red", ha="center", va="center", fontsize=9)
    ax.set_xlim(-0.6, right + 0.6)
    ax.set_ylim(-1.2, 2.6)
    ax.axis("off")
    ax.set_title("The graph minicnn records for cross_entropy(fc2(relu(fc1(x))), labels)"
                 "  (orange: parameters, blue: input)", fontsize=10)
    return save(fig, out_dir / "autodiff_graph.png")


# ------------------------------------------------------------------------------ im2col
def figure_im2col(out_dir: Path) -> Path:
    """A 4x4 image, its four 3x3 windows, and the (9, 4) matrix im2col makes of them."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    win = make_window((4, 4), 3, 1, 0)
    cols = im2col(x, win)[0]  # (9, 4)
    w = np.random.default_rng(0).standard_normal((2, 1, 3, 3)).astype(np.float32)
    y = (w.reshape(2, 9) @ cols).reshape(2, win.out_h, win.out_w)
    np.testing.assert_allclose(y, F.conv2d(x, w).numpy()[0], rtol=1e-5)  # the GEMM is the convolution
    palette = plt.get_cmap("tab10")
    fig = plt.figure(figsize=(12, 4.6))
    grid = fig.add_gridspec(2, 4, width_ratios=[1, 1, 1.3, 1.6], wspace=0.35, hspace=0.35)
    for p in range(win.out_size):
        oh, ow = divmod(p, win.out_w)
        colours = np.ones((4, 4, 4))
        colours[oh : oh + 3, ow : ow + 3] = palette(p)[:3] + (0.4,)
        number_grid(fig.add_subplot(grid[oh, ow]), x[0, 0], colours, "{:.0f}",
                    title=f"x: window of output {p}")
    ax = fig.add_subplot(grid[:, 2])
    colours = np.ones(cols.shape + (4,))
    for p in range(win.out_size):
        colours[:, p] = palette(p)[:3] + (0.4,)
    number_grid(ax, cols, colours, "{:.0f}", title="cols = im2col(x): (C*kh*kw, OH*OW)\n"
                "column p = window of output p")
    ax.set_yticks(np.arange(9) + 0.5)
    ax.set_yticklabels([f"i={i}, j={j}" for i in range(3) for j in range(3)], fontsize=7)
    ax.tick_params(labelleft=True)
    ax = fig.add_subplot(grid[:, 3])
    number_grid(ax, y.reshape(2, 4), None, "{:.2f}", title="y = w.reshape(F, 9) @ cols: (F, OH*OW)\n"
                "row f, reshaped to (OH, OW), is filter f's map")
    ax.set_yticks([0.5, 1.5])
    ax.set_yticklabels(["f=0", "f=1"], fontsize=7)
    ax.tick_params(labelleft=True)
    fig.suptitle("Convolution as im2col + one matrix product (minicnn/functions/_im2col.py, conv.py); "
                 "checked against conv2d", fontsize=10)
    fig.subplots_adjust(top=0.84)
    return save(fig, out_dir / "im2col.png")


# ---------------------------------------------------------------------------- max-pool
def _pool_panels(axes, x: np.ndarray, kernel: int, stride: int, gy: np.ndarray) -> None:
    xt = Tensor(x[None, None], requires_grad=True)
    y = F.max_pool2d(xt, kernel, stride)
    y.backward(gy[None, None])
    winners = xt.grad[0, 0] != 0
    colours = np.ones(x.shape + (4,))
    colours[winners] = (1.0, 0.75, 0.3, 1.0)
    size = "x".join(map(str, x.shape))
    number_grid(axes[0], x, colours, "{:.0f}", title=f"x ({size}), maxima in orange")
    number_grid(axes[1], y.numpy()[0, 0], None, "{:.0f}", title=f"y = max_pool2d(x, {kernel}, stride={stride})")
    number_grid(axes[2], gy, None, "{:.0f}", title="upstream gradient gy")
    number_grid(axes[3], xt.grad[0, 0], colours, "{:.0f}", title="gx = backward(gy)")


def figure_max_pool(out_dir: Path) -> Path:
    """Max-pool forward and backward: 2x2 stride 2, and the paper's overlapping 3x3 stride 2."""
    rng = np.random.default_rng(3)
    fig, axes = plt.subplots(2, 4, figsize=(11, 6), gridspec_kw={"wspace": 0.3, "hspace": 0.3})
    x1 = rng.permutation(16).reshape(4, 4).astype(np.float64)  # distinct values: no ties
    _pool_panels(axes[0], x1, 2, 2, np.array([[1.0, 2.0], [3.0, 4.0]]))
    x2 = rng.permutation(25).reshape(5, 5).astype(np.float64)
    x2[2, 2] = 30  # the centre pixel lies in all four 3x3 windows ...
    x2[0, 4] = 40  # ... and wins three of them: this one takes the top-right window
    _pool_panels(axes[1], x2, 3, 2, np.array([[1.0, 2.0], [3.0, 4.0]]))
    fig.suptitle("Max-pooling (minicnn/functions/pool.py): forward keeps where each window's maximum was; backward\n"
                 "sends each gy there, and adds up where overlapping windows (3x3, stride 2, as in the paper) share "
                 "a maximum", fontsize=10)
    return save(fig, out_dir / "max_pool.png")


# --------------------------------------------------------------------------------- LRN
def figure_lrn(out_dir: Path) -> Path:
    """LRN output and derivatives of one channel when all 11 channels hold t, for both alpha conventions."""
    t = np.linspace(0, 250, 251)
    channels, centre = 11, 5
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8))
    for over_size, name, colour in ((True, "a = alpha / size (PyTorch, Caffe)", "tab:blue"),
                                    (False, "a = alpha (TensorFlow, Chainer; the authors' code)", "tab:orange")):
        x = Tensor(np.repeat(t[:, None], channels, axis=1)[:, :, None, None], requires_grad=True)
        y = F.local_response_norm(x, size=11, alpha=1e-4, beta=0.75, k=1.0, alpha_over_size=over_size)
        gy = np.zeros(y.shape)
        gy[:, centre] = 1.0
        y.backward(gy)  # x.grad[:, j] = d y_centre / d x_j
        axes[0].plot(t, y.numpy()[:, centre, 0, 0], color=colour, label=name)
        axes[1].plot(t, x.grad[:, centre, 0, 0], color=colour, label="d y_c / d x_c (own channel)")
        axes[1].plot(t, x.grad[:, :, 0, 0].sum(axis=1), "--", color=colour,
                     label="d y_c / d t (all channels move)")
    axes[0].plot(t, t, ":", color="0.5", label="no normalisation (y = x)")
    axes[0].set(xlabel="t (value of every channel at the pixel)", ylabel="y_c",
                title="y_c = x_c / (k + a * sum x_j^2)^beta")
    axes[1].axhline(0, color="0.5", linewidth=0.5)
    axes[1].set(xlabel="t", ylabel="derivative (from backward)", title="derivatives of the centre channel c")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    fig.suptitle("LRN with the paper's constants (size 11, alpha 1e-4, beta 0.75, k 1): "
                 "the two conventions differ 11-fold in a (minicnn/functions/lrn.py)", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir / "lrn.png")


# --------------------------------------------------------------------------- gradcheck
def figure_gradcheck_steps(out_dir: Path) -> Path:
    """Relative error of finite differences against backward, versus the step h, float32 and float64.

    The function is ``sum(g * tanh(conv2d(x, w)))``, a random upstream gradient ``g`` as
    in ``minicnn.gradcheck``; the reference is backward in float64.
    """
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((1, 1, 5, 5)) * 0.5
    w64 = rng.standard_normal((1, 1, 3, 3))
    g64 = rng.standard_normal((1, 1, 3, 3))
    w_ref = Tensor(w64.copy(), requires_grad=True)
    F.tanh(F.conv2d(Tensor(x64), w_ref)).backward(g64)
    analytic = w_ref.grad
    steps = np.logspace(-13, -1, 37)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for dtype, colour in ((np.float32, "tab:orange"), (np.float64, "tab:blue")):
        x, g = Tensor(x64.astype(dtype)), g64.astype(np.float64)
        w = w64.astype(dtype)

        def scalar() -> float:
            return float(np.sum(F.tanh(F.conv2d(x, Tensor(w))).numpy().astype(np.float64) * g))

        for scheme, style in (("central", "-"), ("forward", "--")):
            errors = []
            for h in steps:
                if scheme == "central":
                    numeric = numerical_gradient(scalar, w, float(h))
                else:
                    base, numeric, flat = scalar(), np.zeros(w.shape), w.reshape(-1)
                    for i in range(flat.size):
                        old = flat[i].item()
                        flat[i] = old + h
                        numeric.reshape(-1)[i] = (scalar() - base) / h
                        flat[i] = old
                rel = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-12)
                errors.append(rel.max())
            ax.loglog(steps, errors, style, color=colour, label=f"{np.dtype(dtype).name}, {scheme} difference")
    tolerance = inspect.signature(assert_gradcheck).parameters["tol"].default
    default_step = inspect.signature(assert_gradcheck).parameters["eps"].default
    ax.axhline(tolerance, color="0.5", linewidth=0.7, linestyle=":")
    ax.text(steps[0], tolerance * 0.6, f"assert_gradcheck's tolerance ({tolerance:g})", fontsize=8, color="0.4",
            va="top")
    ax.axvline(default_step, color="0.5", linewidth=0.7, linestyle=":")
    ax.text(default_step / 1.3, 0.03, f"default step\n({default_step:g})", fontsize=8, color="0.4", va="bottom",
            ha="right", transform=ax.get_xaxis_transform())
    ax.set(xlabel="step h", ylabel="max relative error vs backward",
           title="Checking the weight gradient of tanh(conv2d(x, w)) (minicnn/gradcheck.py):\n"
                 "only float64 with central differences lands far below the tolerance")
    ax.legend(fontsize=8)
    return save(fig, out_dir / "gradcheck_steps.png")


FIGURES = {
    "autodiff_graph": figure_autodiff_graph,
    "im2col": figure_im2col,
    "max_pool": figure_max_pool,
    "lrn": figure_lrn,
    "gradcheck_steps": figure_gradcheck_steps,
}
