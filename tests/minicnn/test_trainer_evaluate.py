"""Trainer.evaluate over the data-parallel replicas: the metrics of the one-thread evaluation, all threads used."""
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from minicnn import Tensor, nn
from minicnn.train import Task, TrainConfig, Trainer


class TwoHeads(nn.Module):
    """Conv, batch norm, pooling and dropout, then one linear head per task; records the threads it ran on."""

    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(0)
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.LocalResponseNorm(3), nn.Flatten(), nn.Dropout(0.5))
        self.first = nn.Linear(64, 3, rng=rng)
        self.second = nn.Linear(64, 2, rng=rng)
        self.threads: set[str] = set()

    def forward(self, x: Tensor):
        self.threads.add(threading.current_thread().name)
        h = self.body(x)
        return self.first(h), self.second(h)


TASKS = [Task("first", "a", ("x", "y", "z")), Task("second", "b", ("p", "q"))]


def loader(batches=3, size=13, seed=1):
    """Batches of 8x8 one-channel images with two label arrays; the last batch is short."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(batches):
        n = size if k < batches - 1 else 5
        out.append(SimpleNamespace(x=rng.standard_normal((n, 1, 8, 8)).astype(np.float32), rows=np.arange(n),
                                   labels={"a": rng.integers(0, 3, n), "b": rng.integers(0, 2, n)}))
    return out


def trainer(tmp_path, threads):
    config = TrainConfig(epochs=1, threads=threads, device="cpu", figures=False)
    out = Trainer(TwoHeads(), TASKS, config, tmp_path / f"threads{threads}", progress=False)
    for module in out.model.modules():  # statistics set after the replicas were made, as training moves them
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
            module.running_var = np.array([1.5, 0.5, 2.0, 1.0], np.float32)
    return out


@pytest.mark.parametrize("threads", [2, 3])
def test_parallel_evaluation_equals_the_one_thread_evaluation(tmp_path, threads):
    single, parallel = trainer(tmp_path, 1), trainer(tmp_path, threads)
    dropouts = [m for m in parallel.model.modules() if isinstance(m, nn.Dropout)]
    for module in dropouts:
        module.rng = np.random.default_rng(5)
    rng_state = [m.rng.bit_generator.state for m in dropouts]
    expected, got = single.evaluate(loader()), parallel.evaluate(loader())
    for task in TASKS:
        np.testing.assert_array_equal(got[task.name]["pred"], expected[task.name]["pred"])
        np.testing.assert_array_equal(got[task.name]["true"], expected[task.name]["true"])
        assert got[task.name]["acc"] == expected[task.name]["acc"]
        assert got[task.name]["loss"] == pytest.approx(expected[task.name]["loss"], rel=1e-6)
    # every replica evaluated its slice (which pool thread ran which slice is the scheduler's choice)
    assert len(parallel.parallel.replicas) == threads and all(r[0].threads for r in parallel.parallel.replicas)
    assert single.model.threads == {threading.current_thread().name}
    assert parallel.model.training  # back in training mode
    assert [m.rng.bit_generator.state for m in dropouts] == rng_state  # evaluation drew nothing from them
    parallel.parallel.close()
