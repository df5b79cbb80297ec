/* Ember's compiled CPU kernels, built once per machine by backend/compiled.py and loaded with ctypes.
 *
 * Each kernel crosses memory once (batch norm: two or three times per channel) where NumPy would cross it
 * many times: im2col/col2im that pad as they read, batch norm's forward and backward, Adam's update. They run on the
 * calling thread: between the GEMMs of a convolution OpenBLAS's threads are still spinning, and a second
 * pool of threads would only fight them.
 *
 * Rounding: built with -ffp-contract=off, so that every product and sum is rounded as NumPy's passes round
 * it: im2col, col2im and Adam give NumPy's numbers bit for bit (col2im adds in the order of the kernel taps,
 * as the strided-slice version does). Batch norm's sums accumulate in double and may be reordered to
 * vectorize (omp simd reductions); each number it writes is rounded once to the arrays' type.
 *
 * Every kernel exists for float (suffix _f32) and double (_f64): this file includes itself once per type.
 */
#ifndef EMBER_T
#include <math.h>
#include <stddef.h>
#include <string.h>

typedef long long idx;

/* The direct convolutions' register block: EMBER_ROWS channels by one vector of batch entries, as many
 * accumulators as the vector registers allow (32 with AVX-512, 16 with AVX or SSE). */
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

/* Products and sums in the direct convolutions may fuse into FMAs (the rest of this file rounds as NumPy). */
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

/* The weight gradient's register tile: EMBER_TILE_OUT output channels by EMBER_TILE_IN input channels. */
#if defined(__AVX512F__)
#define EMBER_TILE_OUT 4
#define EMBER_TILE_IN 6
#else
#define EMBER_TILE_OUT 3
#define EMBER_TILE_IN 4
#endif

#define EMBER_MAX_TAPS 32 /* the direct convolutions' largest kernel side */

/* Keep a loaded vector in a register: without it compilers fold the load into each of the products that use
 * it, and the weight gradient's tile then loads every number four times instead of once. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define EMBER_IN_REGISTER(value) __asm__("" : "+v"(value))
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define EMBER_IN_REGISTER(value) __asm__("" : "+w"(value))
#else
#define EMBER_IN_REGISTER(value) (void)0
#endif

int ember_conv_rows(void) { return EMBER_ROWS; }
int ember_conv_max_taps(void) { return EMBER_MAX_TAPS; }
int ember_vector_bytes(void) { return EMBER_VECTOR_BYTES; }

#define EMBER_T float
#define EMBER_NAME(name) name##_f32
#define EMBER_SQRT sqrtf
#include __FILE__
#undef EMBER_T
#undef EMBER_NAME
#undef EMBER_SQRT

#define EMBER_T double
#define EMBER_NAME(name) name##_f64
#define EMBER_SQRT sqrt
#include __FILE__

#else
#define T EMBER_T

/* im2col, or with `adjoint` col2im, of output rows start..stop-1.
 * image: (C, H, W, N) numbers at any strides (in elements), surrounded by `top` rows and `left` columns of
 * zeros before its first and as many as the windows need after its last; not stored.
 * matrix: C-contiguous (C*kh*kw, (stop-start)*out_w*N).
 * im2col writes the windows into matrix (zeros on the padding); col2im adds matrix onto image and drops
 * what falls on the padding. */
void EMBER_NAME(ember_columns)(T *image, idx channels, idx height, idx width, idx batch,
                               idx step_c, idx step_h, idx step_w, idx step_n,
                               T *matrix, idx kh, idx kw, idx sh, idx sw, idx dh, idx dw,
                               idx top, idx left, idx start, idx stop, idx out_w, int adjoint)
{
    T *row = matrix;
    for (idx c = 0; c < channels; c++)
        for (idx i = 0; i < kh; i++)
            for (idx j = 0; j < kw; j++)
                for (idx r = start; r < stop; r++) {
                    idx y = r * sh + i * dh - top;
                    if (y < 0 || y >= height) {
                        if (!adjoint)
                            for (idx k = 0; k < out_w * batch; k++)
                                row[k] = 0;
                        row += out_w * batch;
                        continue;
                    }
                    for (idx o = 0; o < out_w; o++, row += batch) {
                        idx x = o * sw + j * dw - left;
                        T *restrict out = row;
                        if (x < 0 || x >= width) {
                            if (!adjoint)
                                for (idx n = 0; n < batch; n++)
                                    out[n] = 0;
                            continue;
                        }
                        T *restrict pixel = image + c * step_c + y * step_h + x * step_w;
                        if (step_n == 1) {
                            if (adjoint)
                                for (idx n = 0; n < batch; n++)
                                    pixel[n] += out[n];
                            else
                                for (idx n = 0; n < batch; n++)
                                    out[n] = pixel[n];
                        } else if (adjoint) {
                            for (idx n = 0; n < batch; n++)
                                pixel[n * step_n] += out[n];
                        } else {
                            for (idx n = 0; n < batch; n++)
                                out[n] = pixel[n * step_n];
                        }
                    }
                }
}

