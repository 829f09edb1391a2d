"""conv2d: gradient checks, the naive loop twin, PyTorch, im2col paths, dtypes and input errors.

Tests taking the ``backend`` fixture run on the CPU and, where CuPy and a GPU exist, on the GPU
(inputs moved with ``to_device``, outputs compared after ``to_numpy``)."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn import Tensor, no_grad
from minicnn.backend import to_device, to_numpy
from minicnn.functions import _im2col, conv
from minicnn.functions._im2col import col2im, col2im_xp, im2col, im2col_xp, make_window
from minicnn.functions.conv import conv2d
from minicnn.functions.naive import conv2d_naive
from minicnn.gradcheck import assert_gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional

KERNELS = [(1, 1), (2, 3), (3, 3)]
STRIDES = [1, 2, (2, 1)]
PADDINGS = [0, 1, (1, 0), "same", "valid"]


def leaf(a, device="cpu"):
    """A Tensor needing a gradient, on ``device``."""
    return Tensor(to_device(np.asarray(a), device), requires_grad=True)


def on(device, *arrays):
    """Tensors (no gradient) of ``arrays`` on ``device``."""
    return [Tensor(to_device(np.asarray(a), device)) for a in arrays]


def torch_conv_same(x, w, b, stride):
    """PyTorch reference for TF 'same': pad asymmetrically with F.pad, then convolve unpadded."""
    win = make_window(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, "same")
    x = F.pad(x, (win.pad_left, win.pad_right, win.pad_top, win.pad_bottom))
    return F.conv2d(x, w, b, stride=stride)


def torch_conv(x, w, b, stride, padding):
    if padding == "same":
        return torch_conv_same(x, w, b, stride)
    return F.conv2d(x, w, b, stride=stride, padding=0 if padding == "valid" else padding)


@pytest.mark.parametrize("kernel", KERNELS, ids=str)
@pytest.mark.parametrize("stride", STRIDES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS, ids=str)
def test_conv2d_gradcheck_grid(kernel, stride, padding, backend):
    rng = np.random.default_rng(11)
    x = leaf(rng.uniform(-1, 1, (2, 2, 5, 4)), backend)
    w = leaf(rng.uniform(-1, 1, (3, 2) + kernel), backend)
    b = leaf(rng.uniform(-1, 1, 3), backend)
    assert_gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), [x, w, b], eps=1e-5)


def test_conv2d_gradcheck_without_bias_and_wide_kernel(backend):
    rng = np.random.default_rng(12)
    x, w = leaf(rng.uniform(-1, 1, (1, 3, 4, 7)), backend), leaf(rng.uniform(-1, 1, (2, 3, 2, 5)), backend)
    assert_gradcheck(lambda x, w: conv2d(x, w, None, (1, 2), (2, 1)), [x, w], eps=1e-5)


@st.composite
def conv_cases(draw):
    """A random valid convolution: shapes, stride, padding and float64 data."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from([0, 1, 2, (0, 1), (2, 0), "same", "valid"]))
    try:
        make_window((h, w), (kh, kw), stride, padding)
    except ValueError:
        assume(False)
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f))
    return data, stride, padding, rng


