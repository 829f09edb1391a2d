"""Batch norm under DataParallel: the running statistics follow the whole batch, not slice 0.

Each slice is normalised with its own statistics (as PyTorch's DataParallel does), but
the running mean and variance must move as one forward pass over the whole batch moves
them: pooled over the slices, weighted by their sizes, once per pass.
"""
from __future__ import annotations

import numpy as np
import pytest

from minicnn import Tensor, nn, no_grad
from minicnn.functions import cross_entropy
from minicnn.functions.batchnorm import pooled_stats
from minicnn.parallel import DataParallel


def bn_net(momentum: float | None = 0.1, kind: str = "2d") -> nn.Module:
    """A batch norm whose input no other batch norm shaped (later ones see slice-normalised inputs)."""
    rng = np.random.default_rng(0)
    if kind == "2d":
        net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4, momentum=momentum, dtype=np.float64),
                            nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3, rng=rng))
    else:
        net = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(36, momentum=momentum, dtype=np.float64),
                            nn.Linear(36, 3, rng=rng))
    for p in net.parameters():
        p.data = p.data.astype(np.float64)
    return net


def running_state(net: nn.Module) -> dict[str, np.ndarray]:
    return {name: np.array(b.data) for name, b in net.named_buffers()}


@pytest.mark.parametrize("kind", ["2d", "1d"])
@pytest.mark.parametrize("momentum", [0.1, None], ids=["momentum", "cumulative"])
@pytest.mark.parametrize("threads", [2, 3])
def test_running_stats_equal_a_whole_batch_forward(threads, momentum, kind):
    rng = np.random.default_rng(1)
    reference, model = bn_net(momentum, kind), bn_net(momentum, kind)
    parallel = DataParallel([model], threads=threads)
    for step in range(3):
        x, y = rng.standard_normal((11, 1, 6, 6)) * (step + 1) + step, rng.integers(0, 3, 11)  # 11: uneven slices
        reference(Tensor(x))

        def work(replicas, part, share):
            (cross_entropy(replicas[0](Tensor(x[part])), y[part]) * share).backward()

        parallel.run(work, len(x))
        want, got = running_state(reference), running_state(model)
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14, err_msg=f"{name}, step {step}")
    assert int(model[1].num_batches_tracked.data) == 3  # one count per pass, not per slice
    parallel.close()


def test_evaluation_reads_the_originals_running_stats_and_changes_nothing():
    rng = np.random.default_rng(2)
    model = bn_net()
    model(Tensor(rng.standard_normal((8, 1, 6, 6))))  # move the running statistics away from 0 / 1
    model.eval()
    before = running_state(model)
    x = rng.standard_normal((9, 1, 6, 6))
    parallel = DataParallel([model], threads=2)
    with no_grad():
        parts = parallel.map(lambda replicas, part: replicas[0](Tensor(x[part])).data, len(x))
        whole = model(Tensor(x)).data
    parallel.close()
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-12, atol=1e-14)
    for name, value in running_state(model).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_a_training_mode_map_counts_the_whole_batch_once():
    rng = np.random.default_rng(3)
    reference, model = bn_net(), bn_net()
    x = rng.standard_normal((10, 1, 6, 6))
    with no_grad():
        reference(Tensor(x))
        parallel = DataParallel([model], threads=2)
        parallel.map(lambda replicas, part: replicas[0](Tensor(x[part])), len(x))
        parallel.close()
    for name, value in running_state(reference).items():
        np.testing.assert_allclose(running_state(model)[name], value, rtol=1e-12, atol=1e-14, err_msg=name)


def test_a_failing_slice_leaves_the_running_stats_as_they_were():
    model = bn_net()
    before = running_state(model)
    parallel = DataParallel([model], threads=2)

    def work(replicas, part, share):
        replicas[0](Tensor(np.ones((part.stop - part.start, 1, 6, 6))))
        if part.start > 0:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        parallel.run(work, 6)
    parallel.close()
    for name, value in running_state(model).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert all(m.batch_stats_sink is None for rep in parallel.replicas for mod in rep for m in mod.modules()
               if isinstance(m, nn.BatchNorm2d))


def test_pooled_stats_equal_the_whole_batch():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((13, 5)) * 3 + 1
    parts = [(x[a:b].mean(0), x[a:b].var(0), b - a) for a, b in ((0, 4), (4, 5), (5, 13))]
    mean, var, count = pooled_stats(parts)
    assert count == 13
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(0), rtol=1e-12)
