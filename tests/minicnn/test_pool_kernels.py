"""The two CPU max-pool kernels agree exactly: the separable one (inputs without NaN) and the one-pass one.

Max-pool's forward on the CPU takes the separable kernel unless the input holds a NaN;
both must choose the same winner (the first maximum in row-major window order), so
the test uses inputs full of ties (few distinct values, -inf patches, ReLU-like zeros)
over random windows, and compares values and argmax bit for bit.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minicnn import Tensor
from minicnn.functions import _kernels_cpu
from minicnn.functions._im2col import make_window
from minicnn.functions.pool import max_pool2d, max_pool_forward_xp


@st.composite
def tied_cases(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from([0, 1, (1, 0), (0, 2), "same", "valid"]))
    ceil_mode = draw(st.booleans())
    try:
        win = make_window((h, w), kernel, stride, padding, ceil_mode, max_pad_half_kernel=True)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.integers(0, draw(st.integers(1, 4)), (n, c, h, w)).astype(draw(st.sampled_from([np.float32, np.float64])))
    if draw(st.booleans()):
        x[rng.random(x.shape) < 0.3] = -np.inf
    return x, win


@settings(max_examples=200, deadline=None)
@given(tied_cases(), st.booleans())
def test_separable_kernel_equals_the_one_pass_kernel(case, parallel):
    x, win = case
    shape = x.shape[:2] + (win.out_h, win.out_w)
    outs = []
    for kernels, extra in ((_kernels_cpu.max_pool_forward, (False,)), (_kernels_cpu.max_pool_forward_separable, ())):
        y, argmax = np.empty(shape, x.dtype), np.empty(shape, np.int32)
        kernels[int(parallel)](x, win.kh, win.kw, win.sh, win.sw, win.pad_top, win.pad_left, *extra, y, argmax)
        outs.append((y, argmax))
    np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][1], outs[0][1])
    y_ref, arg_ref = max_pool_forward_xp(x, win)  # the readable reference, same conventions
    np.testing.assert_array_equal(outs[1][0], y_ref)
    np.testing.assert_array_equal(outs[1][1], arg_ref)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_network_shapes_with_relu_zeros_pick_the_same_winners(stride):
    """The paper's 3x3 'same' pools on ReLU-like inputs (many zeros): the op's argmax equals the reference's."""
    rng = np.random.default_rng(stride)
    x = np.maximum(rng.standard_normal((2, 4, 33, 32)), 0).astype(np.float32)
    leaf = Tensor(x, requires_grad=True)
    out = max_pool2d(leaf, 3, stride, "same")
    y_ref, arg_ref = max_pool_forward_xp(x, make_window((33, 32), 3, stride, "same"))
    np.testing.assert_array_equal(out.data, y_ref)
    out.backward(np.ones(out.shape, np.float32))  # every window's gradient lands on its first maximum
    counts = np.zeros_like(x)
    for n in range(2):
        for c in range(4):
            np.add.at(counts[n, c].reshape(-1), arg_ref[n, c].reshape(-1), 1.0)
    np.testing.assert_array_equal(leaf.grad, counts)
