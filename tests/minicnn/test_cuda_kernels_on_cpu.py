"""The arithmetic of every CUDA kernel, run on the CPU: g++ builds the CUDA sources with a shim
(tests/minicnn/cuda_cpu_shim.py), the real launchers of minicnn/functions/_kernels_gpu.py start them
on NumPy arrays, and the results must equal the NumPy path of the same op, over a grid of window
shapes (kernel, stride, padding, odd sizes, ceil mode) in float32 and float64.

Covered: all raw kernels (im2col, col2im, max/avg pooling forward and backward, LRN forward and
backward, softmax cross-entropy forward and backward) and all element-wise ones (ReLU, dropout,
SGD with and without momentum). None uses shared memory or __syncthreads, which the shim refuses.
With ``claim_numpy_arrays`` every op runs its ``forward_gpu`` / ``backward_gpu`` on these kernels,
so each op's two sides are compared through the op itself.
"""
import itertools

import numpy as np
import pytest

from minicnn import Tensor, optim
from minicnn import functions as F
from minicnn.functions import _im2col, _kernels_gpu, lrn, pool
from minicnn.functions.activation import Dropout
from minicnn.functions.loss import CrossEntropy
from minicnn.tensor import Context
from tests.minicnn import cuda_cpu_shim as shim

pytestmark = pytest.mark.skipif(shim.gxx_path() is None,
                                reason="g++ not found: the CUDA kernels are built as C++ with it")
DTYPES = ["float32", "float64"]


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    """minicnn's kernels compiled for the CPU, float32 and float64 (built once, in a temporary folder)."""
    return shim.build_minicnn_kernels(tmp_path_factory.mktemp("cuda_on_cpu"))


@pytest.fixture
def on_cpu(libraries):
    """The launchers of _kernels_gpu run the CPU-built kernels during the test."""
    with shim.kernels_on_cpu(libraries):
        yield


def close(got, expected, dtype, err_msg=""):
    """float32: rtol 2e-6 (the kernels sum in another order than NumPy); float64: rtol 1e-13."""
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(got, expected, err_msg=err_msg, **tol)


