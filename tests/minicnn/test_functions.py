"""Activations, dropout, linear, flatten, log-softmax and cross-entropy: gradient checks and PyTorch equality.

Tests taking the ``backend`` fixture run on the CPU and, where CuPy and a GPU exist, on the GPU
(inputs moved with ``to_device``, outputs compared after ``to_numpy``)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import Tensor
from minicnn.backend import get_array_module, to_device, to_numpy
from minicnn import functions as A
from minicnn import functions as L
from minicnn import functions as Lo
from minicnn.gradcheck import assert_gradcheck

torch = pytest.importorskip("torch")
rng = np.random.default_rng(1)


def away_from_zero(*shape, device="cpu"):
    """Values with |x| >= 0.1 so ReLU's kink is never inside a finite-difference step, on ``device``."""
    a = rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return Tensor(to_device(a, device), requires_grad=True)


@pytest.mark.parametrize("fn", [A.relu, A.sigmoid, A.tanh], ids=["relu", "sigmoid", "tanh"])
def test_activation_gradcheck(fn, backend):
    assert_gradcheck(fn, [away_from_zero(3, 4, 2, device=backend)])


def fixed_mask_dropout(a, p, seed):
    """Dropout whose mask is the same at every call: a fresh seeded generator, and on the GPU CuPy's reseeded."""
    xp = get_array_module(a)
    if xp is not np:
        xp.random.seed(seed)
    return A.dropout(a, p, True, np.random.default_rng(seed))


def test_dropout_gradcheck_with_fixed_mask(backend):
    x = away_from_zero(5, 6, device=backend)
    assert_gradcheck(lambda a: fixed_mask_dropout(a, 0.3, 7), [x])


def test_dropout_statistics_and_eval_identity(backend):
    x = Tensor(to_device(np.ones((200, 200), np.float32), backend))
    y = to_numpy(A.dropout(x, 0.25, True, np.random.default_rng(0)).data)
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert np.allclose(y[y != 0], 1 / 0.75)
    assert A.dropout(x, 0.25, training=False).data is x.data
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        A.dropout(x, 1.0)


def test_sigmoid_does_not_overflow():
    y = A.sigmoid(Tensor(np.array([-1000.0, 0.0, 1000.0], np.float32))).data
    assert np.all(np.isfinite(y)) and y.tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_gradcheck(with_bias, backend):
    x, w = away_from_zero(4, 5, device=backend), away_from_zero(3, 5, device=backend)
    inputs = [x, w] + ([away_from_zero(3, device=backend)] if with_bias else [])
    assert_gradcheck(L.linear, inputs)


def test_flatten_gradcheck(backend):
    assert_gradcheck(L.flatten, [away_from_zero(2, 3, 2, 2, device=backend)])


def test_log_softmax_gradcheck(backend):
    assert_gradcheck(Lo.log_softmax, [away_from_zero(4, 5, device=backend)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_gradcheck(reduction, weighted, backend):
    labels = to_device(np.array([0, 2, 1, 2, 0]), backend)
    cw = to_device(np.array([0.5, 2.0, 1.0]), backend) if weighted else None
    assert_gradcheck(lambda z: Lo.cross_entropy(z, labels, cw, reduction), [away_from_zero(5, 3, device=backend)])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), fin=st.integers(1, 7), fout=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_linear_equals_pytorch(n, fin, fout, seed, backend):
    r = np.random.default_rng(seed)
    x, w, b = r.standard_normal((n, fin)), r.standard_normal((fout, fin)), r.standard_normal(fout)
    g = r.standard_normal((n, fout))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(g))
    mx, mw, mb = (Tensor(to_device(a, backend), requires_grad=True) for a in (x, w, b))
    y = L.linear(mx, mw, mb)
    y.backward(to_device(g, backend))
    expected = torch.nn.functional.linear(tx, tw, tb).detach().numpy()
    np.testing.assert_allclose(to_numpy(y.data), expected, rtol=1e-6, atol=1e-12)
    for m, t in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(to_numpy(m.grad), t.grad.numpy(), rtol=1e-6, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(2, 6), weighted=st.booleans(), scale=st.floats(0.1, 50), seed=st.integers(0, 10_000))
def test_cross_entropy_equals_pytorch(n, k, weighted, scale, seed, backend):
    r = np.random.default_rng(seed)
    z = r.standard_normal((n, k)) * scale
    y = r.integers(0, k, n)
    cw = r.uniform(0.2, 3.0, k) if weighted else None
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(y), weight=None if cw is None else torch.tensor(cw))
    tl.backward()
    mz = Tensor(to_device(z, backend), requires_grad=True)
    ml = Lo.cross_entropy(mz, to_device(y, backend), None if cw is None else to_device(cw, backend))
    ml.backward()
    np.testing.assert_allclose(ml.item(), tl.item(), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(mz.grad), tz.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits(backend):
    z = Tensor(to_device(np.array([[1e4, -1e4], [-1e4, 1e4]], np.float32), backend), requires_grad=True)
    loss = Lo.cross_entropy(z, to_device(np.array([0, 0]), backend))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(1e4)
    assert np.all(np.isfinite(to_numpy(z.grad)))


def test_cross_entropy_rejects_bad_labels():
    z = Tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 3\].*from 0 to 4"):
        Lo.cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"expected \(3,\)"):
        Lo.cross_entropy(z, np.array([0, 1]))
    with pytest.raises(TypeError, match="integers"):
        Lo.cross_entropy(z, np.array([0.0, 1.0, 2.0]))


def test_linear_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected weight \(out_features, 5\)"):
        L.linear(Tensor(np.zeros((2, 5))), Tensor(np.zeros((3, 4))))
    with pytest.raises(ValueError, match="3-D"):
        L.linear(Tensor(np.zeros((2, 5, 1))), Tensor(np.zeros((3, 5))))


def test_accuracy():
    logits = np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    assert Lo.accuracy(logits, np.array([1, 0, 0])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("fn", [A.relu, A.sigmoid, A.tanh, L.flatten, Lo.log_softmax])
def test_float32_in_float32_out(fn, backend):
    x64 = rng.standard_normal((3, 4))
    x = Tensor(to_device(x64.astype(np.float32), backend), requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.backward(to_device(np.ones(y.shape, np.float32), backend))
    assert x.grad.dtype == np.float32
    reference = fn(Tensor(x64)).data  # the same function in float64 on the CPU
    np.testing.assert_allclose(to_numpy(y.data), reference, rtol=1e-4, atol=1e-6)


def test_float32_loss_and_linear(backend):
    arrays = [rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), np.zeros(2)]
    x, w, b = (Tensor(to_device(a.astype(np.float32), backend), requires_grad=True) for a in arrays)
    labels, class_weights = np.array([0, 1, 1]), np.array([1.0, 2.0])
    loss = Lo.cross_entropy(L.linear(x, w, b), to_device(labels, backend), class_weights=to_device(class_weights, backend))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    reference = Lo.cross_entropy(L.linear(*(Tensor(a) for a in arrays)), labels, class_weights=class_weights)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-4)
