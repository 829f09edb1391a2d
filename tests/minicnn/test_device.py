"""Devices: asking for the GPU without CuPy fails clearly; on a GPU, moves round-trip and files hold host arrays.

The error-path tests run everywhere: they make CuPy look absent (or present without a
CUDA device) by replacing ``minicnn.backend._cupy``. The round-trip tests need CuPy and
an NVIDIA GPU and are skipped, with the reason, elsewhere. ``facestack.data`` (the loader)
is imported inside the tests that use it, through :func:`data_module`: it needs Pillow,
which a bare GPU image may lack, and the other tests should still run there.
"""
from __future__ import annotations

import re

import types

import numpy as np
import pytest

import minicnn
from minicnn import Tensor, backend, nn, optim
from minicnn.serialization import load_arrays
from minicnn.train import train_step
from minicnn.train.checkpoint import load_checkpoint

INSTALL_HINT = r"pip install \.\[gpu\]"


@pytest.fixture(params=["not installed", "no device"])
def no_gpu(request, monkeypatch) -> str:
    """Make minicnn see no usable GPU: CuPy missing, or CuPy present with zero CUDA devices."""
    if request.param == "not installed":
        monkeypatch.setattr(backend, "_cupy", None)
        return "CuPy is not installed"

    class FakeCupyArray:  # no real array is ever one of these
        pass

    fake = types.SimpleNamespace(ndarray=FakeCupyArray,
                                 cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 0)))
    monkeypatch.setattr(backend, "_cupy", fake)
    return "no CUDA device is visible"


def data_module():
    """``facestack.data``; skips the test where Pillow (needed by its image readers) is missing."""
    pytest.importorskip("PIL", reason="facestack.data imports Pillow (pip install pillow)")
    import facestack.data

    return facestack.data


def small_net() -> nn.Module:
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3, rng=rng))


def tiny_images(n: int = 10) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 1, 6, 6), dtype=np.uint8), {"y": rng.integers(0, 3, n)}


# ------------------------------------------------------------------ without a GPU: clear errors
@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:0"])
def test_module_to_gpu_names_the_install(no_gpu, device):
    model = small_net()
    before = [p.data for p in model.parameters()]
    with pytest.raises(RuntimeError, match=f"{no_gpu}.*{INSTALL_HINT}"):
        model.to(device)
    assert [p.data for p in model.parameters()] == before  # nothing moved, nothing half-moved
    with pytest.raises(RuntimeError, match=INSTALL_HINT):
        nn.ReLU().to("gpu")  # even a module without parameters checks


def test_tensor_to_gpu_names_the_install(no_gpu):
    with pytest.raises(RuntimeError, match=f"{no_gpu}.*{INSTALL_HINT}"):
        Tensor(np.ones(3, np.float32)).to("gpu")
    with pytest.raises(RuntimeError, match=INSTALL_HINT):
        backend.to_device(np.ones(3), "gpu")


@pytest.mark.parametrize("prefetch", [0, 2])
def test_batch_loader_on_gpu_fails_at_construction(no_gpu, prefetch):
    images, labels = tiny_images()
    with pytest.raises(RuntimeError, match=f"{no_gpu}.*{INSTALL_HINT}"):
        data_module().BatchLoader(images, labels, batch_size=4, prefetch=prefetch, device="gpu")


