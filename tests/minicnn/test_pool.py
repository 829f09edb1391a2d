"""max_pool2d, avg_pool2d, subsample2d: gradient checks, naive twins, PyTorch, both CPU paths, dtypes, errors.

Tests taking the ``backend`` fixture run on the CPU and, where CuPy and a GPU exist, on the GPU
(inputs moved with ``to_device``, outputs compared after ``to_numpy``)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn import Tensor
from minicnn.backend import to_device, to_numpy
from minicnn.functions import pool
from minicnn.functions._im2col import make_window
from minicnn.functions.naive import avg_pool2d_naive, max_pool2d_naive, subsample2d_naive
from minicnn.functions.pool import avg_pool2d, max_pool2d, subsample2d
from minicnn.gradcheck import assert_gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (kernel, stride, padding, ceil_mode)
GRID = [
    (2, None, 0, False),
    (3, 2, 1, True),
    (3, 2, 1, False),
    ((3, 2), (2, 1), (1, 0), True),
    ((2, 3), (1, 2), (0, 1), False),
    (3, 2, "same", False),
    ((3, 1), (2, 2), "same", False),
    (2, 3, 0, True),
    (3, 2, "valid", True),
]


def distinct(shape, seed):
    """float64 values 0.1 apart in random order: no ties, so max-pool's derivative is defined."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


def leaf(a, device="cpu"):
    """A Tensor needing a gradient, on ``device``."""
    return Tensor(to_device(np.asarray(a), device), requires_grad=True)


def on(device, *arrays):
    """Tensors (no gradient) of ``arrays`` on ``device``."""
    return [Tensor(to_device(np.asarray(a), device)) for a in arrays]


def torch_same_pad(x, kernel, stride, value):
    """Explicit asymmetric TF 'same' padding for a PyTorch reference."""
    win = make_window(tuple(x.shape[2:]), kernel, stride, "same")
    return F.pad(x, (win.pad_left, win.pad_right, win.pad_top, win.pad_bottom), value=value)


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", GRID, ids=str)
def test_max_pool_gradcheck_grid(kernel, stride, padding, ceil_mode, backend):
    x = leaf(distinct((2, 2, 7, 6), seed=21), backend)
    assert_gradcheck(lambda x: max_pool2d(x, kernel, stride, padding, ceil_mode), [x], eps=1e-5)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", GRID, ids=str)
def test_avg_pool_gradcheck_grid(kernel, stride, padding, ceil_mode, count_include_pad, backend):
    x = leaf(np.random.default_rng(22).uniform(-1, 1, (2, 2, 7, 6)), backend)
    assert_gradcheck(lambda x: avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad), [x], eps=1e-5)


@pytest.mark.parametrize("kernel", [2, 3, (2, 3)], ids=str)
def test_subsample_gradcheck(kernel, backend):
    rng = np.random.default_rng(23)
    x, w, b = (leaf(rng.uniform(-1, 1, shape), backend) for shape in ((2, 3, 7, 8), 3, 3))
    assert_gradcheck(lambda x, w, b: subsample2d(x, w, b, kernel), [x, w, b], eps=1e-5)


