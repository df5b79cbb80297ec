/* Ember's compiled CPU kernels: what every kernel family shares.
 *
 * backend/compiled.py builds one library from one translation unit, all.c, with the machine's C compiler
 * (once per machine, into Ember's cache), and calls it through ctypes. The files:
 *
 *   ember_kernels.h  this header: sizes, the register-block and tile sizes of the machine's vector width,
 *                    the FMA and register macros, and the structs the Python side fills (compiled.py mirrors
 *                    each one with a ctypes.Structure, checked at load time against ember_sizeof_*()).
 *   all.c            the translation unit: this header, the exported constants and struct sizes, then
 *                    families.h once with T = float (names ending _f32) and once with T = double (_f64).
 *   families.h       includes every family file below for the current T.
 *   columns.c        im2col and col2im (the im2col + GEMM convolutions)
 *   adam.c           Adam's update
 *   batch_norm.c     batch norm's forward and backward
 *   group_norm.c     group norm's forward and backward, in (C, H, W, N) or (N, C, H, W) memory
 *   relu.c           ReLU's gradient
 *   silu.c           SiLU and its gradient (float: a rational tanh)
 *   gelu.c           GELU's forward and gradient (erf and exp evaluated in the loop)
 *   layer_norm.c     layer norm over the last axis, forward and backward
 *   softmax.c        the softmax over rows of attention scores and its gradient, in place
 *   transpose.c      the (N, C, H, W) -> (C, H, W, N) layout copy
 *   max_pool.c       max pooling's forward and backward
 *   direct_conv.c    the direct convolutions' forward and input gradient (register blocks over channels)
 *   weight_grad.c    the direct convolutions' weight gradient (register tiles over channel pairs)
 *   lstm.c           one LSTM step's gates, cell and hidden state, forward and backward
 *                    (and one GRU step's)
 *   panel_gemm.c     products by a right-hand side packed once for many calls (a recurrent weight)
 *   thin_gemm.c      a linear layer's forward and weight gradient when its input has few features
 *   lstm_sequence.c  a whole LSTM sequence, forward and backward, on a team of threads sharing the batch
 *   gru_sequence.c   a whole GRU sequence the same way
 *   step_threads.h   that team and its tickets (not a template: all.c includes it once)
 *   group_norm_silu.c group norm followed by SiLU, forward and backward, a group at a time with SiLU on the
 *                    group's numbers while they are in cache; an optional per-sample shift (the diffusion
 *                    UNet's time embedding) added to x first
 *
 * Number types: every family file is a template over T. It names its functions EMBER_NAME(name), which
 * appends the type's suffix, uses V for a vector of T and LANES for the numbers in one, and calls
 * EMBER_SQRT for T's square root; all.c defines those and includes families.h once per type, so one file
 * of source serves both types and the compiler sees plain C for each.
 *
 * Threads: the kernels take no threads of their own, except the LSTM sequence's team (step_threads.h):
 * backend/threads.py calls one kernel from several threads at once, each on its own range of rows or
 * channels (struct ember_range), or, for the direct convolutions, each taking pieces of the work from a
 * counter they share (an atomic add per piece).
 *
 * Rounding: built with -ffp-contract=off, so that every product and sum is rounded as NumPy's passes round
 * it: im2col, col2im, Adam, ReLU's gradient and max pooling give NumPy's numbers bit for bit (col2im and the
 * pooling gradient add in NumPy's order). Batch norm's sums accumulate in double and may be reordered to
 * vectorize (omp simd reductions); its elementwise passes run in T, as the NumPy path's do. Only the direct
 * convolutions and SiLU's rational tanh fuse products and sums into FMAs (EMBER_FUSED); the convolutions'
 * order of sums depends on the shape alone, never on the thread count, so they give the same numbers on any
 * number of threads.
 */
#ifndef EMBER_KERNELS_H
#define EMBER_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef long long idx; /* sizes, indices and distances in numbers: int64, as NumPy's */

/* Numbers laid out as (C, H, W, N): the first at `data`, neighbours along each axis step_* numbers apart.
 * Python: compiled.Image. Only im2col and col2im read the steps; every other kernel takes C-contiguous
 * arrays, which compiled.py checks before the call. */
struct ember_image {
    void *data;
    idx channels, height, width, batch;
    idx step_c, step_h, step_w, step_n;
};

/* A window of kh x kw taps over an image, `sh`/`sw` apart from one output position to the next along
 * rows/columns, its taps `dh`/`dw` apart (dilation), starting `top` rows above and `left` columns before
 * the image (zero padding). Python: compiled.Window. */
