"""CUDA C sources of minicnn's GPU kernels, kept as plain strings (no CuPy needed to read or compile-check them).

Two kinds of kernels live here:

* :data:`KERNEL_SOURCES`: raw kernels, one ``extern "C" __global__`` function per
  string, named like its key. They are written for an element type ``T``;
  :func:`kernel_source` puts ``typedef float T;`` or ``typedef double T;`` in
  front, so each compiles once per dtype. Every one maps **one thread to one
  output element**: the thread's flat index is unravelled into the coordinates
  of that element, the thread computes it, writes it and never touches another
  thread's output, so no kernel needs atomics.
* :data:`ELEMENTWISE_SOURCES`: bodies of ``cupy.ElementwiseKernel`` (input
  parameters, output parameters, operation), for purely element-wise work;
  CuPy writes the loop around them and picks ``T`` from the arrays.

Windowed kernels (im2col, col2im, pooling) take the geometry of
:class:`._im2col.Window`: input ``H, W``, kernel ``kh, kw``, stride ``sh, sw``,
padding before ``pad_top, pad_left`` and output ``OH, OW``. Output ``(oh, ow)``
with kernel offset ``(i, j)`` reads input pixel ``(oh*sh - pad_top + i,
ow*sw - pad_left + j)``; a pixel outside the image is padding. They index
image-channel *planes* ``plane = n*C + c``, so none needs ``C``. Each raw kernel
has a Numba twin in :mod:`._kernels_cpu` with the same formula, bounds test and
outputs (the ops pair them in their ``forward_cpu`` / ``forward_gpu`` methods).

:func:`nvrtc_ptx` compiles a source with NVRTC alone (no GPU, no driver), which
is how the tests check every kernel on a CPU-only machine.
"""
from __future__ import annotations

import re

# ``index``: this thread's element. A one-dimensional grid of 256-thread blocks
# covers ``total`` elements; the last block's surplus threads return at once.
_THREAD_INDEX = """\
    long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;"""

_WINDOW_PARAMS = """int H, int W, int kh, int kw, int sh, int sw,
    int pad_top, int pad_left, int OH, int OW"""

KERNEL_SOURCES: dict[str, str] = {}

KERNEL_SOURCES["im2col"] = f"""
// cols[plane, i, j, oh, ow] = x[plane, oh*sh - pad_top + i, ow*sw - pad_left + j], 0 in the padding.
// x: (N, C, H, W) -> cols: (N, C*kh*kw, OH*OW), which is (N*C, kh, kw, OH, OW) in memory.
// One thread per entry of cols.
extern "C" __global__ void im2col(const T* x, T* cols, long long total, {_WINDOW_PARAMS})
{{
{_THREAD_INDEX}
    long long rest = index;              // unravel (plane, i, j, oh, ow), last index fastest
    int ow = rest % OW;  rest /= OW;
    int oh = rest % OH;  rest /= OH;
    int j = rest % kw;   rest /= kw;
    int i = rest % kh;   rest /= kh;
    long long plane = rest;
    int h = oh * sh - pad_top + i;       // the input pixel this entry copies
    int w = ow * sw - pad_left + j;
    T value = 0;
    if (h >= 0 && h < H && w >= 0 && w < W)
        value = x[(plane * H + h) * W + w];
    cols[index] = value;
}}
"""

KERNEL_SOURCES["col2im"] = f"""
// The adjoint of im2col as a gather: x_grad[plane, h, w] = sum of the cols entries that copied pixel (h, w).
// cols: (N, C*kh*kw, OH*OW) -> x_grad: (N, C, H, W). One thread per input pixel, so no two threads
// write the same address: no atomics, and the sum is added in the same order on every run.
extern "C" __global__ void col2im(const T* cols, T* x_grad, long long total, {_WINDOW_PARAMS})
{{
{_THREAD_INDEX}
    long long rest = index;              // unravel (plane, h, w)
    int w = rest % W;  rest /= W;
    int h = rest % H;  rest /= H;
    long long plane = rest;
    const T* plane_cols = cols + plane * kh * kw * OH * OW;
    T sum = 0;
    for (int i = 0; i < kh; ++i) {{
        int row = h + pad_top - i;       // window oh reads row h at offset i iff row == oh * sh
        if (row < 0 || row % sh != 0) continue;
        int oh = row / sh;
        if (oh >= OH) continue;
        for (int j = 0; j < kw; ++j) {{
            int col = w + pad_left - j;
            if (col < 0 || col % sw != 0) continue;
            int ow = col / sw;
            if (ow >= OW) continue;
            sum += plane_cols[((long long)(i * kw + j) * OH + oh) * OW + ow];
        }}
    }}
    x_grad[index] = sum;
}}
"""

