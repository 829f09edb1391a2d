"""Per-layer activation and gradient statistics: complete, unchanged model, and they see saturation."""
from __future__ import annotations

import csv

import numpy as np

from minicnn import nn
from minicnn.functions.loss import cross_entropy
from minicnn.train.diagnostics import layer_statistics, leaf_modules, write_rows


def small_sigmoid_net(scale: float = 1.0) -> nn.Module:
    """A seeded net (PyTorch-style uniform init, fixed draws) with its weights times ``scale``."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sigmoid(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    rng = np.random.default_rng(1)
    fan_in = {"0": 9, "3": 4 * 8 * 8}
    for name, p in model.named_parameters():
        bound = 1.0 / np.sqrt(fan_in[name.split(".")[0]])
        p.data[...] = (scale * rng.uniform(-bound, bound, p.data.shape)).astype(p.data.dtype)
    return model


def statistics(model: nn.Module) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    return layer_statistics(model, x, lambda out: cross_entropy(out, y))


def test_every_leaf_layer_and_parameter_is_measured_and_the_model_left_as_it_was():
    model = small_sigmoid_net()
    before = {name: value.copy() for name, value in model.state_dict().items()}
    rows = statistics(model)
    activations = [r for r in rows if r["kind"] == "activation"]
    gradients = [r for r in rows if r["kind"] == "gradient"]
    assert [r["name"] for r in activations] == [name for name, _ in leaf_modules(model)] == ["0", "1", "2", "3"]
    assert [r["name"] for r in gradients] == [name for name, _ in model.named_parameters()]
    assert all(r["grad_norm"] > 0 for r in gradients)
    assert activations[1]["layer"] == "Sigmoid" and activations[1]["saturated_fraction"] is not None
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert "forward" not in vars(model._modules["1"])  # the recording wrapper is gone


def test_saturated_sigmoids_show_as_saturated_with_small_first_layer_gradients():
    calm = statistics(small_sigmoid_net(1.0))
    pinned = statistics(small_sigmoid_net(200.0))
    sigmoid = lambda rows: next(r for r in rows if r["layer"] == "Sigmoid")  # noqa: E731
    first = lambda rows: next(r for r in rows if r["name"] == "0.weight")  # noqa: E731
    assert sigmoid(pinned)["saturated_fraction"] > 0.8 > sigmoid(calm)["saturated_fraction"]
    assert first(pinned)["grad_to_param"] < first(calm)["grad_to_param"]


def test_rows_append_to_one_csv_per_epoch(tmp_path):
    rows = statistics(small_sigmoid_net())
    path = tmp_path / "diagnostics.csv"
    write_rows(rows, 0, path)
    write_rows(rows, 1, path)
    with open(path) as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == 2 * len(rows) and {r["epoch"] for r in read} == {"0", "1"}
