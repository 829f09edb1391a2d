"""The autodiff core: graph order, broadcasting, no_grad, errors, gradient checks of every Tensor op."""
import numpy as np
import pytest

from minicnn import Tensor, no_grad
from minicnn.gradcheck import assert_gradcheck, gradcheck

rng = np.random.default_rng(0)


def t64(*shape, positive=False):
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return Tensor(a, requires_grad=True)


def test_tensor_used_twice_gets_summed_gradient():
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward(np.ones(1))
    assert x.grad.tolist() == [7.0]


def test_diamond_graph_backward_visits_each_node_once():
    x = Tensor(np.array(2.0), requires_grad=True)
    a = x * 3
    b = a * a  # uses a twice
    c = a + b
    c.backward()
    # c = 3x + 9x^2 -> dc/dx = 3 + 18x = 39
    assert float(x.grad) == pytest.approx(39.0)


def test_backward_accumulates_across_calls_like_pytorch():
    x = Tensor(np.array(1.0), requires_grad=True)
    (x * 2).backward()
    (x * 3).backward()
    assert float(x.grad) == 5.0


def test_backward_on_non_scalar_without_gradient_is_a_clear_error():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar.*shape \(2, 3\)"):
        (x * 2).backward()


def test_backward_with_wrong_gradient_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="expected"):
        (x * 2).backward(np.ones(3))


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._ctx is None


def test_deep_graph_has_no_recursion_limit():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward()
    assert float(x.grad) == 1.0