def test_experiment_device_gpu_fails_before_reading_data(no_gpu, tmp_path, capsys):
    data_module()
    from facestack.train import cli

    experiment = cli.Experiment("toy", "toy", {"paper": {}}, build_model=lambda s, t: small_net(),
                                task_names=("gender",))
    missing = tmp_path / "no-such-data"  # reading the data first would fail with "no data at ..."
    assert cli.main(experiment, ["--device", "gpu", "--data", str(missing), "--out", str(tmp_path / "run")]) == 2
    assert re.search(f"--device gpu: .*{no_gpu}.*{INSTALL_HINT}", capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_cpu_requests_never_need_cupy(no_gpu):
    t = Tensor(np.ones(3, np.float32))
    assert t.to("cpu") is t and t.to("CPU") is t
    model = small_net()
    assert model.to("cpu") is model and model.device == "cpu"
    images, labels = tiny_images()
    batch = next(iter(data_module().BatchLoader(images, labels, batch_size=4, prefetch=0, device="cpu")))
    assert isinstance(batch.x, np.ndarray) and isinstance(batch.labels["y"], np.ndarray)


@pytest.mark.parametrize("device", ["tpu", "gpu0", ""])
def test_unknown_device_names_the_choices(device):
    with pytest.raises(ValueError, match="expected 'cpu' or 'gpu'"):
        small_net().to(device)
    with pytest.raises(ValueError, match="expected 'cpu' or 'gpu'"):
        Tensor(np.ones(2)).to(device)
    images, labels = tiny_images()
    with pytest.raises(ValueError, match="expected 'cpu' or 'gpu'"):
        data_module().BatchLoader(images, labels, device=device)


# ------------------------------------------------------------------ on a GPU
@pytest.mark.gpu
@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and an NVIDIA GPU (pip install .[gpu])")
class TestOnGpu:
    """Round trips, optimisers following their parameters, loaders and files: need CuPy and a GPU."""

    def test_module_round_trip_moves_weights_and_gradients_exactly(self):
        cp = backend._require_cupy()
        model = small_net()
        original = {n: p.data.copy() for n, p in model.named_parameters()}
        for p in model.parameters():
            p.grad = np.ones_like(p.data)
        assert model.to("gpu") is model and model.device == "gpu"
        assert all(isinstance(p.data, cp.ndarray) and isinstance(p.grad, cp.ndarray) for p in model.parameters())
        model.to("gpu")  # a second move is a no-op
        model.to("cpu")
        for name, p in model.named_parameters():
            assert isinstance(p.data, np.ndarray) and p.data.dtype == original[name].dtype
            np.testing.assert_array_equal(p.data, original[name], err_msg=name)
            np.testing.assert_array_equal(p.grad, np.ones_like(p.data))

    def test_tensor_round_trip_keeps_values_and_cuts_the_graph(self):
        cp = backend._require_cupy()
        x = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        y = x * 2.0
        on_gpu = y.to("gpu")
        assert isinstance(on_gpu.data, cp.ndarray) and on_gpu.device == "gpu"
        assert on_gpu._ctx is None and on_gpu.requires_grad
        assert on_gpu.to("gpu") is on_gpu
        back = on_gpu.to("cpu")
        np.testing.assert_array_equal(back.data, y.data)
        assert back.dtype == np.float32

    @pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, 0.05, momentum=0.9, weight_decay=1e-3),
                                      lambda ps: optim.SGD(ps, 0.05, momentum=0.9, nesterov=True),
                                      lambda ps: optim.Adam(ps, 0.01, weight_decay=1e-3)],
                             ids=["sgd-momentum", "sgd-nesterov", "adam"])
    @pytest.mark.parametrize("first, then", [("cpu", "gpu"), ("gpu", "cpu")])
    def test_optimizer_state_follows_the_model(self, make, first, then):
        """Build the optimiser, step on ``first``, move the model, step on ``then``: same as never moving."""
        x = np.random.default_rng(2).random((4, 1, 6, 6), dtype=np.float32)
        y = np.array([0, 1, 2, 1])

        def two_steps(move: bool) -> tuple[nn.Module, optim.Optimizer]:
            model = small_net().to(first)
            opt = make(model.parameters())
            for step in range(2):
                if move and step == 1:
                    model.to(then)
                train_step(model, opt, backend.to_device(x, model.device), backend.to_device(y, model.device), step)
            return model, opt

        moved, opt = two_steps(move=True)
        stayed, _ = two_steps(move=False)
        assert moved.device == then
        for st in opt.state:
            for name, value in st.items():
                if hasattr(value, "shape"):
                    assert backend.device_of(value) == then, f"optimizer state {name} stayed on {backend.device_of(value)}"
        for (name, a), (_, b) in zip(moved.named_parameters(), stayed.named_parameters()):
            np.testing.assert_allclose(backend.to_numpy(a.data), backend.to_numpy(b.data), rtol=1e-5, atol=1e-6,
                                       err_msg=name)

    @pytest.mark.parametrize("prefetch", [0, 2])
    def test_batch_loader_yields_device_arrays_equal_to_the_cpu_ones(self, prefetch):
        cp = backend._require_cupy()
        loader = data_module().BatchLoader
        images, labels = tiny_images()
        on_cpu = list(loader(images, labels, batch_size=4, prefetch=prefetch, seed=3))
        on_gpu = list(loader(images, labels, batch_size=4, prefetch=prefetch, seed=3, device="gpu"))
        assert len(on_gpu) == len(on_cpu) == 3
        for c, g in zip(on_cpu, on_gpu):
            assert isinstance(g.x, cp.ndarray) and isinstance(g.labels["y"], cp.ndarray)
            assert isinstance(g.rows, np.ndarray)
            np.testing.assert_array_equal(cp.asnumpy(g.x), c.x)
            np.testing.assert_array_equal(cp.asnumpy(g.labels["y"]), c.labels["y"])

    def test_save_writes_host_arrays(self, tmp_path):
        model = small_net()
        host = {n: p.data.copy() for n, p in model.named_parameters()}
        model.to("gpu")
        path = minicnn.save(model, tmp_path / "m.npz")
        with np.load(path, allow_pickle=False) as archive:
            for name in host:
                assert archive[name].dtype == host[name].dtype
                np.testing.assert_array_equal(archive[name], host[name])
        other = small_net().to("gpu")
        minicnn.load(path, other)  # a host file loads into a model on the GPU, which stays there
        assert other.device == "gpu"
        for name, p in other.named_parameters():
            np.testing.assert_array_equal(backend.to_numpy(p.data), host[name])

    def test_gpu_trainer_checkpoint_holds_host_arrays_and_resumes_on_the_cpu(self, tmp_path):
        loader_class = data_module().BatchLoader
        from tests.facestack.experiments.synthetic import BAR, QUADRANT, TwoHeadNet, make_trainer, synthetic_images

        images, labels = synthetic_images(96)
        rows = np.arange(96)

        def loaders(device: str):
            common = {"batch_size": 32, "device": device, "prefetch": 0}
            return (loader_class(images, labels, rows[:64], seed=0, **common),
                    loader_class(images, labels, rows[64:80], shuffle=False, **common),
                    loader_class(images, labels, rows[80:], shuffle=False, **common))

        out = tmp_path / "run"
        gpu = make_trainer(out, TwoHeadNet(dropout=0.0), (BAR, QUADRANT), epochs=1, device="gpu")
        gpu.fit(*loaders("gpu"))
        assert gpu.model.device == "gpu"
        saved = load_arrays(out / "model.npz")  # written from the GPU arrays: np.savez refuses CuPy arrays
        for name, p in gpu.model.named_parameters():
            np.testing.assert_array_equal(saved[name], backend.to_numpy(p.data), err_msg=name)
        states, meta = load_checkpoint(out / "checkpoint.npz")
        assert meta["epoch"] == 1
        velocities = {k: v for k, v in gpu.optimizer.state_dict().items() if hasattr(v, "shape")}
        assert velocities and all(backend.device_of(v) == "gpu" for v in velocities.values())
        for key, value in velocities.items():
            np.testing.assert_array_equal(states["optimizer"][key], backend.to_numpy(value), err_msg=key)
        cpu = make_trainer(out, TwoHeadNet(dropout=0.0), (BAR, QUADRANT), epochs=2, device="cpu")
        cpu.fit(*loaders("cpu"), resume=True)
        assert cpu.epoch == 2 and cpu.model.device == "cpu"
