"""End to end: a LeNet-style network learns scikit-learn's bundled 8x8 digits; training stops on NaN."""
import time

import numpy as np
import pytest

import minicnn
from minicnn import Tensor, nn, optim
from minicnn.train import NonFiniteLossError, evaluate, train_step

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def digits_split():
    digits = sklearn_datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def small_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 8x8 -> 4x4
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 4x4 -> 2x2
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10),
    )


def test_lenet_learns_digits_quickly():
    (xtr, ytr), (xte, yte) = digits_split()
    minicnn.manual_seed(0)
    model = small_lenet()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    epochs, batch = 20, 32
    schedule = optim.CosineDecay(opt, total_steps=epochs * -(-len(ytr) // batch))
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    step = 0
    for _epoch in range(epochs):
        order = rng.permutation(len(ytr))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            train_step(model, opt, xtr[idx], ytr[idx], step)
            schedule.step()
            step += 1
    elapsed = time.perf_counter() - start
    _, train_acc = evaluate(model, [(xtr, ytr)])
    _, test_acc = evaluate(model, [(xte, yte)])
    print(f"digits: train {train_acc:.3f}, test {test_acc:.3f} in {elapsed:.1f}s")
    assert train_acc == 1.0
    assert test_acc > 0.95


def test_nan_loss_stops_with_the_step_and_leaves_weights_untouched():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = np.ones((2, 1, 2, 2), np.float32)
    y = np.array([0, 1])
    train_step(model, opt, x, y, step=0)
    before = [p.data.copy() for p in model.parameters()]
    x_bad = x.copy()
    x_bad[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteLossError, match="at step 7"):
        train_step(model, opt, x_bad, y, step=7)
    for b, p in zip(before, model.parameters()):
        assert np.array_equal(b, p.data)
