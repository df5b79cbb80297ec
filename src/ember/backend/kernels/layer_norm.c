/* Layer norm over the last axis of C-contiguous (rows, columns) arrays, forward and backward in one pass over
 * each row. A template over T (see ember_kernels.h). The row means accumulate in double (the NumPy path's
 * products with a vector of 1/C accumulate in T), the elementwise steps run in T in the NumPy path's order,
 * and the weight and bias gradients add the rows in order, as NumPy's sum over the leading axes: the numbers
 * agree with NumPy's within T's rounding. */

/* Per row: mean, biased variance, inv_std = 1 / sqrt(var + eps), x_hat = (x - mean) * inv_std, and
 * y = x_hat * weight + bias (weight and bias each may be NULL: then left out). */
void EMBER_NAME(ember_layer_norm_forward)(const T *restrict x, idx rows, idx columns, const T *restrict weight,
                                          const T *restrict bias, double eps, T *restrict x_hat, T *restrict y,
                                          T *restrict mean, T *restrict var, T *restrict inv_std)
{
    const double reciprocal = columns ? 1.0 / (double)columns : 0.0;
    for (idx r = 0; r < rows; r++) {
        const T *row = x + r * columns;
        T *hat = x_hat + r * columns, *out = y + r * columns;
        double total = 0.0;
#pragma omp simd reduction(+ : total)
        for (idx c = 0; c < columns; c++)
            total += (double)row[c];
        const T row_mean = (T)(total * reciprocal);
        double squares = 0.0;
#pragma omp simd reduction(+ : squares)
        for (idx c = 0; c < columns; c++) {
            T centred = row[c] - row_mean;
            hat[c] = centred;
            squares += (double)centred * (double)centred;
        }
        const T row_var = (T)(squares * reciprocal);
        const T row_inv_std = (T)1 / EMBER_SQRT(row_var + (T)eps);
        mean[r] = row_mean;
        var[r] = row_var;
        inv_std[r] = row_inv_std;
        for (idx c = 0; c < columns; c++) {
            T value = hat[c] * row_inv_std;
            hat[c] = value;
            if (weight)
                value = value * weight[c];
            if (bias)
                value = value + bias[c];
            out[c] = value;
        }
    }
}

/* grad_hat = grad * weight (grad without a weight); per row grad_input = (grad_hat - mean(grad_hat) - x_hat *
 * mean(grad_hat * x_hat)) * inv_std; grad_weight = sum over rows of grad * x_hat and grad_bias = sum of grad
 * (each may be NULL: not computed). */
void EMBER_NAME(ember_layer_norm_backward)(const T *restrict grad, const T *restrict x_hat,
                                           const T *restrict inv_std, const T *restrict weight, idx rows,
                                           idx columns, T *restrict grad_input, T *restrict grad_weight,
                                           T *restrict grad_bias)
{
    const double reciprocal = columns ? 1.0 / (double)columns : 0.0;
    for (idx c = 0; c < columns; c++) {
        if (grad_weight)
            grad_weight[c] = 0;
        if (grad_bias)
            grad_bias[c] = 0;
    }
    for (idx r = 0; r < rows; r++) {
        const T *g = grad + r * columns, *hat = x_hat + r * columns;
        T *out = grad_input + r * columns;
        double total = 0.0, weighted = 0.0;
#pragma omp simd reduction(+ : total, weighted)
        for (idx c = 0; c < columns; c++) {
            T grad_hat = weight ? g[c] * weight[c] : g[c];
            total += (double)grad_hat;
            weighted += (double)(grad_hat * hat[c]);
        }
        const T mean_grad = (T)(total * reciprocal), mean_weighted = (T)(weighted * reciprocal);
        const T scale = inv_std[r];
        for (idx c = 0; c < columns; c++) {
            T grad_hat = weight ? g[c] * weight[c] : g[c];
            out[c] = (grad_hat - mean_grad - hat[c] * mean_weighted) * scale;
        }
        if (grad_weight)
            for (idx c = 0; c < columns; c++)
                grad_weight[c] += g[c] * hat[c];
        if (grad_bias)
            for (idx c = 0; c < columns; c++)
                grad_bias[c] += g[c];
    }
}
