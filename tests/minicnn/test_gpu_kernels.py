"""minicnn's CUDA kernels (minicnn/functions/_kernels_gpu*.py).

Without a GPU: every kernel source compiles with NVRTC for compute_90 in float32 and
float64, and every kernel a launcher asks for is defined and compiles to a PTX entry
of that name. With CuPy and a GPU (tests marked ``gpu``): each op on the GPU equals
the NumPy backend, forward and backward, and passes a float64 gradient check there.
"""
import ast
import inspect

import numpy as np
import pytest

from minicnn import Tensor, optim
from minicnn import functions as F
from minicnn.backend import cupy_available, to_device, to_numpy
from minicnn.functions import _im2col, _kernels_gpu, pool
from minicnn.functions import _kernels_gpu_src as src
from minicnn.gradcheck import assert_gradcheck

DTYPES = ["float32", "float64"]


def _nvrtc_problem() -> str | None:
    """Why NVRTC cannot compile here (None when it can): a trivial kernel must compile."""
    try:
        src.nvrtc_ptx('extern "C" __global__ void probe() {}')
    except Exception as error:  # ImportError, or the NVRTC library failing to load
        return f"NVRTC unusable ({type(error).__name__}: {error}); install cupy-cuda12x and nvidia-cuda-nvrtc-cu12"
    return None


NVRTC_PROBLEM = _nvrtc_problem()
needs_nvrtc = pytest.mark.skipif(NVRTC_PROBLEM is not None, reason=str(NVRTC_PROBLEM))


def on_gpu(test):
    """Mark ``test`` ``gpu``; skip it, saying why, where CuPy or a CUDA device is missing."""
    reason = "needs CuPy and an NVIDIA GPU (pip install .[gpu]): minicnn.backend.cupy_available() is False"
    return pytest.mark.gpu(pytest.mark.skipif(not cupy_available(), reason=reason)(test))


# ------------------------------------------------------------- compile checks (no GPU)
@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(src.KERNEL_SOURCES))
def test_raw_kernel_compiles_for_sm90(name, dtype):
    ptx = src.nvrtc_ptx(src.kernel_source(name, dtype))
    assert src.ptx_entries(ptx) == [name]
    assert ".target sm_90" in ptx


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(src.ELEMENTWISE_SOURCES))
def test_elementwise_operation_compiles_for_sm90(name, dtype):
    assert src.ptx_entries(src.nvrtc_ptx(src.elementwise_check_source(name, dtype))) == [name]


def _names_launched(function_name: str) -> set[str]:
    """The string literals passed first to ``function_name(...)`` anywhere in the launcher module."""
    tree = ast.parse(inspect.getsource(_kernels_gpu))
    return {call.args[0].value for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == function_name
            and call.args and isinstance(call.args[0], ast.Constant)}


def test_launchers_use_exactly_the_defined_kernels():
    assert _names_launched("_launch") == set(src.KERNEL_SOURCES)
    assert _names_launched("_elementwise") == set(src.ELEMENTWISE_SOURCES)


@pytest.mark.parametrize("name", sorted(src.ELEMENTWISE_SOURCES))
def test_cupy_accepts_the_elementwise_parameters(name):
    pytest.importorskip("cupy", reason="CuPy is not installed")  # building the kernel object needs no GPU
    in_params, out_params, _ = src.ELEMENTWISE_SOURCES[name]
    kernel = _kernels_gpu._elementwise(name)
    assert (kernel.nin, kernel.nout, kernel.name) == (len(in_params.split(",")), len(out_params.split(",")), name)


def test_only_float32_and_float64_sources():
    with pytest.raises(TypeError, match="float32 and float64"):
        src.kernel_source("im2col", "float16")


@needs_nvrtc
def test_nvrtc_reports_the_log_of_a_broken_kernel():
    with pytest.raises(RuntimeError, match="undefined"):
        src.nvrtc_ptx('extern "C" __global__ void broken(float* a) { a[0] = missing; }')


# ---------------------------------------------------------------- GPU equals CPU
def close(gpu, cpu, dtype="float32"):
    """float32: rtol 1e-4, atol 1e-5; float64: rtol 1e-10, atol 1e-12."""
    tol = dict(rtol=1e-4, atol=1e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_numpy(gpu), to_numpy(cpu), **tol)


