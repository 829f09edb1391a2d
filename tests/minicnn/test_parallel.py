"""minicnn.parallel: batch slices, the BLAS thread limit, and data-parallel gradients equal to the whole batch's."""
from __future__ import annotations

import numpy as np
import pytest

from minicnn import Tensor, nn
from minicnn.functions import cross_entropy
from minicnn.parallel import DataParallel, batch_slices, blas_threads


def small_net(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    rng = np.random.default_rng(seed)
    layers = [nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
              nn.Linear(4 * 4 * 4, 3, rng=rng)]
    if dropout:
        layers.insert(4, nn.Dropout(dropout))
    net = nn.Sequential(*layers)
    for p in net.parameters():
        p.data = p.data.astype(np.float64)
    return net


@pytest.mark.parametrize("n, parts, sizes", [(64, 2, [32, 32]), (7, 3, [2, 3, 2]), (2, 4, [1, 1]), (5, 1, [5])])
def test_batch_slices_cover_the_batch(n, parts, sizes):
    slices = batch_slices(n, parts)
    assert [s.stop - s.start for s in slices] == sizes
    assert slices[0].start == 0 and slices[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))


def test_batch_slices_rejects_nonsense():
    with pytest.raises(ValueError, match="n >= 1"):
        batch_slices(0, 2)


def test_blas_threads_sets_and_restores():
    from minicnn import parallel

    with blas_threads(1) as limited:
        if limited:
            assert parallel._BLAS[1]() == 1
    if limited:
        assert parallel._BLAS[1]() >= 1


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_data_parallel_gradients_equal_the_whole_batch(threads):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((10, 1, 8, 8)), rng.integers(0, 3, 10)
    reference, model = small_net(), small_net()
    cross_entropy(reference(Tensor(x)), y).backward()

    def work(replicas, part, share):
        loss = cross_entropy(replicas[0](Tensor(x[part])), y[part])
        (loss * share).backward()
        return share * loss.item()

    parallel = DataParallel([model], threads=threads)
    total = sum(parallel.run(work, len(x)))
    parallel.close()
    assert total == pytest.approx(cross_entropy(reference(Tensor(x)), y).item(), rel=1e-12)
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10, atol=1e-12, err_msg=name)
    assert all(r.grad is None for rep in parallel.replicas[1:] for m in rep for r in m.parameters())


def test_replicas_share_weights_and_follow_updates():
    model = small_net()
    parallel = DataParallel([model], threads=2)
    replica = parallel.replicas[1][0]
    assert all(p.data is q.data for p, q in zip(model.parameters(), replica.parameters()))
    model.load_state_dict({name: p.data + 1.0 for name, p in model.named_parameters()})  # new arrays
    parallel.run(lambda replicas, part, share: None, 4)
    assert all(p.data is q.data for p, q in zip(model.parameters(), replica.parameters()))
    model.eval()
    parallel.run(lambda replicas, part, share: None, 4)
    assert not any(m.training for m in replica.modules())
    parallel.close()


def test_dropout_masks_differ_between_slices_and_repeat_with_the_seed():
    def masks(seed):
        model = small_net(dropout=0.5)
        model[4].rng = np.random.default_rng(seed)
        parallel = DataParallel([model], threads=2)
        x = np.ones((4, 1, 8, 8))
        seen = parallel.run(lambda replicas, part, share: replicas[0][4](replicas[0][3](replicas[0][2](
            replicas[0][1](replicas[0][0](Tensor(x[part])))))).data != 0, 4)
        parallel.close()
        return seen

    first, again = masks(7), masks(7)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])


def test_data_parallel_refuses_bad_threads():
    with pytest.raises(ValueError, match="threads must be >= 1"):
        DataParallel([small_net()], threads=0)


def test_grad_mode_is_per_thread_so_interleaved_no_grad_blocks_cannot_leave_it_off():
    # thread A enters no_grad, thread B enters, A leaves, B leaves: with one flag shared by
    # all threads B would restore A's "off" and graph recording would stay off for good
    import threading

    from minicnn import is_grad_enabled, no_grad

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with no_grad():
            a_in.set()
            b_in.wait(5)
        a_out.set()
        seen["a_after"] = is_grad_enabled()

    def thread_b():
        a_in.wait(5)
        with no_grad():
            b_in.set()
            a_out.wait(5)
            seen["b_inside"] = is_grad_enabled()
        seen["b_after"] = is_grad_enabled()

    threads = [threading.Thread(target=thread_a), threading.Thread(target=thread_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"a_after": True, "b_inside": False, "b_after": True}
    assert is_grad_enabled()
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    (x * 2.0).sum().backward()
    assert np.allclose(x.grad, 2.0)


def test_data_parallel_threads_follow_the_callers_grad_mode():
    from minicnn import is_grad_enabled, no_grad
    from minicnn.parallel import DataParallel

    dp = DataParallel([nn.Linear(3, 2)], threads=2)
    try:
        assert dp.run(lambda replicas, part, share: is_grad_enabled(), 8) == [True, True]
        with no_grad():
            assert dp.run(lambda replicas, part, share: is_grad_enabled(), 8) == [False, False]
    finally:
        dp.close()