@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_conv2d_equals_naive(backend, case):
    (x, w, b), stride, padding, _ = case
    y = to_numpy(conv2d(*on(backend, x, w, b), stride, padding).data)
    np.testing.assert_allclose(y, conv2d_naive(x, w, b, stride, padding), rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_conv2d_equals_torch_forward_and_gradients(backend, case):
    (x, w, b), stride, padding, rng = case
    ours = [leaf(a, backend) for a in (x, w, b)]
    y = conv2d(*ours, stride, padding)
    upstream = rng.standard_normal(y.shape)
    y.backward(to_device(upstream, backend))
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y_ref = torch_conv(*theirs, stride, padding)
    y_ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(to_numpy(y.data), y_ref.detach().numpy(), rtol=1e-6, atol=1e-12)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(to_numpy(mine.grad), ref.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_same_padding_matches_tensorflow_rule():
    win = make_window((128, 128), 7, 2, "same")
    assert (win.pad_top, win.pad_bottom, win.out_h) == (2, 3, 64)
    win = make_window((32, 31), 5, 1, "SAME")
    assert (win.pad_top, win.pad_bottom, win.pad_left, win.pad_right, win.out_w) == (2, 2, 2, 2, 31)
    win = make_window((5, 5), 1, 3, "same")  # a 1x1 kernel never needs padding
    assert (win.pad_top, win.pad_bottom, win.out_h) == (0, 0, 2)


def test_conv2d_same_on_paper_first_layer_equals_torch(backend):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((1, 1, 128, 128)), rng.standard_normal((4, 1, 7, 7)), rng.standard_normal(4)
    y = to_numpy(conv2d(*on(backend, x, w, b), 2, "same").data)
    y_ref = F.conv2d(F.pad(torch.tensor(x), (2, 3, 2, 3)), torch.tensor(w), torch.tensor(b), stride=2)
    assert y.shape == (1, 4, 64, 64)
    np.testing.assert_allclose(y, y_ref.numpy(), rtol=1e-6, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(conv_cases())
def test_numba_and_slicing_im2col_agree(case):
    (x, w, _), stride, padding, rng = case
    win = make_window(x.shape[2:], w.shape[2:], stride, padding)
    cols = im2col(x, win)
    np.testing.assert_array_equal(cols, im2col_xp(x, win))
    grad_cols = rng.standard_normal(cols.shape)
    back = col2im(grad_cols, win, x.shape[1])
    np.testing.assert_allclose(back, col2im_xp(grad_cols, win, x.shape[1]), rtol=1e-12, atol=1e-12)
    # col2im is the adjoint of im2col: <im2col(x), g> == <x, col2im(g)>
    assert np.isclose(np.sum(cols * grad_cols), np.sum(x * back), rtol=1e-10)


@pytest.mark.parametrize("need", ["all", "x_only", "w_only"])
def test_chunked_batch_equals_one_chunk(monkeypatch, need):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((7, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    upstream = rng.standard_normal((7, 4, 3, 3))

    def run():
        xt, wt, bt = Tensor(x, need != "w_only"), Tensor(w, need != "x_only"), Tensor(b, True)
        y = conv2d(xt, wt, bt, 2, "same")
        y.backward(upstream)
        return y.data, xt.grad, wt.grad, bt.grad

    whole = run()
    monkeypatch.setattr(conv, "CPU_CHUNK_BYTES", 27 * 9 * 8 * 2)  # cols of 2 images (K=27, P=9, float64)
    chunked = run()
    for a, c in zip(whole, chunked):
        if a is None:
            assert c is None
        else:
            np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-12)


def test_float32_in_float32_out_and_gradients(backend):
    rng = np.random.default_rng(6)
    x, w, b = (leaf(rng.standard_normal(s).astype(np.float32), backend) for s in [(2, 3, 8, 8), (4, 3, 3, 3), (4,)])
    y = conv2d(x, w, b, 1, "same")
    y.backward(to_device(np.ones(y.shape, np.float32), backend))
    assert y.dtype == np.float32
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    ref = conv2d_naive(*(to_numpy(t.data).astype(np.float64) for t in (x, w, b)), 1, "same")
    np.testing.assert_allclose(to_numpy(y.data), ref, rtol=1e-4, atol=1e-5)


def test_no_grad_keeps_no_columns():
    x = Tensor(np.ones((2, 1, 5, 5)))
    w = Tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    with no_grad():
        y = conv2d(x, w)
    assert y._ctx is None and y.shape == (2, 1, 3, 3)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, error, match",
    [
        ((3, 8, 8), (2, 3, 3, 3), {}, ValueError, r"4-D \(N, C, H, W\), got shape \(3, 8, 8\)"),
        ((1, 3, 8, 8), (2, 4, 3, 3), {}, ValueError, r"x has 3 channels .* w expects 4"),
        ((1, 3, 4, 4), (2, 3, 5, 5), {}, ValueError, r"kernel height 5 is larger than the padded input height 4"),
        ((1, 3, 4, 4), (2, 3, 5, 5), {"padding": 1}, None, None),
        ((1, 3, 8, 8), (2, 3, 3, 3), {"stride": 0}, ValueError, r"stride must be >= 1 on each axis, got 0"),
        ((1, 3, 8, 8), (2, 3, 3, 3), {"stride": (1, 2, 3)}, ValueError, r"stride must be an int or a pair"),
        ((1, 3, 8, 8), (2, 3, 3, 3), {"padding": -1}, ValueError, r"padding must be >= 0 on each axis, got -1"),
        ((1, 3, 8, 8), (2, 3, 3, 3), {"padding": "full"}, ValueError, r"'same' or 'valid', got 'full'"),
    ],
)
def test_bad_input_errors(x_shape, w_shape, kwargs, error, match):
    x, w = Tensor(np.zeros(x_shape)), Tensor(np.zeros(w_shape))
    if error is None:
        assert conv2d(x, w, **kwargs).shape == (1, 2, 2, 2)
        return
    with pytest.raises(error, match=match):
        conv2d(x, w, **kwargs)


def test_dtype_and_bias_errors():
    w = Tensor(np.zeros((2, 3, 3, 3)))
    with pytest.raises(TypeError, match=r"floating-point .* got dtype int64"):
        conv2d(Tensor(np.zeros((1, 3, 5, 5), np.int64)), w)
    with pytest.raises(TypeError, match=r"dtypes differ: x float32, w float64"):
        conv2d(Tensor(np.zeros((1, 3, 5, 5), np.float32)), w)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\) .* got \(3,\)"):
        conv2d(Tensor(np.zeros((1, 3, 5, 5))), w, Tensor(np.zeros(3)))


def test_window_output_size_matches_torch_ceil_mode():
    win = _im2col.make_window((9, 8), (3, 2), (2, 1), 1, ceil_mode=True)
    ref = F.max_pool2d(torch.zeros(1, 1, 9, 8), (3, 2), (2, 1), 1, ceil_mode=True)
    assert (win.out_h, win.out_w) == tuple(ref.shape[2:])
    assert (win.ksize, win.out_size) == (6, win.out_h * win.out_w)


def test_second_backward_recomputes_freed_columns(backend):
    rng = np.random.default_rng(7)
    x, w = leaf(rng.standard_normal((2, 2, 5, 5)), backend), leaf(rng.standard_normal((3, 2, 3, 3)), backend)
    y = conv2d(x, w, None, 1, 1)
    upstream = to_device(rng.standard_normal(y.shape), backend)
    y.backward(upstream, retain_graph=True)
    first = to_numpy(w.grad).copy(), to_numpy(x.grad).copy()
    y.backward(upstream)  # gradients accumulate: twice the first
    np.testing.assert_allclose(to_numpy(w.grad), 2 * first[0], rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), 2 * first[1], rtol=1e-12)