struct ember_window {
    idx kh, kw, sh, sw, dh, dw, top, left;
};

/* The part of a call that one thread does: indices start..stop-1 of the kernel's outer axis (output rows;
 * channels for max pooling; input rows for the input gradient). With `counter` NULL, all of them. Else the
 * threads that share the call take pieces of the work from *counter (an int64 at zero before the call,
 * added to atomically): `piece` units at a time for the forward and input gradient; one (range, part) piece
 * at a time for the weight gradient, whose struct ember_weight_split says how its work is cut. Python:
 * compiled.Range. */
struct ember_range {
    idx start, stop;
    idx *counter;
    idx piece;
};

/* How the weight gradient groups its sums and cuts its work (weight_grad.c): one register tile sums `group`
 * output rows; output channels go `chunk_out` at a time per group; shared, the rows are cut into `ranges`
 * ranges, each summed into a partial of its own, and the output channels into ceil(C_out / part_out) parts
 * of whole register tiles, as even as those allow. Python: compiled.WeightSplit. */
struct ember_weight_split {
    idx chunk_out, group, ranges, part_out;
};

/* One Adam step's numbers (adam.c), in double: each is rounded to T once, as ctypes rounded a Python float
 * passed as T. Python: compiled.AdamStep. */
struct ember_adam_step {
    double scale1, beta1, scale2, beta2, bias2_sqrt, eps, step_size;
};

/* The direct convolutions' register block: EMBER_ROWS channels by one vector of batch entries, as many
 * accumulators as the vector registers allow (32 registers with AVX-512, 16 with AVX or SSE). The block
 * heights a call may take are EMBER_ROWS, EMBER_ROWS / 2 (two vectors wide) and EMBER_ROWS / 3 (three). */
#if defined(__AVX512F__)
#define EMBER_VECTOR_BYTES 64
#define EMBER_ROWS 24
#elif defined(__AVX__)
#define EMBER_VECTOR_BYTES 32
#define EMBER_ROWS 12
#else
#define EMBER_VECTOR_BYTES 16
#define EMBER_ROWS 12
#endif

/* The weight gradient's register tile: EMBER_TILE_OUT output channels by EMBER_TILE_IN input channels. With
 * AVX-512, 4 x 5 (20 sums) measured 5-10% faster than 4 x 6, whose 24 sums, 4 gradients and 1 input
 * vector left GCC spilling a sum inside the loop. */
#if defined(__AVX512F__)
#define EMBER_TILE_OUT 4
#define EMBER_TILE_IN 5
#else
#define EMBER_TILE_OUT 3
#define EMBER_TILE_IN 4
#endif

/* With AVX-512, kernels 3 wide whose output rows are at least EMBER_PAIRS_MIN_WIDTH wide and that take no
 * window tiles (EMBER_WINDOW_TILES: dilated, at column stride 3 or more, or padded by over 2 on the left)
 * take weight-gradient tiles of EMBER_TILE_OUT output channels by 2 input channels by the 3 tap columns
 * (weight_by_pairs in weight_grad.c), each gradient vector loaded once for 6 sums: 64 -> 64 channels,
 * batch 64, one thread, 197 -> 210 GFLOP/s at 28x28, 148 -> 178 at 56x56, 199 -> 205 at 18x18, even at
 * 16x16, but 198 -> 180 at 14x14 and 196 -> 148 at 7x7. Narrower vectors (16 registers) leave them none:
 * their 18 sums would spill. */
#if defined(__AVX512F__)
#define EMBER_PAIRS_MIN_WIDTH 18
#else
#define EMBER_PAIRS_MIN_WIDTH 0 /* none */
#endif

/* With AVX-512, kernels 3 wide (dilation 1, column stride 1 or 2) take weight-gradient window tiles of
 * EMBER_TILE_OUT output channels by 2 input channels by the 3 tap columns (weight_by_windows in
 * weight_grad.c), whose 24 sums, 6 window and 1 gradient registers need 32. They walk each row in blocks
 * of EMBER_WINDOW_COLUMNS output columns, every vector of the batch in turn over the block, so that a
 * block's numbers stay in L1 from one vector of the batch to the next. The diffusion UNet's layers, batch
 * 64, 2 threads, against the channel tiles (14x14, 7x7) and pair tiles (28x28) before them: 64 -> 64 at
 * 14x14 335-339 -> 407-409 GFLOP/s, at 7x7 326-333 -> 374-378, 128 -> 64 at 14x14 348-353 -> 404-407,
 * 96 -> 32 at 28x28 329-360 -> 398-409, 64 -> 64 at 28x28 377-388 -> 390-406, stride 2 (32 -> 32 from
 * 28x28) 171-183 -> 219-221; blocks of 3 to 6 columns within a few percent of each other on one
 * thread, whole rows 5-15% slower at 28 wide. */
