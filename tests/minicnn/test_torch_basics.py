"""The PyTorch basics, each against PyTorch: Module.double/float/to(dtype), Tensor.view,
minicnn.functional, optim.lr_scheduler and minicnn.load."""
import math

import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn, optim
from minicnn import functional as F
from minicnn.optim import lr_scheduler

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def small_net():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3 * 3 * 3, 4))


def small_torch_net():
    return torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 4))


def numpy_state(module):
    return {name: value.detach().numpy().copy() for name, value in module.state_dict().items()}


# ------------------------------------------------------------------ dtypes
def test_double_and_float_convert_parameters_grads_and_buffers():
    model = small_net()
    params = model.parameters()
    model(Tensor(randn(2, 2, 6, 6).astype(np.float32))).sum().backward()
    assert model.double() is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]  # the same Parameters, converted
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in params)
    assert model[1].running_var.dtype == np.float64 and model[1].num_batches_tracked.dtype == np.int64
    assert model(Tensor(randn(2, 2, 6, 6))).dtype == np.float64
    model.float()
    assert {v.dtype for v in model.state_dict().values()} == {np.dtype(np.float32), np.dtype(np.int64)}


@pytest.mark.parametrize("args, kwargs", [((np.float64,), {}), (("float64",), {}), (("cpu", np.float64), {}),
                                          ((np.dtype("float64"), "cpu"), {}), ((), {"device": "cpu", "dtype": float})])
def test_to_takes_a_dtype_a_device_or_both(args, kwargs):
    model = small_net()
    assert model.to(*args, **kwargs) is model
    assert all(p.dtype == np.float64 for p in model.parameters()) and model.device == "cpu"
    assert model.to("cpu") is model and model[0].weight.dtype == np.float64  # a device alone keeps the dtype


def test_to_rejects_what_is_neither():
    with pytest.raises(TypeError, match="floating dtype"):
        small_net().to(np.int32)
    with pytest.raises(TypeError, match="floating dtype"):
        small_net().to("int64")
    with pytest.raises(ValueError, match="expected 'cpu' or 'gpu'.*or a floating dtype"):
        small_net().to("tpu")
    with pytest.raises(TypeError, match="neither a device name"):
        small_net().to(object())