def run(fn, arrays, device, seed=0):
    """``fn`` on Tensors of ``arrays`` on ``device`` with a seeded upstream gradient: (output, input grads) in NumPy."""
    tensors = [Tensor(to_device(a, device), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(to_device(upstream, device))
    return to_numpy(out.data), [to_numpy(t.grad) for t in tensors]


def assert_same_on_both(fn, arrays, dtype="float32"):
    """Forward and backward of ``fn`` agree on the CPU and the GPU."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    y_cpu, g_cpu = run(fn, arrays, "cpu")
    y_gpu, g_gpu = run(fn, arrays, "gpu")
    close(y_gpu, y_cpu, dtype)
    for a, b in zip(g_gpu, g_cpu):
        close(a, b, dtype)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# (kernel, stride, padding, ceil_mode) on odd-sized inputs
POOL_GRID = [(2, None, 0, False), (3, 2, 1, True), (3, 2, 1, False), ((3, 2), (2, 1), (1, 0), True),
             (3, 2, "same", False), ((3, 1), (2, 2), "same", False), (2, 3, 0, True), (3, 1, 1, False)]
CONV_GRID = [(3, 1, 1), (3, 2, 1), (5, 2, "same"), (7, 2, "same"), ((3, 2), (2, 1), (1, 0)), (2, 3, 0), (1, 1, 0)]


@on_gpu
@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", POOL_GRID + [(k, s, p, False) for k, s, p in CONV_GRID],
                         ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_col2im_kernels_equal_cpu(kernel, stride, padding, ceil_mode, dtype):
    import cupy

    win = _im2col.make_window((9, 7), kernel, kernel if stride is None else stride, padding, ceil_mode)
    x = randn(2, 3, 9, 7).astype(dtype)
    cols = _kernels_gpu.im2col(cupy.asarray(x), win)
    np.testing.assert_array_equal(to_numpy(cols), _im2col.im2col(x, win))  # a copy: exactly equal
    out = cupy.empty_like(cols)
    assert _kernels_gpu.im2col(cupy.asarray(x), win, out) is out
    c = randn(*cols.shape, seed=1).astype(dtype)
    close(_kernels_gpu.col2im(cupy.asarray(c), win, 3), _im2col.col2im(c, win, 3), dtype)


@on_gpu
@pytest.mark.parametrize("kernel, stride, padding", CONV_GRID, ids=str)
def test_conv2d_equals_cpu(kernel, stride, padding):
    kh, kw = _im2col.as_pair(kernel, "kernel", 1)
    assert_same_on_both(lambda x, w, b: F.conv2d(x, w, b, stride, padding),
                        [randn(3, 4, 11, 9), randn(5, 4, kh, kw, seed=1) * 0.3, randn(5, seed=2)])


@on_gpu
@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", POOL_GRID, ids=str)
def test_max_pool_equals_cpu_and_keeps_the_offsets(kernel, stride, padding, ceil_mode):
    import cupy

    x = np.random.default_rng(3).permutation(2 * 3 * 9 * 7).reshape(2, 3, 9, 7).astype(np.float32)
    assert_same_on_both(lambda x: F.max_pool2d(x, kernel, stride, padding, ceil_mode), [x])
    win = pool.pool_window(x, kernel, stride, padding, ceil_mode)
    y, offset = _kernels_gpu.max_pool_forward(cupy.asarray(x), win)
    y_ref, offset_ref = pool.max_pool_forward_xp(x, win)
    np.testing.assert_array_equal(to_numpy(y), y_ref)
    np.testing.assert_array_equal(to_numpy(offset), offset_ref)


@on_gpu
def test_max_pool_nan_wins_and_all_inf_windows_pick_their_first_pixel():
    import cupy

    x = randn(1, 2, 7, 7).astype(np.float32)
    x[0, 0, 2, 3] = x[0, 0, 4, 4] = x[0, 1, 0, 0] = np.nan
    x[0, 1, 4:, 4:] = -np.inf
    for kernel, stride, padding, ceil_mode in POOL_GRID:
        win = pool.pool_window(x, kernel, stride, padding, ceil_mode)
        y, offset = _kernels_gpu.max_pool_forward(cupy.asarray(x), win)
        y_ref, offset_ref = pool.max_pool_forward_xp(x, win)
        np.testing.assert_array_equal(to_numpy(y), y_ref)  # NaNs in the same places
        np.testing.assert_array_equal(to_numpy(offset), offset_ref)
        gy = randn(*y_ref.shape, seed=4).astype(np.float32)
        gx = _kernels_gpu.max_pool_backward(cupy.asarray(gy), offset, win)
        close(gx, pool.max_pool_backward_xp(gy, offset_ref, win))


@on_gpu
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", POOL_GRID, ids=str)
def test_avg_pool_equals_cpu(kernel, stride, padding, ceil_mode, count_include_pad):
    assert_same_on_both(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad),
                        [randn(2, 3, 9, 7)])


@on_gpu
@pytest.mark.parametrize("size, alpha_over_size, beta", [(5, True, 0.75), (4, False, 0.75), (3, True, 0.6),
                                                         (1, False, 1.0), (9, True, 0.5)])
def test_lrn_equals_cpu(size, alpha_over_size, beta):
    assert_same_on_both(lambda x: F.local_response_norm(x, size, 0.3, beta, 2.0, alpha_over_size),
                        [randn(2, 7, 5, 3) * 2])


@on_gpu
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_equals_cpu(reduction, weighted):
    labels = np.random.default_rng(5).integers(0, 4, 9)
    class_weights = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float32) if weighted else None
    assert_same_on_both(lambda z: F.cross_entropy(z, labels, class_weights, reduction), [randn(9, 4) * 5])
    assert_same_on_both(lambda z: F.cross_entropy(z, labels, reduction=reduction), [randn(9, 4) * 50], "float64")


@on_gpu
def test_relu_equals_cpu_with_nan_and_zeros():
    x = randn(4, 5, 6)
    x[0, 0, :3] = [0.0, np.nan, -0.0]
    y_gpu, (g_gpu,) = run(F.relu, [x.astype(np.float32)], "gpu")
    y_cpu, (g_cpu,) = run(F.relu, [x.astype(np.float32)], "cpu")
    np.testing.assert_array_equal(y_gpu, y_cpu)
    np.testing.assert_array_equal(g_gpu, g_cpu)


@on_gpu
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keep_rate_scaling_and_draw(p):
    import cupy

    x = cupy.ones((1000, 1000), dtype=cupy.float32)
    cupy.random.seed(11)
    y, mask = _kernels_gpu.dropout_forward(x, p)
    y, mask = to_numpy(y), to_numpy(mask)
    assert abs(np.mean(y != 0) - (1 - p)) < 0.005  # 10 standard deviations at 1e6 draws
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / (1 - p))}
    np.testing.assert_array_equal(y, mask)  # x is all ones
    cupy.random.seed(11)  # the same draw as the generic CuPy code
    keep = to_numpy(cupy.random.random(x.shape, dtype=cupy.float32) >= p)
    np.testing.assert_array_equal(mask != 0, keep)
    t = Tensor(x * 2, requires_grad=True)
    out = F.dropout(t, p)
    out.backward(cupy.full(x.shape, 2.0, dtype=cupy.float32))
    np.testing.assert_array_equal(to_numpy(t.grad), to_numpy(out.data))  # gy * mask = x * mask here


@on_gpu
@pytest.mark.parametrize("momentum, weight_decay, nesterov", [(0.0, 0.0, False), (0.0, 5e-4, False),
                                                              (0.9, 0.0, False), (0.9, 0.1, False), (0.5, 5e-4, True)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_sgd_equals_cpu(momentum, weight_decay, nesterov, dtype):
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((7, 5)).astype(dtype)
    grads = [rng.standard_normal((7, 5)).astype(dtype) for _ in range(4)]
    weights = {}
    for device in ("cpu", "gpu"):
        w = Tensor(to_device(w0, device), requires_grad=True)
        opt = optim.SGD([w], lr=0.1, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        for g in grads:
            w.grad = to_device(g, device)
            opt.step()
        weights[device] = to_numpy(w.data)
    close(weights["gpu"], weights["cpu"], dtype)


def _dropout_seeded(x):
    import cupy

    cupy.random.seed(7)  # the same mask on every call of the gradient check
    return F.dropout(x, 0.4)


GRADCHECK_OPS = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, 2, "same"), [(1, 2, 5, 6), (3, 2, 3, 3), (3,)]),
    "conv2d_pad": (lambda x, w: F.conv2d(x, w, None, (2, 1), (1, 0)), [(2, 2, 5, 4), (2, 2, 3, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 3, 2, 1, True), [(1, 2, 5, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [(1, 2, 5, 6)]),
    "local_response_norm": (lambda x: F.local_response_norm(x, 4, 0.5, 0.75, 1.0, False), [(1, 6, 3, 2)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 3, 1, 3, 2]), np.array([1.0, 2.0, 0.5, 1.5])),
                      [(5, 4)]),
    "relu": (F.relu, [(3, 4, 5)]),
    "dropout": (_dropout_seeded, [(4, 5)]),
}


@on_gpu
@pytest.mark.parametrize("name", sorted(GRADCHECK_OPS))
def test_float64_gradcheck_on_gpu(name):
    fn, shapes = GRADCHECK_OPS[name]
    rng = np.random.default_rng(8)
    arrays = [rng.permutation(int(np.prod(s))).reshape(s) * 0.1 - 0.9 if name == "max_pool2d"  # no ties
              else rng.standard_normal(s) for s in shapes]
    inputs = [Tensor(to_device(a.astype(np.float64), "gpu"), requires_grad=True) for a in arrays]
    assert_gradcheck(fn, inputs, eps=1e-5 if name == "max_pool2d" else 1e-6, name=name)