#if defined(__AVX512F__)
#define EMBER_WINDOW_TILES 1
#else
#define EMBER_WINDOW_TILES 0
#endif
#define EMBER_WINDOW_COLUMNS 4
/* The packed products' register block (panel_gemm.c): EMBER_PANEL_ROWS rows by EMBER_PANEL_VECTORS vectors,
 * 16 sums with AVX-512's 32 registers, 8 with the 16 of AVX or SSE. */
#define EMBER_PANEL_VECTORS 4
#if defined(__AVX512F__)
#define EMBER_PANEL_ROWS 4
#else
#define EMBER_PANEL_ROWS 2
#endif

/* Linear layers with few input features (thin_gemm.c): at most EMBER_THIN_FEATURES of them; the weight
 * gradient's register block sums EMBER_THIN_BLOCK features by three vectors of outputs (24 sums with AVX-512's
 * 32 registers, 12 with 16). */
#define EMBER_THIN_FEATURES 32
#if defined(__AVX512F__)
#define EMBER_THIN_BLOCK 8
#else
#define EMBER_THIN_BLOCK 4
#endif

#define EMBER_MAX_TAPS 32 /* the direct convolutions' largest kernel side */

/* The direct convolutions' register blocks sum channel by channel, each over every tap in memory order,
 * instead of tap by tap, each over every channel, where a channel of their source is a multiple of
 * EMBER_CACHE_WAY_BYTES long (all channels at one position then fall in the same L1 set; an AVX-512 AMD
 * core's L1 is 48 KB of 12 ways of 4 KB): 64 -> 64 channels, batch 64 (a channel 256 bytes a position),
 * one thread, forward GFLOP/s tap by tap -> channel by channel: 16x16 194-202 -> 214-216, 20x20 196-200 ->
 * 205-221, 24x24 180-189 -> 204-212, 28x28 193-201 -> 205-214, input gradient 28x28 185-192 -> 218-220;
 * where channels are not so long, forward 14x14 255-275 -> 228-231, 18x18 218-246 -> 220-223, 26x26
 * 206-223 -> 195-212. */
#define EMBER_CACHE_WAY_BYTES 4096

/* A vector of T and its width in numbers (families.h declares the vector type once per T). */
#define V EMBER_NAME(vector)
#define LANES ((idx)(EMBER_VECTOR_BYTES / sizeof(T)))

/* Products and sums in the functions marked with these may fuse into FMAs: the direct convolutions' blocks
 * and tiles. Clang takes a pragma inside the function, GCC an attribute on it. */
#if defined(__clang__)
#define EMBER_FUSED _Pragma("clang fp contract(fast)")
#define EMBER_FUSED_FUNCTION
#elif defined(__GNUC__)
#define EMBER_FUSED
#define EMBER_FUSED_FUNCTION __attribute__((optimize("fp-contract=fast")))
#else
#define EMBER_FUSED
#define EMBER_FUSED_FUNCTION
#endif

/* Keep a loaded vector in a register: without it compilers fold the load into each of the products that use
 * it, and the weight gradient's tile then loads every number four times instead of once. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define EMBER_IN_REGISTER(value) __asm__("" : "+v"(value))
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define EMBER_IN_REGISTER(value) __asm__("" : "+w"(value))
#else
#define EMBER_IN_REGISTER(value) (void)0
#endif

/* exp(x) in float, branch-free: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, Cody and Waite), e^r by
 * its Taylor polynomial to r^7 (error below 1e-8 relative), times 2^n in two factors so that results down to
 * the smallest subnormals come out right. Arguments below -104 give 0, above 88.7 inf. */
static inline float ember_expf(float x)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float clamped = x < -104.0f ? -104.0f : (x > 89.0f ? 89.0f : x);
    float n = (clamped * 1.44269504f + shifter) - shifter;
    float r = clamped - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.98412698e-4f;
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int whole = (int)n;
    int half = whole / 2;
    int bits_first = (half + 127) << 23, bits_second = (whole - half + 127) << 23;
    float first, second;
    memcpy(&first, &bits_first, sizeof first);
    memcpy(&second, &bits_second, sizeof second);
    float result = p * first * second;
    return x < -104.0f ? 0.0f : (x > 88.7228394f ? (float)INFINITY : result);
}

#endif