@pytest.mark.parametrize(
    "name,fn,shapes",
    [
        ("add-broadcast", lambda a, b: a + b, [(3, 4), (4,)]),
        ("add-keepdim-broadcast", lambda a, b: a + b, [(3, 1), (1, 4)]),
        ("sub", lambda a, b: a - b, [(2, 3), (2, 1)]),
        ("mul", lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
        ("rsub-scalar", lambda a: 2.0 - a, [(3,)]),
        ("neg", lambda a: -a, [(3, 2)]),
        ("matmul", lambda a, b: a @ b, [(3, 4), (4, 5)]),
        ("batched-matmul", lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
        ("getitem-slice", lambda a: a[1:, ::2], [(4, 5)]),
        ("getitem-repeated-index", lambda a: a[[0, 0, 2]], [(3, 2)]),
        ("reshape", lambda a: a.reshape(6, 2), [(3, 4)]),
        ("transpose", lambda a: a.transpose(2, 0, 1), [(2, 3, 4)]),
        ("T", lambda a: a.T, [(2, 3)]),
        ("sum-all", lambda a: a.sum(), [(2, 3)]),
        ("sum-axis", lambda a: a.sum(axis=(0, 2)), [(2, 3, 4)]),
        ("sum-keepdims", lambda a: a.sum(axis=1, keepdims=True), [(2, 3)]),
        ("mean", lambda a: a.mean(axis=0), [(4, 3)]),
        ("max", lambda a: a.max(axis=1), [(4, 5)]),
        ("exp", lambda a: a.exp(), [(3, 3)]),
    ],
)
def test_gradcheck_tensor_ops(name, fn, shapes):
    inputs = [t64(*s) for s in shapes]
    assert_gradcheck(fn, inputs, tol=1e-6, name=name)


@pytest.mark.parametrize(
    "name,fn",
    [("div", lambda a, b: a / b), ("log", lambda a, b: a.log() * b), ("pow", lambda a, b: a ** 1.5 + b ** 2)],
)
def test_gradcheck_positive_domain_ops(name, fn):
    inputs = [t64(3, 4, positive=True), t64(3, 4, positive=True)]
    assert_gradcheck(fn, inputs, tol=1e-6, name=name)


def test_gradcheck_catches_a_wrong_backward():
    from minicnn.tensor import Function

    class WrongSquare(Function):
        def forward(self, ctx, x):
            ctx.save_for_backward(x)
            return x * x

        def backward(self, ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 * x

    x = t64(4)
    with pytest.raises(AssertionError, match="gradient check failed"):
        assert_gradcheck(lambda a: WrongSquare().apply_to(a), [x])


def test_gradcheck_warns_on_float32():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.warns(RuntimeWarning, match="float64"):
        gradcheck(lambda a: a * a, [x])


def test_python_numbers_become_float32_and_arrays_keep_dtype():
    assert Tensor([1, 2]).dtype == np.float32
    assert Tensor(3.0).dtype == np.float32
    assert Tensor(np.zeros(2, np.float64)).dtype == np.float64
    x = Tensor(np.ones(3, np.float32))
    for y in (x * 2.5, 1.0 - x, x / 3, x ** 2, (x + 1).exp(), x.mean(), x.sum()):
        assert y.dtype == np.float32


def test_to_cpu_is_identity_and_gpu_without_cupy_names_the_fix():
    from minicnn import backend

    x = Tensor(np.ones(2))
    assert x.to("cpu") is x
    if not backend.cupy_available():
        with pytest.raises(RuntimeError, match=r"pip install \.\[gpu\]"):
            x.to("gpu")
    with pytest.raises(ValueError, match="unknown device"):
        x.to("tpu")


def test_backward_frees_saved_arrays_and_refuses_a_second_pass():
    """Each Function drops its Context once its backward ran, like PyTorch without retain_graph."""
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    mul = y._ctx.inputs[0]._ctx
    assert mul.released and mul.ctx is None and set(vars(mul)) == {"inputs", "ctx", "released"}
    with pytest.raises(RuntimeError, match="a second time"):
        y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_release_keeps_the_constructor_settings():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x.sum(axis=1, keepdims=True)
    fn = y._ctx
    assert fn.ctx.needs_input_grad == (True,) and fn.ctx.in_shape == (2, 3)
    y.backward(np.ones((2, 1)))
    assert fn.released and fn.ctx is None and (fn.axis, fn.keepdims) == (1, True)


def test_forward_gets_needs_input_grad_on_its_context():
    from minicnn.tensor import Function, no_grad

    seen = []

    class Probe(Function):
        def forward(self, ctx, a, b):
            seen.append(ctx.needs_input_grad)
            return a + b

        def backward(self, ctx, g):
            return g, g

    a, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2))
    Probe().apply_to(a, b)
    with no_grad():
        Probe().apply_to(a, b)
    Probe().apply_to(b, 2.0)
    assert seen == [(True, False), (False, False), (False, False)]


def test_a_function_is_one_graph_node():
    from minicnn.functions.arith import Mul

    fn, x = Mul(), Tensor(np.ones(2), requires_grad=True)
    fn.apply_to(x, x)
    with pytest.raises(RuntimeError, match="already applied"):
        fn.apply_to(x, x)


def test_no_op_stores_per_call_state_on_itself():
    """Forward keeps what one call computes on its Context: after a whole network's forward and
    backward, each Function holds only its constructor settings and the graph bookkeeping."""
    import inspect

    from minicnn import functions as F

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)
    w, b = Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True), Tensor(np.zeros(4), requires_grad=True)
    h = F.relu(F.conv2d(x, w, b, 1, 1))
    h = F.local_response_norm(F.max_pool2d(h, 2), 3)
    h = F.batch_norm(F.avg_pool2d(h, 2), training=True)
    h = F.dropout(F.tanh(F.sigmoid(F.flatten(h))), 0.5, rng=np.random.default_rng(1))
    logits = F.linear(h, Tensor(rng.standard_normal((3, 16)), requires_grad=True))
    loss = F.cross_entropy(logits, np.array([0, 2])) + (F.log_softmax(logits).exp() ** 2).mean()
    functions, stack = [], [loss._ctx]
    while stack:
        fn = stack.pop()
        if fn is not None and fn not in functions:
            functions.append(fn)
            stack.extend(i._ctx for i in fn.inputs)
    loss.backward()
    assert len({type(fn) for fn in functions}) >= 15
    for fn in functions:
        settings = set(inspect.signature(type(fn).__init__).parameters) - {"self"}
        stored = set(vars(fn)) - {"inputs", "ctx", "released"}
        assert fn.released and stored <= settings | {"a", "before", "after"}, (type(fn).__name__, stored)


def test_graph_keeps_computed_inputs_as_nodes_without_data():
    """An intermediate array nobody saved is freed once its consumer has run."""
    import gc
    import weakref

    from minicnn.tensor import GraphNode

    x = Tensor(np.ones((4, 3)), requires_grad=True)
    hidden = x * 2.0                      # Mul saves nothing of its output
    ref = weakref.ref(hidden.data)
    y = (hidden + 1.0).sum()              # Add does not save its inputs either
    node = y._ctx.inputs[0]._ctx.inputs[0]
    assert isinstance(node, GraphNode) and node.shape == (4, 3)
    del hidden
    gc.collect()
    assert ref() is None
    y.backward()
    np.testing.assert_allclose(x.grad, np.full((4, 3), 2.0))