def test_double_model_equals_its_torch_twin_and_round_trips():
    theirs = small_torch_net().double()
    mine = small_net().double()
    mine.load_state_dict(numpy_state(theirs))
    x, upstream = randn(2, 2, 6, 6, seed=1), randn(2, 4, seed=2)
    xm, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = mine(xm), theirs(xt)
    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    ym.backward(upstream)
    yt.backward(torch.from_numpy(upstream))
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    torch_params = dict(theirs.named_parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad, torch_params[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    back = small_torch_net().double()  # minicnn -> torch: running statistics and the batch counter included
    back.load_state_dict({name: torch.from_numpy(np.array(v)) for name, v in mine.state_dict().items()})
    mine.eval()
    back.eval()
    np.testing.assert_allclose(mine(Tensor(x)).data, back(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


# -------------------------------------------------------------------- view
def test_view_shares_data_and_backpropagates_like_pytorch():
    x = randn(2, 3, 4)
    mine, theirs = Tensor(x.copy(), requires_grad=True), torch.tensor(x.copy(), requires_grad=True)
    vm, vt = mine.view(6, -1), theirs.view(6, -1)
    assert vm.shape == tuple(vt.shape) == (6, 4)
    weights = randn(6, 4, seed=1)
    (vm * weights).sum().backward()
    (vt * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_array_equal(mine.grad, theirs.grad.numpy())
    vm.data[0, 0] = 42.0  # one memory: writing the view writes the tensor
    assert mine.data[0, 0, 0] == 42.0
    assert mine.view(24).shape == (24,) and mine.view((4, 6)).shape == (4, 6)


def test_view_refuses_to_copy():
    transposed = Tensor(randn(3, 4)).transpose()
    with pytest.raises(RuntimeError, match="use .reshape"):
        transposed.view(12)
    assert transposed.reshape(12).shape == (12,)
    with pytest.raises(ValueError):
        Tensor(randn(3, 4)).view(5, -1)


# -------------------------------------------------------------- functional
def check_against_torch(mine, theirs, arrays, rtol=1e-10, atol=1e-12, seed=5):
    """``mine`` on Tensors and ``theirs`` on torch tensors of ``arrays`` (float64): outputs and all input gradients."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    torch_tensors = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    ym, yt = mine(*tensors), theirs(*torch_tensors)
    np.testing.assert_allclose(ym.data, yt.detach().numpy(), rtol=rtol, atol=atol)
    upstream = randn(*ym.shape, seed=seed)
    ym.backward(upstream)
    yt.backward(torch.from_numpy(upstream))
    for i, (m, t) in enumerate(zip(tensors, torch_tensors)):
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 1), (0, 2)), (3, 2)])
def test_conv2d(stride, padding):
    check_against_torch(lambda x, w, b: F.conv2d(x, w, b, stride, padding),
                        lambda x, w, b: TF.conv2d(x, w, b, stride, padding),
                        [randn(2, 3, 7, 8), randn(4, 3, 3, 3, seed=1), randn(4, seed=2)], rtol=1e-9)


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [(2, None, 0, False), (3, 2, 1, False),
                                                                (3, 2, 1, True), ((3, 2), (1, 2), (1, 0), True)])
def test_pooling(kernel, stride, padding, ceil_mode):
    x = [randn(2, 3, 7, 9)]
    check_against_torch(lambda x: F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode),
                        lambda x: TF.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode), x)
    for include in (True, False):
        check_against_torch(lambda x: F.avg_pool2d(x, kernel, stride, padding, ceil_mode, include),
                            lambda x: TF.avg_pool2d(x, kernel, stride, padding, ceil_mode, include), x)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations(name):
    check_against_torch(getattr(F, name), getattr(torch, name), [randn(3, 4, 5)])


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    arrays = [randn(5, 3), randn(4, 3, seed=1)] + ([randn(4, seed=2)] if bias else [])
    check_against_torch(F.linear, TF.linear, arrays)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_and_log_softmax_along_any_dim(dim):
    x = [randn(3, 4, 5) * 3]
    check_against_torch(lambda x: F.softmax(x, dim), lambda x: TF.softmax(x, dim), x)
    check_against_torch(lambda x: F.log_softmax(x, dim), lambda x: TF.log_softmax(x, dim), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy(reduction, weighted):
    labels = np.array([0, 3, 1, 3, 2])
    weight = np.array([0.5, 2.0, 1.0, 3.0]) if weighted else None
    check_against_torch(lambda z: F.cross_entropy(z, labels, weight, reduction=reduction),
                        lambda z: TF.cross_entropy(z, torch.from_numpy(labels),
                                                   None if weight is None else torch.from_numpy(weight),
                                                   reduction=reduction), [randn(5, 4)])


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_local_response_norm(size):
    check_against_torch(lambda x: F.local_response_norm(x, size, alpha=0.1, beta=0.75, k=2.0),
                        lambda x: TF.local_response_norm(x, size, alpha=0.1, beta=0.75, k=2.0), [randn(2, 6, 3, 4)])


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_updates_the_running_statistics_in_place(training):
    mean_m, var_m = np.array([0.1, -0.3, 0.2]), np.array([1.5, 0.5, 1.0])
    mean_t, var_t = torch.from_numpy(mean_m.copy()), torch.from_numpy(var_m.copy())
    check_against_torch(lambda x, w, b: F.batch_norm(x, mean_m, var_m, w, b, training, 0.2, 1e-3),
                        lambda x, w, b: TF.batch_norm(x, mean_t, var_t, w, b, training, 0.2, 1e-3),
                        [randn(4, 3, 2, 3), randn(3, seed=1), randn(3, seed=2)], rtol=1e-9)
    np.testing.assert_allclose(mean_m, mean_t.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var_m, var_t.numpy(), rtol=1e-12)
    assert training == (mean_m[0] != 0.1)


def test_dropout_scales_kept_values_and_is_identity_in_eval():
    x = Tensor(np.ones((200, 50), np.float32), requires_grad=True)
    y = F.dropout(x, 0.3, rng=np.random.default_rng(0))
    assert set(np.unique(y.data)) == {np.float32(0.0), np.float32(1 / 0.7)}
    assert abs((y.data == 0).mean() - 0.3) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # the gradient is the same mask
    assert np.array_equal(F.dropout(x, 0.3, training=False).data, x.data)


def test_functional_results_are_tensors_in_float32():
    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    for y in (F.softmax(x, 1), F.relu(x), F.max_pool2d(x, 2), F.flatten(x)):
        assert isinstance(y, Tensor) and y.dtype == np.float32


# ------------------------------------------------------------ lr schedulers
SCHEDULERS = {
    "StepLR": (lambda o: lr_scheduler.StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    "ExponentialLR": (lambda o: lr_scheduler.ExponentialLR(o, 0.9),
                      lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    "CosineAnnealingLR": (lambda o: lr_scheduler.CosineAnnealingLR(o, 7, eta_min=0.001),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, eta_min=0.001)),
    "LambdaLR": (lambda o: lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e) ** 0.5),
                 lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e) ** 0.5)),
    "LinearLR": (lambda o: lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=4),
                 lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=4)),
}


def optimizers(lr=0.1):
    """A minicnn and a torch SGD on one dummy weight each."""
    return (optim.SGD([Tensor(np.zeros(1), requires_grad=True)], lr),
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr))


def lr_sequences(make_mine, make_theirs, steps):
    """The rates of epochs 0 .. steps from both libraries, stepping each optimizer before its schedulers."""
    opt_m, opt_t = optimizers()
    mine, theirs = [make(opt_m) for make in make_mine], [make(opt_t) for make in make_theirs]
    seq_m, seq_t = [mine[-1].get_last_lr()], [theirs[-1].get_last_lr()]
    for _ in range(steps):
        opt_m.step()
        opt_t.step()
        for s in mine + theirs:
            s.step()
        assert opt_m.lr == mine[-1].get_last_lr()[0]  # the optimizer uses the scheduled rate
        seq_m.append(mine[-1].get_last_lr())
        seq_t.append(theirs[-1].get_last_lr())
    return seq_m, seq_t


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_gives_pytorchs_sequence(name):
    make_mine, make_theirs = SCHEDULERS[name]
    seq_m, seq_t = lr_sequences([make_mine], [make_theirs], 30)
    assert seq_m == seq_t  # bit for bit: the same recursion
    assert len(set(x[0] for x in seq_m)) > 2


def test_chained_warmup_then_cosine_equals_pytorch():
    seq_m, seq_t = lr_sequences([SCHEDULERS["LinearLR"][0], SCHEDULERS["CosineAnnealingLR"][0]],
                                [SCHEDULERS["LinearLR"][1], SCHEDULERS["CosineAnnealingLR"][1]], 20)
    assert seq_m == seq_t


def test_cosine_reaches_eta_min_at_t_max():
    opt, _ = optimizers()
    sched = lr_scheduler.CosineAnnealingLR(opt, 10, eta_min=0.01)
    for _ in range(10):
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.01)
    assert sched.base_lr == 0.1 and math.isclose(opt.lr, 0.01)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_state_dict_resumes_exactly(name, tmp_path):
    make = SCHEDULERS[name][0]
    opt, _ = optimizers()
    straight = make(opt)
    for _ in range(5):
        straight.step()
    np.savez(tmp_path / "s.npz", **straight.state_dict(), **{"opt." + k: v for k, v in opt.state_dict().items()})
    with np.load(tmp_path / "s.npz", allow_pickle=False) as saved:  # plain numbers: an .npz holds them
        state = {k: saved[k] for k in saved.files if not k.startswith("opt.")}
        opt_state = {k[4:]: saved[k] for k in saved.files if k.startswith("opt.")}
    opt2, _ = optimizers(lr=0.7)
    resumed = make(opt2)  # build the scheduler first, then restore both (PyTorch's order)
    resumed.load_state_dict(state)
    opt2.load_state_dict(opt_state)
    for _ in range(12):
        straight.step()
        resumed.step()
        assert resumed.get_last_lr() == straight.get_last_lr()
    with pytest.raises(KeyError, match="last_epoch"):
        make(optimizers()[0]).load_state_dict({})


def test_schedulers_need_an_optimizer():
    with pytest.raises(TypeError, match="not a minicnn Optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1), 2)


def test_the_trainers_schedule_still_works():
    opt, _ = optimizers()
    assert optim.StepDecay(opt, step_size=2, gamma=0.5).step() == pytest.approx(0.1)


# -------------------------------------------------------------------- load
def test_load_returns_the_model_or_the_state(tmp_path):
    model = small_net()
    model(Tensor(randn(2, 2, 6, 6).astype(np.float32)))  # move the running statistics
    path = minicnn.save(model, tmp_path / "m.npz")
    other = small_net()
    assert minicnn.load(path, other) is other
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    state = minicnn.load(path)
    assert list(state) == list(model.state_dict()) and state["1.num_batches_tracked"] == 1


def test_load_from_a_torch_state(tmp_path):
    theirs = small_torch_net()
    path = minicnn.save(numpy_state(theirs), tmp_path / "torch.npz")
    mine = minicnn.load(path, small_net()).eval()
    x = np.random.default_rng(3).random((2, 2, 6, 6), dtype=np.float32)
    np.testing.assert_allclose(mine(Tensor(x)).data, theirs.eval()(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_load_errors_name_the_file_and_the_keys(tmp_path):
    path = minicnn.save(small_net(), tmp_path / "m.npz")
    wrong = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(27, 5))
    before = {k: v.copy() for k, v in wrong.state_dict().items()}
    with pytest.raises(ValueError, match=r"m.npz.*5.weight has shape \(4, 27\) in the file, \(5, 27\)"):
        minicnn.load(path, wrong)
    assert all(np.array_equal(before[k], v) for k, v in wrong.state_dict().items())  # nothing half-loaded
    with pytest.raises(KeyError, match=r"m.npz.*missing keys \['2.weight'.*unexpected keys \['5.weight'"):
        minicnn.load(path, nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Linear(27, 4)))
    partial = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1))
    assert minicnn.load(path, partial, strict=False) is partial
    with pytest.raises(FileNotFoundError):
        minicnn.load(tmp_path / "absent.npz", small_net())


def test_load_never_unpickles(tmp_path):
    np.savez(tmp_path / "evil.npz", weight=np.array([{"code": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        minicnn.load(tmp_path / "evil.npz", nn.Linear(1, 1))