KERNEL_SOURCES["max_pool_forward"] = f"""
// y = max over each window of x: (N, C, H, W) -> y, argmax: (N, C, OH, OW); padding never wins.
// argmax = h*W + w of the winner in its plane (PyTorch's return_indices; the Numba kernel's too):
// the first maximum in row-major order, except that a NaN wins (the last NaN). The search covers the
// window's rows h_first .. h_last and columns w_first .. w_last inside the image and starts at its first
// pixel inside, so an all -inf window sends its gradient there. One thread per output.
extern "C" __global__ void max_pool_forward(const T* x, T* y, int* argmax, long long total, {_WINDOW_PARAMS})
{{
{_THREAD_INDEX}
    long long rest = index;              // unravel (plane, oh, ow)
    int ow = rest % OW;  rest /= OW;
    int oh = rest % OH;  rest /= OH;
    const T* plane = x + rest * H * W;
    int h0 = oh * sh - pad_top;          // the window's top-left pixel (negative: in the padding)
    int w0 = ow * sw - pad_left;
    int h_first = max(h0, 0), h_last = min(h0 + kh, H);  // its rows and columns inside the image
    int w_first = max(w0, 0), w_last = min(w0 + kw, W);
    int best_at = h_first * W + w_first;
    T best = plane[best_at];
    for (int h = h_first; h < h_last; ++h) {{
        for (int w = w_first; w < w_last; ++w) {{
            T value = plane[h * W + w];
            if (value > best || isnan(value)) {{
                best = value;
                best_at = h * W + w;
            }}
        }}
    }}
    y[index] = best;
    argmax[index] = best_at;
}}
"""

KERNEL_SOURCES["max_pool_backward"] = f"""
// x_grad[plane, h, w] = sum of y_grad over the windows whose winner (argmax) is pixel h*W + w.
// y_grad, argmax: (N, C, OH, OW) -> x_grad: (N, C, H, W). A gather, like col2im: one thread per
// input pixel visits the ceil(kh/sh) * ceil(kw/sw) windows that can hold it; no atomics.
extern "C" __global__ void max_pool_backward(const T* y_grad, const int* argmax, T* x_grad, long long total,
    {_WINDOW_PARAMS})
{{
{_THREAD_INDEX}
    long long rest = index;              // unravel (plane, h, w)
    int w = rest % W;  rest /= W;
    int h = rest % H;  rest /= H;
    const T* plane_grad = y_grad + rest * OH * OW;
    const int* plane_argmax = argmax + rest * OH * OW;
    T sum = 0;
    for (int i = 0; i < kh; ++i) {{
        int row = h + pad_top - i;       // window oh holds row h at offset i iff row == oh * sh
        if (row < 0 || row % sh != 0) continue;
        int oh = row / sh;
        if (oh >= OH) continue;
        for (int j = 0; j < kw; ++j) {{
            int col = w + pad_left - j;
            if (col < 0 || col % sw != 0) continue;
            int ow = col / sw;
            if (ow >= OW) continue;
            if (plane_argmax[oh * OW + ow] == h * W + w)  // this window's winner is (h, w)
                sum += plane_grad[oh * OW + ow];
        }}
    }}
    x_grad[index] = sum;
}}
"""

KERNEL_SOURCES["avg_pool_forward"] = f"""
// y = (sum of each window's pixels inside the image) / divisor[oh, ow]; padding adds zeros.
// x: (N, C, H, W), divisor: (OH, OW) from pool.py's avg_pool_divisor -> y: (N, C, OH, OW).
extern "C" __global__ void avg_pool_forward(const T* x, const T* divisor, T* y, long long total, {_WINDOW_PARAMS})
{{
{_THREAD_INDEX}
    long long rest = index;              // unravel (plane, oh, ow)
    int ow = rest % OW;  rest /= OW;
    int oh = rest % OH;  rest /= OH;
    const T* image = x + rest * H * W;
    T sum = 0;
    for (int i = 0; i < kh; ++i) {{
        int h = oh * sh - pad_top + i;
        if (h < 0 || h >= H) continue;
        for (int j = 0; j < kw; ++j) {{
            int w = ow * sw - pad_left + j;
            if (w < 0 || w >= W) continue;
            sum += image[h * W + w];
        }}
    }}
    y[index] = sum / divisor[oh * OW + ow];
}}
"""

