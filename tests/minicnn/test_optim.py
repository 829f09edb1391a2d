"""Optimisers and schedules equal PyTorch's."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicnn import Tensor, optim

torch = pytest.importorskip("torch")


def _run_both(make_mine, make_torch, steps, seed):
    r = np.random.default_rng(seed)
    w0 = r.standard_normal((3, 4))
    grads = [r.standard_normal((3, 4)) for _ in range(steps)]
    mine = Tensor(w0.copy(), requires_grad=True)
    theirs = torch.tensor(w0.copy(), requires_grad=True)
    opt_m, opt_t = make_mine([mine]), make_torch([theirs])
    for g in grads:
        mine.grad = g.copy()
        theirs.grad = torch.tensor(g)
        opt_m.step()
        opt_t.step()
    return mine.data, theirs.detach().numpy()


@settings(max_examples=25, deadline=None)
@given(lr=st.floats(1e-3, 0.5), momentum=st.sampled_from([0.0, 0.5, 0.9]), wd=st.sampled_from([0.0, 5e-4, 0.1]),
       nesterov=st.booleans(), steps=st.integers(1, 4), seed=st.integers(0, 1000))
def test_sgd_equals_pytorch(lr, momentum, wd, nesterov, steps, seed):
    nesterov = nesterov and momentum > 0
    a, b = _run_both(lambda p: optim.SGD(p, lr, momentum, wd, nesterov),
                     lambda p: torch.optim.SGD(p, lr, momentum=momentum, weight_decay=wd, nesterov=nesterov), steps, seed)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


def test_adam_equals_pytorch():
    a, b = _run_both(lambda p: optim.Adam(p, 0.01, weight_decay=1e-3),
                     lambda p: torch.optim.Adam(p, 0.01, weight_decay=1e-3), 5, 3)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)


def test_sgd_keeps_float32():
    p = Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.SGD([p], 0.1, momentum=0.9, weight_decay=1e-4)
    p.grad = np.ones(3, np.float32)
    opt.step()
    opt.step()
    assert p.data.dtype == np.float32


def test_exponential_staircase_decay_like_the_paper():
    p = Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([p], 0.01)
    sched = optim.ExponentialDecay(opt, 0.96, 5000)
    lrs = {}
    for t in range(1, 10001):
        lrs[t] = sched.step()
    assert lrs[4999] == pytest.approx(0.01)
    assert lrs[5000] == pytest.approx(0.0096)
    assert lrs[10000] == pytest.approx(0.01 * 0.96**2)


def test_step_and_cosine_decay():
    p = Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([p], 1.0)
    s = optim.StepDecay(opt, step_size=2, gamma=0.5)
    assert [s.step() for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
    opt.lr = 1.0
    c = optim.CosineDecay(opt, total_steps=10)
    vals = [c.step() for _ in range(12)]
    assert vals[4] == pytest.approx(0.5) and vals[9] == pytest.approx(0.0) and vals[11] == pytest.approx(0.0)


def test_optimizer_state_round_trip_resumes_exactly():
    r = np.random.default_rng(0)
    grads = [r.standard_normal(4) for _ in range(6)]

    def run(split):
        p = Tensor(np.zeros(4), requires_grad=True)
        opt = optim.SGD([p], 0.1, momentum=0.9)
        for i, g in enumerate(grads):
            if i == split:
                state, data = opt.state_dict(), p.data.copy()
                p = Tensor(data, requires_grad=True)
                opt = optim.SGD([p], 0.5, momentum=0.9)
                opt.load_state_dict(state)
            p.grad = g
            opt.step()
        return p.data

    np.testing.assert_array_equal(run(split=-1), run(split=3))


def test_optimizer_rejects_bad_settings():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="positive"):
        optim.SGD([p], 0.0)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], 0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], 0.1, nesterov=True)
