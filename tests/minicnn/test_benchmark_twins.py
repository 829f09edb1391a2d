"""The benchmarks' PyTorch references: the expert LRN equals ``torch.nn.LocalResponseNorm``.

``benchmarks/train_throughput.py`` times PyTorch twice, with the stock LRN and with
:class:`benchmarks.torch_models.ExpertLocalResponseNorm`; the second is only a fair
reference if it computes the same function and the same gradients.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from benchmarks.torch_models import ExpertLocalResponseNorm, channel_window_sum, copy_weights, twin_of  # noqa: E402
from facestack.models import MultiTaskNet, paper_init  # noqa: E402


@pytest.mark.parametrize("method", ["cumsum", "band"])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 11, 13])
@pytest.mark.parametrize("beta", [0.75, 0.5, 0.6])
def test_expert_lrn_equals_stock_forward_and_backward(method, size, beta):
    rng = np.random.default_rng(size)
    x = torch.tensor(rng.standard_normal((2, 9, 4, 3)), requires_grad=True)
    upstream = torch.tensor(rng.standard_normal((2, 9, 4, 3)))
    y_ref = torch.nn.LocalResponseNorm(size, 0.5, beta, 1.5)(x)  # a large alpha: a wrong window cannot hide
    (g_ref,) = torch.autograd.grad(y_ref, x, upstream)
    y = ExpertLocalResponseNorm(size, 0.5, beta, 1.5, method=method)(x)
    (g,) = torch.autograd.grad(y, x, upstream)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["cumsum", "band"])
def test_expert_lrn_passes_torch_gradcheck(method):
    x = torch.tensor(np.random.default_rng(0).uniform(-2, 2, (2, 6, 3, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(ExpertLocalResponseNorm(5, 0.5, 0.75, 1.0, method=method), (x,))


@pytest.mark.parametrize("method", ["cumsum", "band"])
def test_channel_window_sum_equals_a_loop(method):
    v = torch.tensor(np.random.default_rng(1).standard_normal((2, 7, 3, 3)))
    for before, after in ((5, 5), (2, 1), (0, 0), (8, 3)):
        want = torch.stack([v[:, max(c - before, 0): c + after + 1].sum(1) for c in range(7)], 1)
        torch.testing.assert_close(channel_window_sum(v, before, after, method), want)


@pytest.mark.parametrize("method", ["cumsum", "band"])
def test_multitask_twin_with_expert_lrn_equals_the_stock_twin(method):
    model = MultiTaskNet(variant="authors-code", dropout=0.0)
    paper_init(model, rng=1)
    stock, expert = twin_of(model).double(), twin_of(model, lrn=method).double()
    copy_weights(model, stock)
    copy_weights(model, expert)
    x = torch.tensor(np.random.default_rng(0).random((2, 1, 128, 128)))
    outs = [net(x) for net in (stock, expert)]
    for a, b in zip(*outs):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    for net, out in zip((stock, expert), outs):
        sum(o.sum() for o in out).backward()
    grads = dict(stock.named_parameters())
    for name, p in expert.named_parameters():
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-8, atol=1e-10, msg=name)