KERNEL_SOURCES["avg_pool_backward"] = f"""
// x_grad[plane, h, w] = sum over the windows holding pixel (h, w) of y_grad / divisor (a gather).
// y_grad: (N, C, OH, OW), divisor: (OH, OW) -> x_grad: (N, C, H, W).
extern "C" __global__ void avg_pool_backward(const T* y_grad, const T* divisor, T* x_grad, long long total,
    {_WINDOW_PARAMS})
{{
{_THREAD_INDEX}
    long long rest = index;              // unravel (plane, h, w)
    int w = rest % W;  rest /= W;
    int h = rest % H;  rest /= H;
    const T* plane_grad = y_grad + rest * OH * OW;
    T sum = 0;
    for (int i = 0; i < kh; ++i) {{
        int row = h + pad_top - i;
        if (row < 0 || row % sh != 0) continue;
        int oh = row / sh;
        if (oh >= OH) continue;
        for (int j = 0; j < kw; ++j) {{
            int col = w + pad_left - j;
            if (col < 0 || col % sw != 0) continue;
            int ow = col / sw;
            if (ow >= OW) continue;
            sum += plane_grad[oh * OW + ow] / divisor[oh * OW + ow];
        }}
    }}
    x_grad[index] = sum;
}}
"""

_CHANNEL_INDEX = """\
    int c = (index / HW) % C;            // this thread's channel (index unravels to n, c, h*W + w)
    long long column = index - (long long)c * HW;  // the same pixel in channel 0; channel j at column + j*HW"""

KERNEL_SOURCES["lrn_forward"] = f"""
// s^-beta for s > 0, with square roots for the common betas: the special cases of the Numba kernel's
// _negative_power, so both devices compute the same power.
__device__ T negative_power(T s, T beta)
{{
    if (beta == (T)0.75) return 1 / sqrt(s * sqrt(s));
    if (beta == (T)0.5) return 1 / sqrt(s);
    return pow(s, -beta);
}}

// scale = k + a * sum of x^2 over channels c - before .. c + after (clipped to [0, C)),
// scale_pow = scale^-beta, y = x * scale_pow. x: (N, C, H, W) -> y, scale, scale_pow: (N, C, H, W),
// HW = H*W. One thread per output sums its own window.
extern "C" __global__ void lrn_forward(const T* x, T* y, T* scale, T* scale_pow, long long total, int C, int HW,
    int before, int after, T a, T k, T beta)
{{
{_THREAD_INDEX}
{_CHANNEL_INDEX}
    int first = max(c - before, 0);
    int last = min(c + after, C - 1);
    T sum = 0;
    for (int j = first; j <= last; ++j) {{
        T v = x[column + (long long)j * HW];
        sum += v * v;
    }}
    T s = k + a * sum;
    T q = negative_power(s, beta);
    scale[index] = s;
    scale_pow[index] = q;
    y[index] = x[index] * q;
}}
"""

KERNEL_SOURCES["lrn_backward"] = f"""
// x_grad = y_grad * scale_pow + coef * x * sum over channels c - after .. c + before of
// y_grad * x * scale_pow / scale (= y_grad * y / scale), coef = -2 * a * beta: the channels whose
// window holds c (the mirrored window). All (N, C, H, W). One thread per input element.
extern "C" __global__ void lrn_backward(const T* x, const T* scale, const T* scale_pow, const T* y_grad,
    T* x_grad, long long total, int C, int HW, int before, int after, T coef)
{{
{_THREAD_INDEX}
{_CHANNEL_INDEX}
    int first = max(c - after, 0);
    int last = min(c + before, C - 1);
    T sum = 0;
    for (int j = first; j <= last; ++j) {{
        long long at = column + (long long)j * HW;
        sum += y_grad[at] * x[at] * scale_pow[at] / scale[at];
    }}
    x_grad[index] = y_grad[index] * scale_pow[index] + coef * x[index] * sum;
}}
"""

KERNEL_SOURCES["softmax_cross_entropy_forward"] = f"""
// Per row of logits: (N, K): log p = z - m - log(sum exp(z - m)), m = max(z) (never overflows);
// writes prob: (N, K) = exp(log p) and row_loss: (N,) = -log p[label] * row_weight. One thread per row.
extern "C" __global__ void softmax_cross_entropy_forward(const T* logits, const long long* labels,
    const T* row_weight, T* prob, T* row_loss, long long total, int K)
{{
{_THREAD_INDEX}
    const T* z = logits + index * K;
    T m = z[0];
    for (int k = 1; k < K; ++k)
        if (z[k] > m) m = z[k];
    T sum = 0;
    for (int k = 0; k < K; ++k)
        sum += exp(z[k] - m);
    T log_sum = log(sum);
    for (int k = 0; k < K; ++k)
        prob[index * K + k] = exp((z[k] - m) - log_sum);
    row_loss[index] = -((z[labels[index]] - m) - log_sum) * row_weight[index];
}}
"""

KERNEL_SOURCES["softmax_cross_entropy_backward"] = f"""
// logits_grad = (prob - one_hot(label)) * row_coef[row], row_coef = weight * reduction scale * upstream.
// prob: (N, K), labels, row_coef: (N,) -> logits_grad: (N, K). One thread per logit.
extern "C" __global__ void softmax_cross_entropy_backward(const T* prob, const long long* labels,
    const T* row_coef, T* logits_grad, long long total, int K)
{{
{_THREAD_INDEX}
    long long row = index / K;
    T g = prob[index];
    if (index % K == labels[row]) g -= 1;
    logits_grad[index] = g * row_coef[row];
}}
"""