def randn(*shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# Window settings (input H, W; kernel; stride; padding; ceil_mode): odd and even sizes, non-square
# kernels and strides, strides beyond the kernel, asymmetric TensorFlow "same" padding.
SIZES = [(5, 5), (7, 9), (8, 6)]
KERNELS = [1, 2, 3, (3, 2), (1, 4), 5]
STRIDES = [1, 2, 3, (1, 2), (3, 1)]
PADDINGS = [0, 1, (2, 1), (0, 2), "same"]


def window_settings(pooling: bool):
    """Every valid combination: (settings dict, Window). Pooling adds ceil_mode and keeps padding <= kernel // 2."""
    for size, kernel, stride, padding, ceil_mode in itertools.product(
            SIZES, KERNELS, STRIDES, PADDINGS, [False, True] if pooling else [False]):
        try:
            win = _im2col.make_window(size, kernel, stride, padding, ceil_mode, max_pad_half_kernel=pooling)
        except ValueError:  # kernel larger than the padded input, or padding over half the kernel
            continue
        yield dict(size=size, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode), win


def test_the_window_grid_is_wide():
    conv, pools = list(window_settings(False)), list(window_settings(True))
    assert len(conv) > 300 and len(pools) > 200
    assert any(w.pad_top != w.pad_bottom for _, w in conv) and any(w.out_h * w.sh > w.in_h for _, w in pools)


# --------------------------------------------------------------- im2col / col2im
@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_and_col2im_equal_the_numpy_path(dtype, on_cpu):
    for i, (settings, win) in enumerate(window_settings(False)):
        x = randn(2, 3, *settings["size"], seed=i, dtype=dtype)
        cols = _kernels_gpu.im2col(x, win)
        np.testing.assert_array_equal(cols, _im2col.im2col_xp(x, win), err_msg=str(settings))  # a copy: exact
        np.testing.assert_array_equal(cols, _im2col.im2col_cpu(x, win), err_msg=str(settings))  # the Numba twin too
        upstream = randn(*cols.shape, seed=i + 1, dtype=dtype)
        x_grad = _kernels_gpu.col2im(upstream, win, 3)
        close(x_grad, _im2col.col2im_xp(upstream, win, 3), dtype, str(settings))
        close(x_grad, _im2col.col2im_cpu(upstream, win, 3), dtype, str(settings))


# ------------------------------------------------------------------- pooling
def pooling_inputs(shape, seed, dtype):
    """Continuous values, ties (a few levels), NaNs, and an image-channel plane of -inf."""
    rng = np.random.default_rng(seed)
    continuous = rng.standard_normal(shape).astype(dtype)
    ties = rng.integers(0, 3, shape).astype(dtype)
    with_nan = continuous.copy()
    with_nan[rng.random(shape) < 0.15] = np.nan
    minus_inf = continuous.copy()
    minus_inf[0, 1] = -np.inf
    return {"continuous": continuous, "ties": ties, "nan": with_nan, "-inf plane": minus_inf}


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_forward_and_backward_equal_the_numpy_path(dtype, on_cpu):
    for i, (settings, win) in enumerate(window_settings(True)):
        for kind, x in pooling_inputs((2, 3, *settings["size"]), i, dtype).items():
            label = f"{settings} {kind}"
            y, argmax = _kernels_gpu.max_pool_forward(x, win)
            y_ref, argmax_ref = pool.max_pool_forward_xp(x, win)
            np.testing.assert_array_equal(y, y_ref, err_msg=label)  # NaN where NumPy has NaN
            np.testing.assert_array_equal(argmax, argmax_ref, err_msg=label)
            upstream = randn(*y.shape, seed=i, dtype=dtype)
            x_grad = _kernels_gpu.max_pool_backward(upstream, argmax, win)
            close(x_grad, pool.max_pool_backward_xp(upstream, argmax_ref, win), dtype, label)
            xt = Tensor(x, requires_grad=True)  # the op's CPU side (Numba): the same argmax, the same gradient
            y_cpu = F.max_pool2d(xt, **{k: v for k, v in settings.items() if k != "size"})
            np.testing.assert_array_equal(y_cpu._ctx.ctx.saved_tensors[0], argmax, err_msg=label)
            y_cpu.backward(upstream)
            close(x_grad, xt.grad, dtype, label)


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_forward_and_backward_equal_the_numpy_path(dtype, on_cpu):
    for i, (settings, win) in enumerate(window_settings(True)):
        options = {k: v for k, v in settings.items() if k != "size"}
        x = randn(2, 3, *settings["size"], seed=i, dtype=dtype)
        for include in (True, False):
            label = f"{settings} count_include_pad={include}"
            xt = Tensor(x, requires_grad=True)
            y_ref = F.avg_pool2d(xt, count_include_pad=include, **options)
            divisor = pool.avg_pool_divisor(win, include, x.dtype, np)
            y = _kernels_gpu.avg_pool_forward(x, win, divisor)
            close(y, y_ref.data, dtype, label)
            upstream = randn(*y.shape, seed=i + 1, dtype=dtype)
            y_ref.backward(upstream)
            close(_kernels_gpu.avg_pool_backward(upstream, win, divisor), xt.grad, dtype, label)


# ---------------------------------------------- LRN and cross-entropy, through their ops
def run_op(make_output, arrays, seed):
    """Forward on Tensors of ``arrays``, backward with a seeded upstream gradient: (output, input gradients)."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = make_output(*tensors)
    out.backward(randn(*out.shape, seed=seed, dtype=out.dtype))
    return out.data, [t.grad for t in tensors]


def assert_kernels_equal_numpy(libraries, make_output, arrays, dtype, label, seed=0):
    """The op's NumPy path, then the same op with its GPU branch taken on the CPU kernels: equal."""
    y_ref, grads_ref = run_op(make_output, arrays, seed)
    with shim.kernels_on_cpu(libraries, claim_numpy_arrays=True):
        y, grads = run_op(make_output, arrays, seed)
    close(y, y_ref, dtype, label)
    for g, g_ref in zip(grads, grads_ref):
        close(g, g_ref, dtype, label)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lrn_kernels_equal_the_numpy_path(dtype, libraries):
    for channels, size, beta, alpha_over_size in itertools.product([1, 3, 6], [1, 2, 3, 5, 7], [0.75, 0.5, 1.0, 0.6],
                                                                   [True, False]):
        x = randn(2, channels, 3, 5, seed=channels * size, dtype=dtype)
        label = f"C={channels} size={size} beta={beta} alpha_over_size={alpha_over_size}"
        assert_kernels_equal_numpy(
            libraries, lambda t: F.local_response_norm(t, size, 0.3, beta, 1.5, alpha_over_size), [x], dtype, label)


def test_claimed_ops_run_their_gpu_kernels(libraries):
    for library in libraries.values():
        library.launched.clear()
    with shim.kernels_on_cpu(libraries, claim_numpy_arrays=True):
        run_op(lambda t: F.local_response_norm(F.max_pool2d(F.conv2d(t, t[:2, :, :2, :2]), 2), 3), [randn(2, 4, 5, 5)],
               seed=0)
    assert libraries["float64"].launched >= {"im2col", "col2im", "max_pool_forward", "max_pool_backward",
                                             "lrn_forward", "lrn_backward"}


# Ops whose both sides are compared through the op: (name, function of Tensors, input shapes).
OPS = [
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, 1, 1), [(2, 3, 6, 5), (4, 3, 3, 3), (4,)]),
    ("conv2d_same_stride", lambda x, w: F.conv2d(x, w, None, (2, 1), "same"), [(2, 2, 7, 6), (3, 2, 3, 2)]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, True), [(2, 3, 7, 6)]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, True, False), [(2, 3, 7, 6)]),
    ("subsample2d", lambda x, w, b: F.subsample2d(x, w, b, 2), [(2, 3, 7, 6), (3,), (3,)]),
    ("relu", F.relu, [(3, 4, 5)]),
    ("dropout", lambda x: F.dropout(x, 0.4, rng=np.random.default_rng(0)), [(4, 50)]),  # the shim draws from seed 0 too
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, op, shapes", OPS, ids=[o[0] for o in OPS])
def test_each_ops_gpu_side_equals_its_cpu_side(name, op, shapes, dtype, libraries):
    arrays = [randn(*shape, seed=k, dtype=dtype) for k, shape in enumerate(shapes)]
    assert_kernels_equal_numpy(libraries, op, arrays, dtype, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_kernels_equal_the_numpy_path(dtype, libraries):
    for classes, reduction, weighted, scale in itertools.product([1, 2, 5, 11], ["mean", "sum", "none"],
                                                                 [False, True], [1.0, 60.0]):
        rng = np.random.default_rng(classes)
        logits = (rng.standard_normal((7, classes)) * scale).astype(dtype)  # scale 60: exp would overflow unshifted
        labels = rng.integers(0, classes, 7)
        weights = rng.random(classes).astype(dtype) + 0.5 if weighted else None
        label = f"K={classes} {reduction} weighted={weighted} scale={scale}"
        assert_kernels_equal_numpy(
            libraries, lambda z: F.cross_entropy(z, labels, weights, reduction), [logits], dtype, label)
    fn = CrossEntropy(np.zeros(2, np.int64))
    with shim.kernels_on_cpu(libraries, claim_numpy_arrays=True):
        fn.apply_to(Tensor(randn(2, 3, dtype=dtype), requires_grad=True)).backward()
    assert fn.released  # ran, forward and backward, with the kernels claimed


# ------------------------------------------------------------------ element-wise
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kernel_equals_the_numpy_path(dtype, on_cpu):
    x = randn(3, 5, 7, seed=1, dtype=dtype)
    x[0, 0, :4] = [0.0, -0.0, np.nan, -np.inf]
    y, positive = _kernels_gpu.relu_forward(x)
    np.testing.assert_array_equal(y, F.relu(Tensor(x)).data)
    np.testing.assert_array_equal(positive, x > 0)
    assert y.dtype == x.dtype and positive.dtype == np.bool_


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_kernel_equals_the_numpy_path(dtype, p, libraries):
    x = randn(4, 300, seed=2, dtype=dtype)
    with shim.kernels_on_cpu(libraries, seed=7):  # cupy.random.random draws from default_rng(7)
        y, mask = _kernels_gpu.dropout_forward(x, p)
    ctx = Context([True])
    np.testing.assert_array_equal(y, Dropout(p, training=True, rng=np.random.default_rng(7)).forward_cpu(ctx, x))
    if p:
        np.testing.assert_array_equal(mask, ctx.saved_tensors[0])
        assert 0 < (mask == 0).mean() < 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov, weight_decay", [(0.0, False, 0.0), (0.0, False, 0.01), (0.9, False, 0.0),
                                                              (0.9, True, 5e-4), (0.5, False, 0.1)])