/* One Adam step on `count` contiguous numbers, in place on param and the moments:
 * m = m*beta1 + g*scale1; v = v*beta2 + g*scale2*g; param -= m / (sqrt(v)/bias2_sqrt + eps) * step_size. */
void EMBER_NAME(ember_adam)(T *restrict param, const T *restrict grad, T *restrict exp_avg,
                            T *restrict exp_avg_sq, idx count, T scale1, T beta1, T scale2, T beta2,
                            T bias2_sqrt, T eps, T step_size)
{
    for (idx k = 0; k < count; k++) {
        T g = grad[k];
        T m = exp_avg[k] * beta1 + g * scale1;
        T v = exp_avg_sq[k] * beta2 + g * scale2 * g;
        exp_avg[k] = m;
        exp_avg_sq[k] = v;
        param[k] -= m / (EMBER_SQRT(v) / bias2_sqrt + eps) * step_size;
    }
}

/* Batch norm forward over C-contiguous (C, count) numbers: per channel the mean and biased variance,
 * inv_std = 1/sqrt(var + eps), x_hat = (x - mean) * inv_std and y = x_hat * weight + bias. */
void EMBER_NAME(ember_batch_norm_forward)(const T *restrict x, idx channels, idx count,
                                          const T *restrict weight, const T *restrict bias, double eps,
                                          T *restrict x_hat, T *restrict y, T *restrict mean,
                                          T *restrict var, T *restrict inv_std)
{
    for (idx c = 0; c < channels; c++) {
        const T *restrict values = x + c * count;
        double total = 0.0, squares = 0.0;
#pragma omp simd reduction(+ : total)
        for (idx k = 0; k < count; k++)
            total += values[k];
        double centre = total / (double)count;
#pragma omp simd reduction(+ : squares)
        for (idx k = 0; k < count; k++) {
            double difference = values[k] - centre;
            squares += difference * difference;
        }
        double variance = squares / (double)count;
        double inv = 1.0 / sqrt(variance + eps);
        mean[c] = (T)centre;
        var[c] = (T)variance;
        inv_std[c] = (T)inv;
        /* the elementwise pass in the arrays' precision, as the NumPy path (vectors twice as wide) */
        const T centre_t = (T)centre, inv_t = (T)inv, scale = weight[c], offset = bias[c];
        T *restrict normalised_out = x_hat + c * count;
        T *restrict y_out = y + c * count;
        for (idx k = 0; k < count; k++) {
            const T normalised = (values[k] - centre_t) * inv_t;
            normalised_out[k] = normalised;
            y_out[k] = normalised * scale + offset;
        }
    }
}

/* Batch norm backward over C-contiguous (C, count) numbers: grad_bias = sum(g), grad_weight = sum(g*x_hat),
 * grad_input = (g - sum(g)/count - x_hat * sum(g*x_hat)/count) * inv_std * weight, per channel. */
void EMBER_NAME(ember_batch_norm_backward)(const T *restrict grad, const T *restrict x_hat, idx channels,
                                           idx count, const T *restrict inv_std, const T *restrict weight,
                                           T *restrict grad_input, T *restrict grad_weight,
                                           T *restrict grad_bias)
{
    for (idx c = 0; c < channels; c++) {
        const T *restrict g = grad + c * count;
        const T *restrict normalised = x_hat + c * count;
        double total = 0.0, weighted = 0.0;
#pragma omp simd reduction(+ : total, weighted)
        for (idx k = 0; k < count; k++) {
            total += g[k];
            weighted += (double)g[k] * normalised[k];
        }
        grad_bias[c] = (T)total;
        grad_weight[c] = (T)weighted;
        const T scale = (T)((double)inv_std[c] * weight[c]);
        const T mean_grad = (T)(total / (double)count), mean_weighted = (T)(weighted / (double)count);
        T *restrict out = grad_input + c * count;
        for (idx k = 0; k < count; k++)  /* in the arrays' precision, as the NumPy path */
            out[k] = (g[k] - mean_grad - normalised[k] * mean_weighted) * scale;
    }
}

/* The ReLU's gradient in one pass: out[i] = grad[i] * (y[i] > 0), NumPy's multiply(grad, y > 0) number for
 * number (0 * inf and NaN stay NaN). */
void EMBER_NAME(ember_relu_backward)(const T *grad, const T *y, T *out, idx count)
{
    for (idx i = 0; i < count; i++)
        out[i] = grad[i] * (T)(y[i] > 0);
}

/* The transpose of a C-contiguous (rows, columns) matrix into a C-contiguous (columns, rows) one, for
 * columns start..stop-1 of the source: tiles small enough that both sides of a tile stay in L1. It turns an
 * (N, C, H, W) batch into the convolutions' (C, H, W, N) memory (rows = N, columns = C*H*W). */
void EMBER_NAME(ember_transpose)(const T *source, idx rows, idx columns, T *target, idx start, idx stop)
{
    enum { TILE = 32 };
    for (idx c0 = start; c0 < stop; c0 += TILE) {
        idx c1 = c0 + TILE < stop ? c0 + TILE : stop;
        for (idx r0 = 0; r0 < rows; r0 += TILE) {
            idx r1 = r0 + TILE < rows ? r0 + TILE : rows;
            for (idx c = c0; c < c1; c++)
                for (idx r = r0; r < r1; r++)
                    target[c * rows + r] = source[r * columns + c];
        }
    }
}