# name -> (input parameters, output parameters, operation) of a cupy.ElementwiseKernel.
# Outputs are references into their arrays, so an operation may read them before writing.
ELEMENTWISE_SOURCES: dict[str, tuple[str, str, str]] = {
    # y = max(x, 0) and the mask x > 0 in one pass; a NaN stays NaN (as numpy.maximum) and is masked out.
    "relu_forward": ("T x", "T y, bool positive", "positive = x > 0; y = x <= 0 ? (T)0 : x;"),
    # Inverted dropout: keep where the uniform draw u >= p, scale kept values by 1 / (1 - p).
    "dropout_forward": ("float32 u, T x, float32 p, T scale", "T mask, T y",
                        "mask = u >= p ? scale : (T)0; y = x * mask;"),
    # Plain SGD: param -= lr * (grad + weight_decay * param).
    "sgd": ("T grad, T lr, T weight_decay", "T param",
            "param -= lr * (weight_decay != (T)0 ? grad + weight_decay * param : grad);"),
    # PyTorch's SGD with momentum (velocity starts as the first gradient) and optional Nesterov.
    "sgd_momentum": (
        "T grad, T lr, T weight_decay, T momentum, bool nesterov, bool first_step", "T param, T velocity",
        """
        T g = weight_decay != (T)0 ? grad + weight_decay * param : grad;
        velocity = first_step ? g : momentum * velocity + g;
        param -= lr * (nesterov ? g + momentum * velocity : velocity);
        """,
    ),
}

CTYPES = {"float32": "float", "float64": "double"}
_PARAM_CTYPES = {"T": "T", "float32": "float", "float64": "double", "int32": "int", "bool": "bool"}


def _typedef(dtype_name: str) -> str:
    if dtype_name not in CTYPES:
        raise TypeError(f"the GPU kernels handle float32 and float64, got dtype {dtype_name}")
    return f"typedef {CTYPES[dtype_name]} T;\n"


def kernel_source(name: str, dtype_name: str) -> str:
    """The complete CUDA source of raw kernel ``name`` for ``dtype_name`` ("float32" or "float64")."""
    return _typedef(dtype_name) + KERNEL_SOURCES[name]


def elementwise_check_source(name: str, dtype_name: str) -> str:
    """A raw kernel named ``name`` that runs elementwise kernel ``name``'s operation, for compile checks.

    It declares each parameter the way CuPy's generated loop does (inputs as values
    read from their arrays, outputs as references), so NVRTC checks the operation's
    syntax and types without a GPU.
    """
    in_params, out_params, operation = ELEMENTWISE_SOURCES[name]
    params, body = [], []
    for params_text, is_output in ((in_params, False), (out_params, True)):
        for param in params_text.split(","):
            type_name, var = param.split()
            ctype = _PARAM_CTYPES[type_name]
            params.append(f"{'' if is_output else 'const '}{ctype}* {var}_array")
            body.append(f"    {ctype}{'&' if is_output else ''} {var} = {var}_array[index];")
    return (_typedef(dtype_name) + f'extern "C" __global__ void {name}({", ".join(params)}, long long total)\n{{\n'
            + _THREAD_INDEX + "\n" + "\n".join(body) + "\n" + operation + "\n}\n")


# The options CuPy adds when it compiles a RawModule (besides -arch).
CUPY_NVRTC_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")


def nvrtc_ptx(source: str, arch: str = "compute_90") -> str:
    """Compile CUDA ``source`` with NVRTC (no GPU needed) and return the PTX; RuntimeError with the log on failure.

    ``arch`` is a virtual architecture (compute_90: the H100/H200 generation); the
    options are CuPy's, so what compiles here compiles in ``cupy.RawModule``.
    """
    from cupy_backends.cuda.libs import nvrtc

    program = nvrtc.createProgram(source, "minicnn_kernel.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(program, [f"-arch={arch}", *CUPY_NVRTC_OPTIONS])
        except Exception as error:
            raise RuntimeError(f"NVRTC failed ({error}):\n{nvrtc.getProgramLog(program)}\n--- source ---\n{source}")
        ptx = nvrtc.getPTX(program)
    finally:
        nvrtc.destroyProgram(program)
    return ptx.decode() if isinstance(ptx, bytes) else ptx


def ptx_entries(ptx: str) -> list[str]:
    """Names of the kernels (``.entry``) defined in ``ptx``."""
    return re.findall(r"\.entry\s+(\w+)\s*\(", ptx)
