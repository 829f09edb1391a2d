"""Numba kernels of local response normalisation: the CPU twins of ``lrn_forward`` / ``lrn_backward``
in :mod:`._kernels_gpu_src` (same arguments, same saved state, the same special cases of the power).

Compiled like every kernel of :mod:`._kernels_cpu` (serial and parallel, ``nogil``, cached,
NumPy's error model). Every inner loop runs along one contiguous row in the input's dtype,
which the compiler vectorises; square roots go through :func:`_sqrt` for that.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from numba import types as nb_types
from numba.extending import intrinsic

from ._kernels_cpu import _compile_both


@intrinsic
def _sqrt(typingctx, value):
    """IEEE square root as LLVM's ``llvm.sqrt`` intrinsic, which the loop vectoriser turns into SIMD.

    Numba's own ``math.sqrt`` / ``np.sqrt`` compile to a scalar call that stops a loop from
    vectorising (every LRN pixel then costs two scalar square roots and a division).
    """
    if not isinstance(value, nb_types.Float):
        return None

    def codegen(context, builder, signature, args):
        function = builder.module.declare_intrinsic("llvm.sqrt", [args[0].type])
        return builder.call(function, [args[0]])

    return value(value), codegen


def _negative_power(s, beta, one):
    """``s ** -beta`` for ``s > 0``, with square roots for the common betas (much faster than pow).

    The CUDA kernels' ``negative_power`` makes the same special cases. ``one`` is 1 in ``s``'s
    type, so float32 stays float32 (a Python ``1.0`` would turn the division into float64,
    and Numba's float32 arithmetic with any Python number does the same).
    """
    if beta == 0.75:
        return one / _sqrt(s * _sqrt(s))
    if beta == 0.5:
        return one / _sqrt(s)
    return s ** -beta


_negative_power = njit(cache=True, nogil=True, inline="always", error_model="numpy")(_negative_power)


def _lrn_forward(x, before, after, a, k, beta, y, scale, scale_pow):
    """LRN forward of ``x: (N, C, H, W)``: a running sum of squares over the channel window.

    ``scale = k + a * sum(x[c - before .. c + after]^2)``, ``scale_pow = scale ** -beta``
    (both kept for backward) and ``y = x * scale_pow``, all ``(N, C, H, W)``. One task
    per image keeps the window sum of every pixel in one plane-sized array: moving
    from channel c-1 to c adds channel ``c + after`` and removes channel
    ``c - before - 1``, so each channel costs two plane additions whatever the window
    size (the CUDA thread sums its own window instead). Removing a square can leave a
    rounding error below zero, so the sum is clipped at 0 (a NaN stays NaN). Every
    loop runs along one contiguous row in ``x``'s dtype, which the compiler vectorises
    (the square roots through :func:`_sqrt`).
    """
    n_img, n_ch, height, width = x.shape
    plane = height * width
    zero, one = x.dtype.type(0), x.dtype.type(1)
    for n in prange(n_img):
        xs = x[n].reshape((n_ch, plane))
        ys, ss, ps = y[n].reshape((n_ch, plane)), scale[n].reshape((n_ch, plane)), scale_pow[n].reshape((n_ch, plane))
        window = np.zeros(plane, dtype=x.dtype)
        for j in range(min(after, n_ch - 1) + 1):  # the window of channel 0: channels 0 .. after
            row = xs[j]
            for p in range(plane):
                window[p] += row[p] * row[p]
        for c in range(n_ch):
            if c > 0:
                if c + after < n_ch:
                    row = xs[c + after]
                    for p in range(plane):
                        window[p] += row[p] * row[p]
                if c - before - 1 >= 0:
                    row = xs[c - before - 1]
                    for p in range(plane):
                        window[p] -= row[p] * row[p]
            x_row, y_row, s_row, q_row = xs[c], ys[c], ss[c], ps[c]
            for p in range(plane):
                w = window[p]
                s_row[p] = k + a * (zero if w < zero else w)
            if beta == 0.75:  # one loop per case, each branch-free (the power's special cases, hoisted)
                for p in range(plane):
                    q_row[p] = one / _sqrt(s_row[p] * _sqrt(s_row[p]))
            elif beta == 0.5:
                for p in range(plane):
                    q_row[p] = one / _sqrt(s_row[p])
            else:
                for p in range(plane):
                    q_row[p] = _negative_power(s_row[p], beta, one)
            for p in range(plane):
                y_row[p] = x_row[p] * q_row[p]


def _lrn_backward(x, scale, scale_pow, y_grad, before, after, coef, x_grad):
    """LRN's input gradient, all arrays ``(N, C, H, W)``, ``coef = -2 * a * beta``::

        x_grad = y_grad * scale_pow + coef * x * sum(y_grad * x * scale_pow / scale over c - after .. c + before)

    (the mirrored window: the channels whose window holds c). One task per image; the
    window sum runs over channels as in :func:`_lrn_forward`, on a per-image buffer of
    the summed terms.
    """
    n_img, n_ch, height, width = x.shape
    plane = height * width
    for n in prange(n_img):
        xs, ss = x[n].reshape((n_ch, plane)), scale[n].reshape((n_ch, plane))
        ps, gys, gxs = scale_pow[n].reshape((n_ch, plane)), y_grad[n].reshape((n_ch, plane)), x_grad[n].reshape((n_ch, plane))
        terms = np.empty((n_ch, plane), dtype=x.dtype)
        for c in range(n_ch):
            t_row, g_row, x_row, q_row, s_row = terms[c], gys[c], xs[c], ps[c], ss[c]
            for p in range(plane):
                t_row[p] = g_row[p] * x_row[p] * q_row[p] / s_row[p]
        window = np.zeros(plane, dtype=x.dtype)
        for j in range(min(before, n_ch - 1) + 1):  # the mirrored window of channel 0: channels 0 .. before
            t_row = terms[j]
            for p in range(plane):
                window[p] += t_row[p]
        for c in range(n_ch):
            if c > 0:
                if c + before < n_ch:
                    t_row = terms[c + before]
                    for p in range(plane):
                        window[p] += t_row[p]
                if c - after - 1 >= 0:
                    t_row = terms[c - after - 1]
                    for p in range(plane):
                        window[p] -= t_row[p]
            gx_row, g_row, x_row, q_row = gxs[c], gys[c], xs[c], ps[c]
            for p in range(plane):
                gx_row[p] = g_row[p] * q_row[p] + coef * x_row[p] * window[p]


lrn_forward = _compile_both(_lrn_forward)
lrn_backward = _compile_both(_lrn_backward)
