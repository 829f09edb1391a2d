"""local_response_norm: gradient checks, the naive twin, PyTorch (both alpha conventions), dtypes, errors.

Tests taking the ``backend`` fixture run on the CPU and, where CuPy and a GPU exist, on the GPU
(inputs moved with ``to_device``, outputs compared after ``to_numpy``)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import Tensor
from minicnn.backend import to_device, to_numpy
from minicnn.functions.lrn import local_response_norm
from minicnn.functions.naive import local_response_norm_naive
from minicnn.gradcheck import assert_gradcheck

torch = pytest.importorskip("torch")
F = torch.nn.functional


def leaf(a, device="cpu"):
    """A Tensor needing a gradient, on ``device``."""
    return Tensor(to_device(np.asarray(a), device), requires_grad=True)


@pytest.mark.parametrize("alpha_over_size", [True, False], ids=["caffe", "tf"])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 11])
@pytest.mark.parametrize("beta", [0.75, 0.6])
def test_lrn_gradcheck(size, alpha_over_size, beta, backend):
    x = leaf(np.random.default_rng(31).uniform(-2, 2, (2, 6, 3, 2)), backend)
    assert_gradcheck(lambda x: local_response_norm(x, size, 0.5, beta, 1.5, alpha_over_size), [x], eps=1e-5)


@st.composite
def lrn_cases(draw):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    size = draw(st.integers(1, 12))
    beta = draw(st.sampled_from([0.75, 0.5, 1.0, 0.3]))
    k = draw(st.sampled_from([1.0, 2.0, 0.5]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return rng.standard_normal(shape), size, beta, k, rng


@settings(max_examples=25, deadline=None)
@given(lrn_cases(), st.booleans())
def test_lrn_equals_naive_and_torch(backend, case, alpha_over_size):
    x, size, beta, k, rng = case
    alpha = 0.5  # large, so that a wrong window or convention cannot hide
    mine = leaf(x, backend)
    y = local_response_norm(mine, size, alpha, beta, k, alpha_over_size)
    y_host = to_numpy(y.data)
    np.testing.assert_allclose(y_host, local_response_norm_naive(x, size, alpha, beta, k, alpha_over_size), rtol=1e-10)
    upstream = rng.standard_normal(y.shape)
    y.backward(to_device(upstream, backend))
    theirs = torch.tensor(x, requires_grad=True)
    torch_alpha = alpha if alpha_over_size else alpha * size  # torch always divides by size
    y_ref = F.local_response_norm(theirs, size, torch_alpha, beta, k)
    y_ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y_host, y_ref.detach().numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(to_numpy(mine.grad), theirs.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_tensorflow_convention_on_paper_settings(backend):
    """TF depth_radius 5, bias 1, alpha 1e-4 (not divided), beta 0.75: y = x / (1 + 1e-4 * sum of 11 squares)^0.75."""
    x = np.random.default_rng(32).uniform(0, 30, (2, 32, 3, 3))
    y = to_numpy(local_response_norm(Tensor(to_device(x, backend)), 11, 1e-4, 0.75, 1.0, alpha_over_size=False).data)
    padded = np.pad(x**2, ((0, 0), (5, 5), (0, 0), (0, 0)))
    window = sum(padded[:, j : j + 32] for j in range(11))
    np.testing.assert_allclose(y, x / (1 + 1e-4 * window) ** 0.75, rtol=1e-12)


@pytest.mark.parametrize("beta", [0.75, 0.5, 0.6])
def test_float32_running_window_sums_stay_accurate_over_many_channels(backend, beta):
    """The CPU kernels slide the window with a running sum (add one channel, remove one): over 96
    channels the float32 rounding it accumulates must stay far below what training notices."""
    rng = np.random.default_rng(35)
    x = rng.uniform(-30, 30, (2, 96, 5, 4))
    upstream = rng.standard_normal(x.shape)
    mine = leaf(x.astype(np.float32), backend)
    y = local_response_norm(mine, 11, 1e-3, beta, 1.0, alpha_over_size=False)
    y.backward(to_device(upstream.astype(np.float32), backend))
    theirs = torch.tensor(x, requires_grad=True)
    y_ref = F.local_response_norm(theirs, 11, 1e-3 * 11, beta, 1.0)
    y_ref.backward(torch.tensor(upstream))
    scale = np.abs(theirs.grad.numpy()).max()
    np.testing.assert_allclose(to_numpy(y.data), y_ref.detach().numpy(), rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(mine.grad), theirs.grad.numpy(), rtol=1e-4, atol=1e-5 * scale)


def test_float32_in_float32_out_and_gradients(backend):
    x = leaf(np.random.default_rng(34).uniform(0, 5, (2, 16, 4, 4)).astype(np.float32), backend)
    y = local_response_norm(x, 5, 1e-3, 0.75, 1.0)
    y.backward(to_device(np.ones(y.shape, np.float32), backend))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    ref = local_response_norm_naive(to_numpy(x.data).astype(np.float64), 5, 1e-3, 0.75, 1.0)
    np.testing.assert_allclose(to_numpy(y.data), ref, rtol=1e-5 if backend == "cpu" else 1e-4)


@pytest.mark.parametrize(
    "shape, dtype, kwargs, error, match",
    [
        ((4, 3, 3), np.float64, {"size": 3}, ValueError, r"4-D \(N, C, H, W\), got shape \(4, 3, 3\)"),
        ((1, 4, 3, 3), np.int64, {"size": 3}, TypeError, r"floating-point .* got dtype int64"),
        ((1, 4, 3, 3), np.float64, {"size": 0}, ValueError, r"size must be an int >= 1 .* got 0"),
        ((1, 4, 3, 3), np.float64, {"size": 2.5}, ValueError, r"size must be an int >= 1 .* got 2.5"),
        ((1, 4, 3, 3), np.float64, {"size": 3, "k": -1.0}, ValueError, r"k >= 0 and alpha >= 0, got k=-1.0"),
    ],
)
def test_bad_input_errors(shape, dtype, kwargs, error, match):
    with pytest.raises(error, match=match):
        local_response_norm(Tensor(np.ones(shape, dtype)), **kwargs)