/* Max pooling over C-contiguous (C, H, W, N) x without padding, for channels start..stop-1: y
 * (C, out_h, out_w, N) holds the maximum of each window, argmax its tap i*kw + j: the first maximum, or the
 * last NaN (NaN propagates), as the NumPy path decides. */
void EMBER_NAME(ember_max_pool_forward)(const T *x, idx channels, idx height, idx width, idx batch, idx kh,
                                        idx kw, idx sh, idx sw, idx dh, idx dw, T *y, unsigned char *argmax,
                                        idx out_h, idx out_w, idx start, idx stop)
{
    (void)channels;
    for (idx c = start; c < stop; c++)
        for (idx r = 0; r < out_h; r++)
            for (idx q = 0; q < out_w; q++) {
                const T *window = x + ((c * height + r * sh) * width + q * sw) * batch;
                T *restrict best = y + ((c * out_h + r) * out_w + q) * batch;
                unsigned char *restrict at = argmax + ((c * out_h + r) * out_w + q) * batch;
                for (idx n = 0; n < batch; n++) {
                    best[n] = window[n];
                    at[n] = 0;
                }
                for (idx t = 1; t < kh * kw; t++) {
                    const T *restrict tap = window + ((t / kw) * dh * width + (t % kw) * dw) * batch;
                    for (idx n = 0; n < batch; n++) {
                        T value = tap[n];
                        int take = (value > best[n]) | (value != value);
                        best[n] = take ? value : best[n];
                        at[n] = take ? (unsigned char)t : at[n];
                    }
                }
            }
}

/* Max pooling's gradient: each window's gradient g (C, out_h, out_w, N) added at its argmax tap of dx
 * (C, H, W, N), channels start..stop-1. Overlapping windows go taps outermost, so that a number of dx
 * reached by several windows adds them in the NumPy path's order; windows that do not overlap reach each
 * number at most once and go window by window (one pass over g and argmax). With `assign` (windows that
 * cover dx exactly, none overlapping) dx need not be zeroed first: each number is written 0 + its value. */
void EMBER_NAME(ember_max_pool_backward)(const T *g, const unsigned char *argmax, idx channels, idx out_h,
                                         idx out_w, idx batch, idx kh, idx kw, idx sh, idx sw, idx dh, idx dw,
                                         T *dx, idx height, idx width, idx start, idx stop, int assign)
{
    (void)channels;
    const int overlap = sh < (kh - 1) * dh + 1 || sw < (kw - 1) * dw + 1;
    for (idx c = start; c < stop; c++) {
        if (overlap) {
            for (idx t = 0; t < kh * kw; t++)
                for (idx r = 0; r < out_h; r++)
                    for (idx q = 0; q < out_w; q++) {
                        T *restrict tap = dx + ((c * height + r * sh + (t / kw) * dh) * width + q * sw
                                                + (t % kw) * dw) * batch;
                        const T *restrict grad = g + ((c * out_h + r) * out_w + q) * batch;
                        const unsigned char *restrict at = argmax + ((c * out_h + r) * out_w + q) * batch;
                        for (idx n = 0; n < batch; n++)
                            tap[n] += at[n] == t ? grad[n] : (T)0;
                    }
            continue;
        }
        for (idx r = 0; r < out_h; r++)
            for (idx i = 0; i < kh; i++)  /* along one row of dx, so that it is written in order */
                for (idx q = 0; q < out_w; q++) {
                    const T *restrict grad = g + ((c * out_h + r) * out_w + q) * batch;
                    const unsigned char *restrict at = argmax + ((c * out_h + r) * out_w + q) * batch;
                    for (idx j = 0; j < kw; j++) {
                        const unsigned char t = (unsigned char)(i * kw + j);
                        T *restrict tap = dx + ((c * height + r * sh + i * dh) * width + q * sw + j * dw) * batch;
                        if (assign)
                            for (idx n = 0; n < batch; n++)
                                tap[n] = (T)0 + (at[n] == t ? grad[n] : (T)0);
                        else
                            for (idx n = 0; n < batch; n++)
                                tap[n] += at[n] == t ? grad[n] : (T)0;
                    }
                }
    }
}

/* Direct convolutions on (C, H, W, N) memory, vectorized over the batch N: no im2col matrix. A block of
 * output channels (forward) or input channels (input gradient) by one to three vectors of batch entries
 * is summed in registers over every tap and channel that reaches it, then stored once. Both work on a range
 * of rows, so that callers can split one convolution between threads. */
typedef T EMBER_NAME(vector) __attribute__((vector_size(EMBER_VECTOR_BYTES), aligned(sizeof(T))));
#define V EMBER_NAME(vector)
#define LANES ((idx)(EMBER_VECTOR_BYTES / sizeof(T)))

/* A register block of R rows (channels) by NV vectors of batch entries:
 * out[k * out_plane + m] = sum over t < count, c < channels of
 *     weights[(taps[t] * channels + c) * R + k] * source[offsets[t] + shift + c * plane + m]  (+ bias[k])
 * for k < rows <= R and m < NV * LANES; bias may be NULL. */
