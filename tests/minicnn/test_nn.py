"""Modules: parameters, names, modes, save/load, and the paper's networks equal their PyTorch twins.

Tests taking the ``backend`` fixture run on the CPU and, where CuPy and a GPU exist, on the GPU
(the model moved with ``Module.to``, outputs compared after ``to_numpy``)."""
import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn
from minicnn.backend import to_device, to_numpy
from facestack.models import GenderNet, LeNetAge, MultiTaskNet, paper_init

torch = pytest.importorskip("torch")
from benchmarks.torch_models import copy_weights, twin_of  # noqa: E402


def test_parameters_are_found_and_named_like_pytorch():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert model[0].weight.shape == (4, 1, 3, 3) and model[3].weight.shape == (2, 144)
    assert model.num_parameters() == 4 * 9 + 4 + 144 * 2 + 2


def test_train_eval_switches_dropout_everywhere():
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Dropout(0.5)))
    model.eval()
    assert all(not m.training for m in model.modules())
    x = Tensor(np.ones((2, 3), np.float32))
    assert np.array_equal(model(x).data, model[0](x).data)
    model.train()
    assert all(m.training for m in model.modules())


def test_save_and_load_round_trip(tmp_path):
    model = MultiTaskNet(variant="authors-code")
    path = minicnn.save(model, tmp_path / "m.npz")
    other = MultiTaskNet(variant="authors-code")
    minicnn.load(path, other)
    for (n, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        assert np.array_equal(a.data, b.data), n
    assert not list(tmp_path.glob("*.tmp"))


def test_load_state_dict_reports_names_and_shapes(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(KeyError, match="missing keys"):
        model.load_state_dict({"0.weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"0.weight has shape \(3, 3\)"):
        model.load_state_dict({"0.weight": np.zeros((3, 3)), "0.bias": np.zeros(2)})
    with pytest.raises(FileNotFoundError):
        minicnn.load(tmp_path / "nope.npz")


def test_load_state_dict_copies_the_arrays():
    model = nn.Sequential(nn.Linear(3, 2))
    state = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
    model.load_state_dict(state)
    model[0].weight.data -= 1.0  # an optimiser's in-place update
    state["0.bias"][:] = 5.0
    assert np.all(state["0.weight"] == 1.0) and np.all(model[0].bias.data == 0.0)


def test_saved_file_needs_no_pickle(tmp_path):
    path = minicnn.save(nn.Linear(2, 2), tmp_path / "l.npz")
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == {"weight", "bias"}


@pytest.mark.parametrize("variant", ["authors-code", "paper"])
@pytest.mark.parametrize("net", ["multitask", "gender"])
def test_paper_networks_equal_pytorch_twins(net, variant, backend):
    model = (MultiTaskNet if net == "multitask" else GenderNet)(variant=variant, dropout=0.0)
    paper_init(model, rng=1)
    twin = twin_of(model).double()
    copy_weights(model, twin)
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    model.to(backend)
    x = np.random.default_rng(0).random((2, 1, 128, 128))
    out = model(Tensor(to_device(x, backend)))
    ref = twin(torch.from_numpy(x))
    outs, refs = (out, ref) if isinstance(out, tuple) else ((out,), (ref,))
    for o, r in zip(outs, refs):
        np.testing.assert_allclose(to_numpy(o.data), r.detach().numpy(), rtol=1e-6, atol=1e-9)
    # gradients of every parameter agree too
    sum(o.sum() for o in outs).backward()
    sum(r.sum() for r in refs).backward()
    tparams = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), tparams[name].grad.numpy(), rtol=1e-5, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_lenet_shapes_and_twin(backend, activation):
    model = LeNetAge(activation=activation)
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == (4 if activation == "tanh" else 0)
    twin = twin_of(model)
    copy_weights(model, twin)
    model.to(backend)
    x = np.random.default_rng(0).random((2, 1, 128, 128), dtype=np.float32)
    out = model(Tensor(to_device(x, backend)))
    assert out.shape == (2, 4) and out.dtype == np.float32
    np.testing.assert_allclose(to_numpy(out.data), twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_lenet_refuses_an_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        LeNetAge(activation="relu6")


def test_models_keep_float32(backend):
    model = MultiTaskNet(variant="paper").to(backend)
    x = Tensor(to_device(np.random.default_rng(0).random((2, 1, 128, 128), dtype=np.float32), backend))
    g, a = model(x)
    assert g.dtype == a.dtype == np.float32
    (g.sum() + a.sum()).backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
