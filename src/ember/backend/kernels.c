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

typedef long long idx;

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
        double shift = -centre * inv, scale = weight[c], offset = bias[c];
        T *restrict normalised_out = x_hat + c * count;
        T *restrict y_out = y + c * count;
        for (idx k = 0; k < count; k++) {
            double normalised = values[k] * inv + shift;
            normalised_out[k] = (T)normalised;
            y_out[k] = (T)(normalised * scale + offset);
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
        double scale = (double)inv_std[c] * weight[c];
        double mean_grad = total / (double)count, mean_weighted = weighted / (double)count;
        T *restrict out = grad_input + c * count;
        for (idx k = 0; k < count; k++)
            out[k] = (T)((g[k] - mean_grad - normalised[k] * mean_weighted) * scale);
    }
}

#undef T
#endif