@st.composite
def pool_cases(draw):
    """A random valid pooling: input of distinct values, kernel, stride, padding, ceil_mode."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(st.sampled_from([0, 1, (1, 0), (0, 2), "same", "valid"]))
    ceil_mode = draw(st.booleans())
    try:
        make_window((h, w), kernel, kernel if stride is None else stride, padding, ceil_mode, max_pad_half_kernel=True)
    except ValueError:
        assume(False)
    seed = draw(st.integers(0, 2**31))
    return distinct((n, c, h, w), seed), (kernel, stride, padding, ceil_mode), np.random.default_rng(seed + 1)


def torch_pool(fn, x, kernel, stride, padding, ceil_mode, fill, **kw):
    stride = kernel if stride is None else stride
    if padding == "same":
        return fn(torch_same_pad(x, kernel, stride, fill), kernel, stride, 0, ceil_mode=ceil_mode, **kw)
    return fn(x, kernel, stride, 0 if padding == "valid" else padding, ceil_mode=ceil_mode, **kw)


def check_against_torch(ours_fn, torch_fn, x, settings_, rng, fill, device="cpu", **kw):
    mine = leaf(x, device)
    y = ours_fn(mine, *settings_, **kw)
    upstream = rng.standard_normal(y.shape)
    y.backward(to_device(upstream, device))
    theirs = torch.tensor(x, requires_grad=True)
    y_ref = torch_pool(torch_fn, theirs, *settings_, fill, **kw)
    y_ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(y.data), y_ref.detach().numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(to_numpy(mine.grad), theirs.grad.numpy(), rtol=1e-6, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(pool_cases())
def test_max_pool_equals_naive_and_torch(backend, case):
    x, settings_, rng = case
    y = to_numpy(max_pool2d(*on(backend, x), *settings_).data)
    np.testing.assert_array_equal(y, max_pool2d_naive(x, *settings_))
    check_against_torch(max_pool2d, F.max_pool2d, x, settings_, rng, -float("inf"), backend)


@settings(max_examples=25, deadline=None)
@given(pool_cases(), st.booleans())
def test_avg_pool_equals_naive_and_torch(backend, case, count_include_pad):
    x, settings_, rng = case
    y = to_numpy(avg_pool2d(*on(backend, x), *settings_, count_include_pad=count_include_pad).data)
    np.testing.assert_allclose(y, avg_pool2d_naive(x, *settings_, count_include_pad), rtol=1e-12)
    if settings_[2] != "same" or count_include_pad:  # TF 'same' without the pad count has no torch twin
        check_against_torch(avg_pool2d, F.avg_pool2d, x, settings_, rng, 0.0, backend,
                            count_include_pad=count_include_pad)


def saved_argmax(y):
    """The argmax a max-pool output's Function saved for backward (its Context's one saved array)."""
    (argmax,) = y._ctx.ctx.saved_tensors
    return to_numpy(argmax)


@settings(max_examples=25, deadline=None)
@given(pool_cases())
def test_max_pool_kernel_and_slicing_reference_agree(case):
    x, (kernel, stride, padding, ceil_mode), rng = case
    y = max_pool2d(leaf(x), kernel, stride, padding, ceil_mode)
    win = pool.pool_window(x, kernel, stride, padding, ceil_mode)
    y_xp, argmax = pool.max_pool_forward_xp(x, win)
    np.testing.assert_array_equal(y.data, y_xp)
    np.testing.assert_array_equal(saved_argmax(y), argmax)
    upstream = rng.standard_normal(y.shape)
    y.backward(upstream)
    np.testing.assert_allclose(y._ctx.inputs[0].grad, pool.max_pool_backward_xp(upstream, argmax, win), rtol=1e-12)


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [g for g in GRID if g[2] != "same"], ids=str)
def test_max_pool_saves_torch_return_indices(kernel, stride, padding, ceil_mode, backend):
    """Both devices save the flat index h*W + w of each window's winner: PyTorch's return_indices."""
    x = np.random.default_rng(22).integers(0, 4, (2, 3, 7, 6)).astype(np.float64)  # many ties
    x[0, 1] = -np.inf
    y = max_pool2d(leaf(x, backend), kernel, stride, padding, ceil_mode)
    torch_padding = 0 if padding == "valid" else padding
    _, indices = F.max_pool2d(torch.tensor(x), kernel, stride, torch_padding, ceil_mode=ceil_mode,
                              return_indices=True)
    np.testing.assert_array_equal(saved_argmax(y), indices.numpy())
    assert saved_argmax(y).dtype == np.int32


def test_max_pool_without_gradient_saves_nothing(backend):
    x = Tensor(to_device(distinct((1, 2, 6, 6), seed=23), backend))
    fn = pool.MaxPool2d(3, 2, 1)
    y = fn.apply_to(x)
    assert y._ctx is None and fn.ctx is None
    np.testing.assert_array_equal(to_numpy(y.data), max_pool2d_naive(to_numpy(x.data), 3, 2, 1))


def test_max_pool_ties_go_to_first_maximum_like_torch(backend):
    x = np.zeros((1, 2, 5, 5))
    x[0, 1, 1:4, 1:4] = 3.0  # channel 0 all ties at 0, channel 1 a plateau of ties at 3
    upstream = np.arange(1.0, 1 + 2 * 3 * 3).reshape(1, 2, 3, 3)
    ref = torch.tensor(x, requires_grad=True)
    F.max_pool2d(ref, 3, 2, 1).backward(torch.tensor(upstream))
    mine = leaf(x, backend)
    max_pool2d(mine, 3, 2, 1).backward(to_device(upstream, backend))
    np.testing.assert_array_equal(to_numpy(mine.grad), ref.grad.numpy())
    win = pool.pool_window(x, 3, 2, 1, False)
    _, offset = pool.max_pool_forward_xp(x, win)
    np.testing.assert_array_equal(pool.max_pool_backward_xp(upstream, offset, win), ref.grad.numpy())


def test_all_minus_inf_windows_send_gradient_to_first_inside_pixel_like_torch(backend):
    x = np.full((1, 1, 5, 4), -np.inf)
    upstream = np.arange(1.0, 7.0).reshape(1, 1, 3, 2)
    ref = torch.tensor(x, requires_grad=True)
    F.max_pool2d(ref, 3, 2, 1).backward(torch.tensor(upstream))
    mine = leaf(x, backend)
    max_pool2d(mine, 3, 2, 1).backward(to_device(upstream, backend))
    np.testing.assert_array_equal(to_numpy(mine.grad), ref.grad.numpy())
    win = pool.pool_window(x, 3, 2, 1, False)
    _, offset = pool.max_pool_forward_xp(x, win)
    np.testing.assert_array_equal(pool.max_pool_backward_xp(upstream, offset, win), ref.grad.numpy())


def test_max_pool_propagates_nan_like_torch(backend):
    x = distinct((1, 1, 6, 6), seed=3)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[0, 0, 4, 0] = np.nan  # two NaNs in one window: the last one wins
    upstream = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    ref = torch.tensor(x, requires_grad=True)
    y_ref = F.max_pool2d(ref, 3, 2, 1)
    y_ref.backward(torch.tensor(upstream))
    mine = leaf(x, backend)
    y = max_pool2d(mine, 3, 2, 1)
    y.backward(to_device(upstream, backend))
    y_host = to_numpy(y.data)
    assert np.isnan(y_host).any() and np.isfinite(y_host).any()
    np.testing.assert_array_equal(y_host, y_ref.detach().numpy())
    np.testing.assert_array_equal(to_numpy(mine.grad), ref.grad.numpy())
    win = pool.pool_window(x, 3, 2, 1, False)
    y_xp, offset = pool.max_pool_forward_xp(x, win)
    np.testing.assert_array_equal(y_xp, y_ref.detach().numpy())
    np.testing.assert_array_equal(pool.max_pool_backward_xp(upstream, offset, win), ref.grad.numpy())


def test_tf_same_max_pool_on_paper_shape(backend):
    x = distinct((1, 2, 64, 64), seed=4)
    y = to_numpy(max_pool2d(*on(backend, x), 3, 2, "same").data)
    y_ref = F.max_pool2d(F.pad(torch.tensor(x), (0, 1, 0, 1), value=-float("inf")), 3, 2)
    assert y.shape == (1, 2, 32, 32)
    np.testing.assert_array_equal(y, y_ref.numpy())


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 9), st.integers(2, 9), st.integers(1, 3), st.integers(0, 99))
def test_subsample_equals_naive(backend, n, c, h, w, k, seed):
    assume(k <= min(h, w))
    rng = np.random.default_rng(seed)
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal(c), rng.standard_normal(c)
    y = to_numpy(subsample2d(*on(backend, x, wt, b), k).data)
    np.testing.assert_allclose(y, subsample2d_naive(x, wt, b, k), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["max", "avg", "subsample"])
def test_float32_in_float32_out_and_gradients(op, backend):
    x64 = distinct((2, 3, 8, 8), seed=5)
    x = leaf(x64.astype(np.float32), backend)
    params = [leaf(np.ones(3, np.float32), backend), leaf(np.zeros(3, np.float32), backend)]
    y = {"max": lambda: max_pool2d(x, 3, 2, "same"), "avg": lambda: avg_pool2d(x, 3, 2, 1, True),
         "subsample": lambda: subsample2d(x, *params)}[op]()
    y.backward(to_device(np.ones(y.shape, np.float32), backend))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    if op == "subsample":
        assert params[0].grad.dtype == params[1].grad.dtype == np.float32
    ref = {"max": lambda: max_pool2d_naive(x64, 3, 2, "same"), "avg": lambda: avg_pool2d_naive(x64, 3, 2, 1, True, True),
           "subsample": lambda: subsample2d_naive(x64, np.ones(3), np.zeros(3), 2)}[op]()
    np.testing.assert_allclose(to_numpy(y.data), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: max_pool2d(x[0], 2), ValueError, r"4-D \(N, C, H, W\), got shape \(1, 5, 5\)"),
        (lambda x: max_pool2d(x, 6), ValueError, r"kernel height 6 is larger than the padded input height 5"),
        (lambda x: max_pool2d(x, 3, 1, 2), ValueError, r"padding \(2, 2\) should be at most half the kernel"),
        (lambda x: avg_pool2d(x, 2, (0, 1)), ValueError, r"stride must be >= 1 on each axis"),
        (lambda x: avg_pool2d(x, 2, 1, "full"), ValueError, r"'same' or 'valid', got 'full'"),
        (lambda x: max_pool2d(Tensor(x.data.astype(np.int32)), 2), TypeError, r"floating-point .* int32"),
        (lambda x: subsample2d(x, Tensor(np.ones(2)), Tensor(np.ones(1))), ValueError, r"weight must have shape \(1,\)"),
        (lambda x: subsample2d(x, Tensor(np.ones(1, np.float32)), Tensor(np.ones(1))), TypeError, r"weight dtype"),
        (lambda x: subsample2d(x, Tensor(np.ones(1)), Tensor(np.ones(1)), 6), ValueError, r"larger than the input"),
    ],
)
def test_bad_input_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(Tensor(np.zeros((1, 1, 5, 5))))


@pytest.mark.parametrize("settings", [((3, 3), (2, 2), "same", False), ((2, 2), None, 0, True), ((3, 2), (1, 2), 1, False)])
def test_max_pool_without_grad_gives_the_same_values(settings):
    """Inference takes the values-only path (no argmax); it must equal the training path, NaN and -inf included."""
    from minicnn import no_grad

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    x[0, 0, :3, :3] = -np.inf
    x[1, 2, 4, 4] = np.nan
    kernel, stride, padding, ceil = settings
    with_grad = max_pool2d(Tensor(x, requires_grad=True), kernel, stride, padding, ceil).data
    with no_grad():
        values_only = max_pool2d(Tensor(x), kernel, stride, padding, ceil).data
    np.testing.assert_array_equal(values_only, with_grad)
