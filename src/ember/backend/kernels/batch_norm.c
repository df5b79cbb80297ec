/* Batch norm's forward and backward over (C, count) numbers, a channel at a time: each channel's sums in
 * double (vectorized, so reordered), its elementwise pass in T as the NumPy path's. A template over T (see
 * ember_kernels.h). */

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