#define EMBER_BLOCK(NAME, R, NV)                                                                          \
    EMBER_FUSED_FUNCTION                                                                                  \
    static void EMBER_NAME(NAME)(const T *source, idx plane, idx channels, const idx *offsets, idx shift, \
                                 const idx *taps, idx count, const T *weights, T *out, idx out_plane,    \
                                 idx rows, const T *bias)                                                 \
    {                                                                                                     \
        EMBER_FUSED                                                                                       \
        V sums[R][NV];                                                                                    \
        _Pragma("GCC unroll 32") for (int k = 0; k < R; k++)                                             \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) sums[k][v] = (V){0};                    \
        for (idx t = 0; t < count; t++) {                                                                 \
            const T *column = source + offsets[t] + shift;                                                \
            const T *tap = weights + taps[t] * channels * (R);                                            \
            for (idx c = 0; c < channels; c++) {                                                          \
                V values[NV];                                                                             \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                     \
                    values[v] = *(const V *)(column + c * plane + v * LANES);                             \
                const T *w = tap + c * (R);                                                               \
                _Pragma("GCC unroll 32") for (int k = 0; k < R; k++)                                     \
                    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) sums[k][v] += w[k] * values[v]; \
            }                                                                                             \
        }                                                                                                 \
        for (idx k = 0; k < rows; k++)                                                                    \
            for (int v = 0; v < NV; v++)                                                                  \
                *(V *)(out + k * out_plane + v * LANES) = bias ? sums[k][v] + bias[k] : sums[k][v];       \
    }
EMBER_BLOCK(conv_block_full, EMBER_ROWS, 1)
EMBER_BLOCK(conv_block_half, EMBER_ROWS / 2, 2)
EMBER_BLOCK(conv_block_half_one, EMBER_ROWS / 2, 1)
EMBER_BLOCK(conv_block_third, EMBER_ROWS / 3, 3)
EMBER_BLOCK(conv_block_third_two, EMBER_ROWS / 3, 2)
EMBER_BLOCK(conv_block_third_one, EMBER_ROWS / 3, 1)
#undef EMBER_BLOCK

/* The same sums for `lanes` batch entries with blocks of `height` rows, one entry at a time. */
EMBER_FUSED_FUNCTION
static void EMBER_NAME(conv_block_tail)(const T *source, idx plane, idx channels, const idx *offsets, idx shift,
                                        const idx *taps, idx count, const T *weights, T *out, idx out_plane,
                                        idx rows, idx height, idx lanes, const T *bias)
{
    EMBER_FUSED
    for (idx m = 0; m < lanes; m++) {
        T sums[EMBER_ROWS] = {0};
        for (idx t = 0; t < count; t++) {
            const T *column = source + offsets[t] + shift + m;
            const T *tap = weights + taps[t] * channels * height;
            for (idx c = 0; c < channels; c++) {
                T value = column[c * plane];
                for (idx k = 0; k < height; k++)
                    sums[k] += tap[c * height + k] * value;
            }
        }
        for (idx k = 0; k < rows; k++)
            out[k * out_plane + m] = bias ? sums[k] + bias[k] : sums[k];
    }
}

/* All `total` rows of one output position, in blocks of `height` rows (EMBER_ROWS, /2 or /3: one, two or
 * three vectors), for the `lanes` batch entries from `shift` on (at most the block's width). */
static void EMBER_NAME(conv_position)(const T *source, idx plane, idx channels, const idx *offsets, idx shift,
                                      const idx *taps, idx count, const T *packed, idx depth, T *out,
                                      idx out_plane, idx total, idx height, idx lanes, const T *all_bias)
{
    for (idx block = 0; block * height < total; block++) {
        const T *weights = packed + block * depth * height;
        const T *bias = all_bias ? all_bias + block * height : NULL;
        T *first = out + block * height * out_plane;
        idx rows = total - block * height < height ? total - block * height : height;
        idx done = 0;
        if (height == EMBER_ROWS / 2 && lanes == 2 * LANES) {
            EMBER_NAME(conv_block_half)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                        out_plane, rows, bias);
            continue;
        }
        if (height == EMBER_ROWS / 3 && lanes == 3 * LANES) {
            EMBER_NAME(conv_block_third)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                         out_plane, rows, bias);
            continue;
        }
        if (height == EMBER_ROWS / 3 && lanes == 2 * LANES) {
            EMBER_NAME(conv_block_third_two)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                             out_plane, rows, bias);
            continue;
        }
        for (; done + LANES <= lanes; done += LANES) {
            if (height == EMBER_ROWS)
                EMBER_NAME(conv_block_full)(source, plane, channels, offsets, shift + done, taps, count, weights,
                                            first + done, out_plane, rows, bias);
            else if (height == EMBER_ROWS / 2)
                EMBER_NAME(conv_block_half_one)(source, plane, channels, offsets, shift + done, taps, count,
                                                weights, first + done, out_plane, rows, bias);
            else
                EMBER_NAME(conv_block_third_one)(source, plane, channels, offsets, shift + done, taps, count,
                                                 weights, first + done, out_plane, rows, bias);
        }
        if (done < lanes)
            EMBER_NAME(conv_block_tail)(source, plane, channels, offsets, shift + done, taps, count, weights,
                                        first + done, out_plane, rows, height, lanes - done, bias);
    }
}

