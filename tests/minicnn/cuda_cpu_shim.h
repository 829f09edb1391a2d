// cuda_cpu_shim.h: just enough of CUDA for minicnn's kernels to compile as C++ and run on the CPU.
//
// A kernel becomes an ordinary function; shim_launch calls it once per (block, thread) of the
// grid, one after the other, with blockIdx / threadIdx (and blockDim / gridDim) set as globals
// first, exactly the values a GPU thread would read. Threads run in sequence, so:
//   * a kernel that keeps to one thread per output (all of minicnn's) gives what the GPU gives,
//     up to floating-point rounding (the GPU may fuse a multiply and an add);
//   * atomicAdd can be a plain add;
//   * __shared__ memory and __syncthreads() are NOT provided: a block's threads would have to run
//     side by side (as fibers) for a barrier to mean anything. cuda_cpu_shim.py refuses a kernel
//     that uses them, so no kernel is silently run with the wrong semantics.
#pragma once

#include <algorithm>
#include <cmath>

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};
typedef dim3 uint3;

static uint3 threadIdx, blockIdx;  // this "thread's" coordinates, set by shim_launch
static dim3 blockDim, gridDim;     // the launch's shape

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__

// CUDA's device math is overloaded on float and double like C++'s <cmath>; max/min on ints like std's.
using std::exp;
using std::isnan;
using std::log;
using std::max;
using std::min;
using std::pow;
using std::sqrt;

// Threads never run at the same time here, so reading, adding and writing back is atomic.
template <typename T>
__device__ T atomicAdd(T* address, T value) {
    T old = *address;
    *address = old + value;
    return old;
}

// Run body() once per thread of a grid x block launch, setting the coordinates each time
// (x fastest, as CUDA numbers threads within a block).
template <typename Body>
static void shim_launch(dim3 grid, dim3 block, Body body) {
    gridDim = grid;
    blockDim = block;
    for (unsigned int bz = 0; bz < grid.z; ++bz)
        for (unsigned int by = 0; by < grid.y; ++by)
            for (unsigned int bx = 0; bx < grid.x; ++bx)
                for (unsigned int tz = 0; tz < block.z; ++tz)
                    for (unsigned int ty = 0; ty < block.y; ++ty)
                        for (unsigned int tx = 0; tx < block.x; ++tx) {
                            blockIdx.x = bx; blockIdx.y = by; blockIdx.z = bz;
                            threadIdx.x = tx; threadIdx.y = ty; threadIdx.z = tz;
                            body();
                        }
}
