"""nn.BatchNorm2d / BatchNorm1d and F.batch_norm equal PyTorch's: outputs, gradients, running statistics, state dicts.

Tests taking the ``backend`` fixture also run on the GPU where CuPy and a device exist
(the op's formulas are array-module generic, so the same code runs there).
"""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn
from minicnn import functions as F
from minicnn.backend import to_device, to_numpy
from minicnn.gradcheck import assert_gradcheck

torch = pytest.importorskip("torch")


def randn(*shape, seed=0, dtype=np.float64):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5).astype(dtype)


def torch_state(module):
    """A torch module's state dict as NumPy arrays."""
    return {name: value.detach().numpy().copy() for name, value in module.state_dict().items()}


def to_torch_state(module):
    """A minicnn module's state dict as torch tensors (num_batches_tracked stays int64)."""
    return {name: torch.from_numpy(np.array(to_numpy(value))) for name, value in module.state_dict().items()}


def assert_same_state(mine, theirs, rtol=1e-6, atol=1e-7):
    expected = torch_state(theirs)
    got = {name: to_numpy(value) for name, value in mine.state_dict().items()}
    assert list(got) == list(expected)
    for name in expected:
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (2, 2, 3, 7), (7, 1, 1, 2)])
def test_training_batches_then_eval_equal_pytorch(shape, momentum, backend):
    mine = nn.BatchNorm2d(shape[1], momentum=momentum).double().to(backend)
    theirs = torch.nn.BatchNorm2d(shape[1], momentum=momentum).double()
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    mine.load_state_dict(torch_state(theirs))
    for step in range(3):
        x = randn(*shape, seed=step)
        y = mine(Tensor(to_device(x, backend)))
        expected = theirs(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(to_numpy(y.data), expected, rtol=1e-10, atol=1e-12)
    assert_same_state(mine, theirs, rtol=1e-12, atol=1e-14)
    assert int(to_numpy(mine.num_batches_tracked.data)) == 3
    mine.eval()
    theirs.eval()
    x = randn(*shape, seed=9)
    np.testing.assert_allclose(to_numpy(mine(Tensor(to_device(x, backend))).data),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert_same_state(mine, theirs, rtol=1e-12, atol=1e-14)  # evaluation changes no statistics


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_gradients_equal_pytorch(training, affine, backend):
    mine = nn.BatchNorm2d(3, affine=affine).double().train(training).to(backend)
    theirs = torch.nn.BatchNorm2d(3, affine=affine).double().train(training)
    theirs.running_mean.copy_(torch.tensor([0.3, -0.2, 1.0]))
    theirs.running_var.copy_(torch.tensor([0.5, 2.0, 1.5]))
    if affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor([1.5, -0.5, 2.0]))
            theirs.bias.copy_(torch.tensor([0.1, 0.2, -0.3]))
    mine.load_state_dict(torch_state(theirs))
    x, upstream = randn(3, 3, 4, 5, seed=1), randn(3, 3, 4, 5, seed=2)
    xm = Tensor(to_device(x, backend), requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    mine(xm).backward(to_device(upstream, backend))
    theirs(xt).backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(to_numpy(xm.grad), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    if affine:
        np.testing.assert_allclose(to_numpy(mine.weight.grad), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(to_numpy(mine.bias.grad), theirs.bias.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_float64_gradient_check(training):
    running_mean, running_var = np.array([0.2, -1.0, 0.5]), np.array([0.7, 1.3, 2.0])
    x = Tensor(randn(2, 3, 3, 4, seed=3), requires_grad=True)
    w = Tensor(randn(3, seed=4), requires_grad=True)
    b = Tensor(randn(3, seed=5), requires_grad=True)

    def bn(x, w, b):  # fresh copies: the check's many forwards must not move the statistics it uses
        return F.batch_norm(x, running_mean.copy(), running_var.copy(), w, b, training=training)

    assert_gradcheck(bn, [x, w, b], tol=1e-6, name=f"batch_norm training={training}")
    assert_gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x], tol=1e-6, name="no affine")


def test_module_gradient_check_in_training_mode():
    layer = nn.BatchNorm2d(2).double()
    x = Tensor(randn(3, 2, 2, 3, seed=6), requires_grad=True)
    assert_gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias], tol=1e-6, name="BatchNorm2d")


def test_state_dict_round_trip_with_pytorch(tmp_path):
    theirs = torch.nn.BatchNorm2d(4)
    for step in range(2):  # trained statistics, not the initial ones
        theirs(torch.from_numpy(randn(5, 4, 3, 3, seed=step, dtype=np.float32)))
    mine = minicnn.load(minicnn.save(torch_state(theirs), tmp_path / "bn.npz"), nn.BatchNorm2d(4))
    assert_same_state(mine, theirs, rtol=0, atol=0)
    direct = nn.BatchNorm2d(4)
    direct.load_state_dict(theirs.state_dict())  # torch tensors load as they are
    assert_same_state(direct, theirs, rtol=0, atol=0)
    for step in range(2, 4):  # train minicnn's on, then give the state back to a fresh torch layer
        mine(Tensor(randn(5, 4, 3, 3, seed=step, dtype=np.float32)))
        theirs(torch.from_numpy(randn(5, 4, 3, 3, seed=step, dtype=np.float32)))
    back = torch.nn.BatchNorm2d(4)
    back.load_state_dict(to_torch_state(mine))
    assert int(back.num_batches_tracked) == 4
    assert_same_state(mine, theirs, rtol=1e-5, atol=1e-6)
    mine.eval()
    back.eval()
    x = randn(2, 4, 3, 3, seed=7, dtype=np.float32)
    np.testing.assert_allclose(mine(Tensor(x)).data, back(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_without_running_stats_uses_the_batch_in_eval_too():
    mine, theirs = nn.BatchNorm2d(2, track_running_stats=False), torch.nn.BatchNorm2d(2, track_running_stats=False)
    assert list(mine.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    assert mine.running_mean is None
    mine.eval()
    theirs.eval()
    x = randn(3, 2, 4, 4, seed=8, dtype=np.float32)
    np.testing.assert_allclose(mine(Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_float32_stays_float32():
    layer = nn.BatchNorm2d(3)
    x = Tensor(randn(2, 3, 4, 4, dtype=np.float32), requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == layer.weight.grad.dtype == np.float32
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32
    assert layer.num_batches_tracked.dtype == np.int64


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batchnorm1d_equals_pytorch(shape):
    mine, theirs = nn.BatchNorm1d(3).double(), torch.nn.BatchNorm1d(3).double()
    x = randn(*shape, seed=10)
    xm, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = mine(xm), theirs(xt)
    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = randn(*shape, seed=11)
    ym.backward(upstream)
    yt.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert_same_state(mine, theirs, rtol=1e-12, atol=1e-14)


def test_reset_running_stats():
    layer = nn.BatchNorm2d(2)
    layer(Tensor(randn(3, 2, 2, 2, dtype=np.float32)))
    layer.reset_running_stats()
    assert np.all(layer.running_mean.data == 0) and np.all(layer.running_var.data == 1)
    assert int(layer.num_batches_tracked.data) == 0


def test_clear_errors():
    layer = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match="got 2 channels"):
        layer(Tensor(np.zeros((2, 2, 4, 4), np.float32)))
    with pytest.raises(ValueError, match="expects 4-D"):
        layer(Tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(Tensor(np.zeros((1, 3, 1, 1), np.float32)))
    with pytest.raises(TypeError, match="differs from the input.s float64"):
        layer(Tensor(np.zeros((2, 3, 2, 2))))  # a float64 input into a float32 layer
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        F.batch_norm(Tensor(np.zeros((2, 3), np.float32)), np.zeros(3, np.float32), None, training=True)