/* The batch entries one block covers at once for blocks of `height` rows: the widest the registers allow,
 * except that blocks a third high take two vectors when that divides the batch and three do not (64 = 2 x 32,
 * not 48 + a slower 16). */
static idx EMBER_NAME(conv_width)(idx height, idx batch)
{
    if (height == EMBER_ROWS)
        return LANES;
    if (height == EMBER_ROWS / 2)
        return 2 * LANES;
    return batch % (3 * LANES) != 0 && batch % (2 * LANES) == 0 ? 2 * LANES : 3 * LANES;
}

/* Units of work per output position in conv_rows (blocks' widths of batch entries): for the callers'
 * piece sizes. */
idx EMBER_NAME(ember_conv_units)(idx block_height, idx batch)
{
    const idx step = EMBER_NAME(conv_width)(block_height, batch);
    return (batch + step - 1) / step;
}

/* Along one axis, the source index that tap k of target index r reads, or -1 when it reads none (padding,
 * or for the transposed convolution no output position at all). */
static idx EMBER_NAME(conv_source)(idx r, idx k, idx stride, idx dilation, idx pad, idx size, int transposed)
{
    idx at = transposed ? r + pad - k * dilation : r * stride + k * dilation - pad;
    if (transposed) {
        if (at < 0 || at % stride != 0)
            return -1;
        at /= stride;
    }
    return at >= 0 && at < size ? at : -1;
}

/* Rows start..stop-1 of a direct convolution's result `target` (C-contiguous (produced, target_h,
 * target_w, N)) from `source` (C-contiguous (summed, source_h, source_w, N)): for each target position, the
 * list of taps that reach it, then every block of channels. The forward's source row for output row r and
 * tap i is r*sh + i*dh - top; the transposed convolution's is (r + top - i*dh) / sh where that divides.
 * The work is a list of units (row r, a block's width of batch entries from n, column q), in that order;
 * with `counter` NULL this call does all units of the rows, else it takes `piece` units at a time from the
 * shared *counter (atomically) until none is left, so that threads calling at once share them out by
 * speed. Each number of `target` is written by one unit, so who did which gives the same result. */
static void EMBER_NAME(conv_rows)(const T *source, idx summed, idx source_h, idx source_w, idx batch,
                                  const T *packed, idx block_height, idx produced, idx kh, idx kw, idx sh, idx sw,
                                  idx dh, idx dw, idx top, idx left, const T *bias, T *target, idx target_h,
                                  idx target_w, idx start, idx stop, idx *counter, idx piece, int transposed)
{
    const idx depth = kh * kw * summed, plane = source_h * source_w * batch;
    const idx target_plane = target_h * target_w * batch, step = EMBER_NAME(conv_width)(block_height, batch);
    const idx chunks = (batch + step - 1) / step, per_row = chunks * target_w;  /* units per row */
    const idx first = start * per_row, end = stop * per_row;
    idx offsets[EMBER_MAX_TAPS * EMBER_MAX_TAPS], taps[EMBER_MAX_TAPS * EMBER_MAX_TAPS];
    for (idx begin = first; begin < end;) {
        idx until = end;
        if (counter) {
            begin = first + __atomic_fetch_add(counter, piece, __ATOMIC_RELAXED);
            if (begin >= end)
                break;
            until = begin + piece < end ? begin + piece : end;
        }
        for (idx unit = begin; unit < until; unit++) {
            const idx r = unit / per_row, n = (unit % per_row) / target_w * step, q = unit % target_w;
            idx count = 0;
            for (idx i = 0; i < kh; i++) {
                idx row = EMBER_NAME(conv_source)(r, i, sh, dh, top, source_h, transposed);
                if (row < 0)
                    continue;
                for (idx j = 0; j < kw; j++) {
                    idx column = EMBER_NAME(conv_source)(q, j, sw, dw, left, source_w, transposed);
                    if (column < 0)
                        continue;
                    offsets[count] = (row * source_w + column) * batch;
                    taps[count++] = i * kw + j;
                }
            }
            EMBER_NAME(conv_position)(source, plane, summed, offsets, n, taps, count, packed, depth,
                                      target + (r * target_w + q) * batch + n, target_plane, produced,
                                      block_height, batch - n < step ? batch - n : step, bias);
        }
        begin = until;
    }
}

/* y[o, r, q, n] = sum over c, i, j of w[o, c, i, j] * x[c, r*sh + i*dh - top, q*sw + j*dw - left, n]
 * (zero outside x) + bias[o] (no bias when NULL), for output rows r in start..stop-1.
 * x: C-contiguous (C, H, W, N); y: C-contiguous (C_out, out_h, out_w, N); kh, kw <= EMBER_MAX_TAPS.
 * packed: w in blocks of `height` output channels (ember_conv_rows() / 1, 2 or 3), (ceil(C_out/height),
 * kh*kw*C, height): [b][(i*kw + j)*C + c][k] = w[b*height + k, c, i, j], zero past C_out. */