def test_sgd_kernels_equal_the_numpy_path(dtype, momentum, nesterov, weight_decay, libraries):
    def train(claimed: bool):
        w = Tensor(randn(6, 7, seed=3, dtype=dtype), requires_grad=True)
        opt = optim.SGD([w], 0.05, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        with shim.kernels_on_cpu(libraries, claim_numpy_arrays=claimed):
            for step in range(4):
                w.grad = randn(6, 7, seed=10 + step, dtype=dtype)
                opt.step()
        return w.data

    close(train(True), train(False), dtype)


# ------------------------------------------------------------- the shim's own checks
BROKEN = {
    "no_bounds_check": 'extern "C" __global__ void no_bounds_check(float* y, long long total)\n'
                       '{ long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x; y[index] = 1; }\n',
    "takes_int": 'extern "C" __global__ void takes_int(float* y, int n) { if (threadIdx.x == 0) y[0] = n; }\n',
}


@pytest.fixture(scope="module")
def broken_library(tmp_path_factory):
    return shim.finish_build(shim.start_build(list(BROKEN.values()), tmp_path_factory.mktemp("broken"), "broken"),
                             "float32")


def test_shim_catches_out_of_bounds_writes(broken_library):
    y = np.zeros(10, np.float32)
    with pytest.raises(shim.ShimError, match="wrote outside y"):
        broken_library.kernel("no_bounds_check")((1,), (16,), (y, np.int64(10)))  # 16 threads, 10 elements
    broken_library.kernel("no_bounds_check")((1,), (10,), (y, np.int64(10)))
    assert np.all(y == 1)


def test_shim_checks_argument_types(broken_library):
    kernel = broken_library.kernel("takes_int")
    with pytest.raises(shim.ShimError, match="n is int .* got int64"):
        kernel((1,), (1,), (np.zeros(1, np.float32), 3))  # a Python int travels as 64 bits
    with pytest.raises(shim.ShimError, match="C-contiguous float32"):
        kernel((1,), (1,), (np.zeros(1, np.float64), np.int32(3)))
    with pytest.raises(shim.ShimError, match="takes 2 arguments"):
        kernel((1,), (1,), (np.zeros(1, np.float32),))
    y = np.zeros(1, np.float32)
    kernel((1,), (1,), (y, np.int32(3)))
    assert y[0] == 3


def test_shim_refuses_shared_memory():
    with pytest.raises(shim.ShimError, match="__syncthreads"):
        shim.parse_kernels('extern "C" __global__ void k(float* y) { __syncthreads(); }')