void EMBER_NAME(ember_conv_forward)(const T *x, idx channels, idx height, idx width, idx batch,
                                    const T *packed, idx block_height, idx out_channels, idx kh, idx kw,
                                    idx sh, idx sw, idx dh, idx dw, idx top, idx left, const T *bias, T *y,
                                    idx out_h, idx out_w, idx start, idx stop, idx *counter, idx piece)
{
    EMBER_NAME(conv_rows)(x, channels, height, width, batch, packed, block_height, out_channels, kh, kw, sh, sw,
                          dh, dw, top, left, bias, y, out_h, out_w, start, stop, counter, piece, 0);
}

/* The transposed convolution (the input gradient), gathered: for input rows r in start..stop-1,
 * dx[c, r, q, n] = sum over o and the taps (i, j) that reach (r, q) from an output position (p, s)
 * (r = p*sh + i*dh - top, q = s*sw + j*dw - left) of w[o, c, i, j] * g[o, p, s, n].
 * g: C-contiguous (C_out, out_h, out_w, N); dx: C-contiguous (C, H, W, N), every number written once;
 * kh, kw <= EMBER_MAX_TAPS.
 * packed: w in blocks of `height` input channels, (ceil(C/height), kh*kw*C_out, height):
 * [b][(i*kw + j)*C_out + o][k] = w[o, b*height + k, i, j], zero past C. */
void EMBER_NAME(ember_conv_input_grad)(const T *g, idx out_channels, idx out_h, idx out_w, idx batch,
                                       const T *packed, idx block_height, idx channels, idx kh, idx kw,
                                       idx sh, idx sw, idx dh, idx dw, idx top, idx left, T *dx, idx height,
                                       idx width, idx start, idx stop, idx *counter, idx piece)
{
    EMBER_NAME(conv_rows)(g, out_channels, out_h, out_w, batch, packed, block_height, channels, kh, kw, sh, sw,
                          dh, dw, top, left, NULL, dx, height, width, start, stop, counter, piece, 1);
}

/* A vector's numbers added up as a tree (depth log2(LANES), not LANES), so that a tile's sums of sums
 * overlap instead of waiting on each other. */
static inline T EMBER_NAME(total)(V value)
{
    T lanes[LANES];
    memcpy(lanes, &value, sizeof lanes);
    for (idx width = LANES / 2; width >= 1; width /= 2)
        for (idx l = 0; l < width; l++)
            lanes[l] += lanes[l + width];
    return lanes[0];
}

/* A weight-gradient tile: RO output channels by RC input channels of one tap,
 * dw[o * dw_o + c * dw_c] += sum over r < rows, s < count, n < batch of
 *     g[o * out_plane + r * g_row + s * batch + n] * x[c * plane + r * x_row + s * step + n],
 * summed in vectors over n and added up once at the end (several rows make that rarer). */
#define EMBER_WEIGHT_TILE(NAME, RO, RC)                                                                    \
    EMBER_FUSED_FUNCTION                                                                                   \
    static void EMBER_NAME(NAME)(const T *x, idx plane, idx step, const T *g, idx out_plane, idx count,   \
                                 idx batch, T *dw, idx dw_o, idx dw_c, idx rows, idx x_row, idx g_row)     \
    {                                                                                                      \
        EMBER_FUSED                                                                                        \
        V sums[RO][RC];                                                                                    \
        T totals[RO][RC];                                                                                  \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                              \
            _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++) {                                        \
                sums[o][c] = (V){0};                                                                       \
                totals[o][c] = 0;                                                                          \
            }                                                                                              \
        for (idx at = 0; at < rows * count; at++) {                                                        \
            const idx r = at / count, s = at % count;                                                      \
            const T *xs = x + r * x_row + s * step, *gs = g + r * g_row + s * batch;                       \
            idx n = 0;                                                                                     \
            for (; n + LANES <= batch; n += LANES) {                                                       \
                V grads[RO];                                                                               \
                _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                      \
                    grads[o] = *(const V *)(gs + o * out_plane + n);                                       \
                _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++) {                                    \
                    V value = *(const V *)(xs + c * plane + n);                                            \
                    EMBER_IN_REGISTER(value);                                                              \
                    _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++) sums[o][c] += grads[o] * value;  \
                }                                                                                          \
            }                                                                                              \
            for (; n < batch; n++)                                                                         \
                for (int c = 0; c < RC; c++)                                                               \
                    for (int o = 0; o < RO; o++)                                                           \
                        totals[o][c] += gs[o * out_plane + n] * xs[c * plane + n];                         \
        }                                                                                                  \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                              \
            _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                          \
                totals[o][c] += EMBER_NAME(total)(sums[o][c]);                                             \
        for (int o = 0; o < RO; o++)                                                                       \
            for (int c = 0; c < RC; c++)                                                                   \
                dw[o * dw_o + c * dw_c] += totals[o][c];                                                   \
    }
EMBER_WEIGHT_TILE(weight_tile, EMBER_TILE_OUT, EMBER_TILE_IN)
EMBER_WEIGHT_TILE(weight_tile_in, 1, EMBER_TILE_IN)
EMBER_WEIGHT_TILE(weight_tile_three, EMBER_TILE_OUT, 3) /* input channels left over, or a layer with few */
EMBER_WEIGHT_TILE(weight_tile_three_one, 1, 3)
EMBER_WEIGHT_TILE(weight_tile_column, 8, 1)              /* one input channel: 8 sums keep the FMAs busy */
EMBER_WEIGHT_TILE(weight_tile_out, EMBER_TILE_OUT, 1)
EMBER_WEIGHT_TILE(weight_tile_one, 1, 1)
#undef EMBER_WEIGHT_TILE

/* Output channels o_first..o_last-1 of one tile row: tiles `wide` (EMBER_TILE_IN, 3 or 1) of the second kind
 * of index, input channels `plane` apart in x (dw_c apart in dw) or, for the taps path, tap columns. */
static void EMBER_NAME(weight_tiles)(idx wide, const T *xs, idx plane, idx step, const T *gs, idx out_plane,
                                     idx count, idx batch, T *target, idx dw_o, idx dw_c, idx rows, idx x_row,
                                     idx g_row, idx o_first, idx o_last)
{
    idx o = o_first;
#define EMBER_TILES(NAME, RO)                                                                              \
    for (; o + (RO) <= o_last; o += (RO))                                                                  \
        EMBER_NAME(NAME)(xs, plane, step, gs + o * out_plane, out_plane, count, batch, target + o * dw_o,    \
                         dw_o, dw_c, rows, x_row, g_row)
    if (wide == EMBER_TILE_IN) {
        EMBER_TILES(weight_tile, EMBER_TILE_OUT);
        EMBER_TILES(weight_tile_in, 1);
    } else if (wide == 3) {
        EMBER_TILES(weight_tile_three, EMBER_TILE_OUT);
        EMBER_TILES(weight_tile_three_one, 1);
    } else {
        EMBER_TILES(weight_tile_column, 8);
        EMBER_TILES(weight_tile_out, EMBER_TILE_OUT);
        EMBER_TILES(weight_tile_one, 1);
    }
#undef EMBER_TILES
}

/* Along one axis: the first and one past the last output column s whose tap column s*sw + j*dw - left lies
 * inside x (first >= last: none). */
static void EMBER_NAME(tap_columns)(idx j, idx sw, idx dw, idx left, idx width, idx out_w, idx *first, idx *last)
{
    idx low = 0, high = out_w;
    while (low < high && low * sw + j * dw - left < 0)
        low++;
    while (high > low && (high - 1) * sw + j * dw - left >= width)
        high--;
    *first = low;
    *last = high;
}

/* The weight gradient of output rows p in start..stop-1, added onto dw:
 * dw[o, c, i, j] += sum over p, s, n of g[o, p, s, n] * x[c, p*sh + i*dh - top, s*sw + j*dw - left, n]
 * (zero outside x). x: C-contiguous (C, H, W, N); g: C-contiguous (C_out, out_h, out_w, N);
 * dw: C-contiguous (C_out, C, kh, kw); only output channels o_first..o_last-1. Output rows go in groups of
 * `group`; for each tap row i, one tile sums the group's rows whose tap row lies inside x, and output
 * channels go in chunks of `chunk_out`: every input channel and tap column for one chunk, then the next (the
 * chunk's gradient rows stay in cache). A tile spans output channels by input channels; with one or two
 * input channels, output channels by tap columns instead (over the columns every tap of the tile reaches,
 * the other columns of each tap one by one), so that a first layer's tiles keep as many sums going. */
static void EMBER_NAME(weight_rows)(const T *x, idx channels, idx height, idx width, idx batch,
                                    const T *g, idx out_channels, idx out_h, idx out_w, idx kh, idx kw,
                                    idx sh, idx sw, idx dh, idx dw, idx top, idx left, T *grad_weight,
                                    idx o_first, idx o_last, idx chunk_out, idx group, idx start, idx stop)
{
    const idx plane = height * width * batch, out_plane = out_h * out_w * batch, taps = kh * kw;
    const idx dw_o = channels * taps, x_row = sh * width * batch, g_row = out_w * batch, step = sw * batch;
    for (idx p_group = start; p_group < stop; p_group += group)
        for (idx i = 0; i < kh; i++) {
            idx p = p_group, high = stop - p_group < group ? stop : p_group + group;
            while (p < high && p * sh + i * dh - top < 0)  /* the rows whose tap row lies inside x */
                p++;
            while (high > p && (high - 1) * sh + i * dh - top >= height)
                high--;
            if (p >= high)
                continue;
            const idx rows = high - p, row = p * sh + i * dh - top;
            const T *x_row_start = x + row * width * batch, *g_row_start = g + p * out_w * batch;
            for (idx chunk = o_first; chunk < o_last; chunk += chunk_out) {
                const idx chunk_end = chunk + chunk_out < o_last ? chunk + chunk_out : o_last;
                for (idx c = 0; c < channels;) {
                    if (channels <= 2) {  /* tiles across tap columns */
                        for (idx j = 0; j < kw;) {
                            const idx wide = j + EMBER_TILE_IN <= kw ? EMBER_TILE_IN : j + 3 <= kw ? 3 : 1;
                            idx first, last, unused;
                            EMBER_NAME(tap_columns)(j, sw, dw, left, width, out_w, &first, &unused);
                            EMBER_NAME(tap_columns)(j + wide - 1, sw, dw, left, width, out_w, &unused, &last);
                            if (first < last)  /* the columns every tap of the tile reaches */
                                EMBER_NAME(weight_tiles)(wide, x_row_start + c * plane + (first * sw + j * dw - left)
                                                         * batch, dw * batch, step, g_row_start + first * batch,
                                                         out_plane, last - first, batch,
                                                         grad_weight + c * taps + i * kw + j, dw_o, 1, rows, x_row,
                                                         g_row, chunk, chunk_end);
                            for (idx t = j; t < j + wide; t++) {  /* each tap's own columns outside those */
                                idx tap_first, tap_last;
                                EMBER_NAME(tap_columns)(t, sw, dw, left, width, out_w, &tap_first, &tap_last);
                                const idx inner_first = first < last ? first : tap_last;
                                const idx inner_last = first < last ? last : tap_last;
                                const idx ranges[2][2] = {{tap_first, inner_first < tap_last ? inner_first : tap_last},
                                                          {inner_last > tap_first ? inner_last : tap_first, tap_last}};
                                for (int k = 0; k < 2; k++)
                                    if (ranges[k][0] < ranges[k][1])
                                        EMBER_NAME(weight_tiles)(1, x_row_start + c * plane
                                                                 + (ranges[k][0] * sw + t * dw - left) * batch,
                                                                 plane, step, g_row_start + ranges[k][0] * batch,
                                                                 out_plane, ranges[k][1] - ranges[k][0], batch,
                                                                 grad_weight + c * taps + i * kw + t, dw_o, taps,
                                                                 rows, x_row, g_row, chunk, chunk_end);
                            }
                            j += wide;
                        }
                        c++;
                        continue;
                    }
                    const idx wide = c + EMBER_TILE_IN <= channels ? EMBER_TILE_IN : c + 3 <= channels ? 3 : 1;
                    for (idx j = 0; j < kw; j++) {
                        idx first, last;
                        EMBER_NAME(tap_columns)(j, sw, dw, left, width, out_w, &first, &last);
                        if (first < last)
                            EMBER_NAME(weight_tiles)(wide, x_row_start + c * plane + (first * sw + j * dw - left)
                                                     * batch, plane, step, g_row_start + first * batch, out_plane,
                                                     last - first, batch, grad_weight + c * taps + i * kw + j, dw_o,
                                                     taps, rows, x_row, g_row, chunk, chunk_end);
                    }
                    c += wide;
                }
            }
        }
}

/* The weight gradient of output rows start..stop-1, as in weight_rows (output rows summed `group` at a time
 * by one tile, output channels `chunk_out` at a time per group). With `counter` NULL it is added onto
 * grad_weight (C_out, C, kh, kw). Else the work is cut into pieces: `ranges` ranges of rows (range r: rows
 * start + (stop-start)*r/ranges up to the next) by parts of `part_out` output channels; this call takes
 * pieces from the shared *counter (atomically) until none is left and writes (not adds) each into range r's
 * own partial, grad_weight + r * C_out*C*kh*kw, so that threads calling at once share the pieces out by speed
 * and the caller adds the partials in order: the same numbers whoever did which. */
void EMBER_NAME(ember_conv_weight_grad)(const T *x, idx channels, idx height, idx width, idx batch,
                                        const T *g, idx out_channels, idx out_h, idx out_w, idx kh, idx kw,
                                        idx sh, idx sw, idx dh, idx dw, idx top, idx left, T *grad_weight,
                                        idx chunk_out, idx group, idx start, idx stop, idx *counter,
                                        idx ranges, idx part_out)
{
    chunk_out = chunk_out > 0 ? chunk_out : out_channels;
    group = group > 0 ? group : 1;
    if (!counter) {
        EMBER_NAME(weight_rows)(x, channels, height, width, batch, g, out_channels, out_h, out_w, kh, kw, sh, sw,
                                dh, dw, top, left, grad_weight, 0, out_channels, chunk_out, group, start, stop);
        return;
    }
    part_out = part_out > 0 ? part_out : out_channels;
    const idx per_out = channels * kh * kw, parts = (out_channels + part_out - 1) / part_out;
    for (;;) {
        const idx k = __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
        if (k >= ranges * parts)
            break;
        const idx range = k / parts, o_first = k % parts * part_out;
        const idx o_last = o_first + part_out < out_channels ? o_first + part_out : out_channels;
        T *partial = grad_weight + range * out_channels * per_out;
        memset(partial + o_first * per_out, 0, (size_t)((o_last - o_first) * per_out) * sizeof(T));
        EMBER_NAME(weight_rows)(x, channels, height, width, batch, g, out_channels, out_h, out_w, kh, kw, sh, sw,
                                dh, dw, top, left, partial, o_first, o_last, chunk_out, group,
                                start + (stop - start) * range / ranges, start + (stop - start) * (range + 1) / ranges);
    }
}
#undef V
#undef LANES

#undef T
#endif
