/* Group norm followed by SiLU, silu(x_hat * scale + shift), as one kernel each way: the group-norm kernels of
 * group_norm.c a group at a time, with SiLU (silu.c's rational tanh) applied to the group's output while it
 * is still in cache, and in the backward pass SiLU's gradient taken on the group's output recomputed from
 * x_hat (the same operations as the forward pass, so the same numbers) before group norm's gradient. The
 * numbers are those of group_norm.c's kernels and silu.c's one after the other. Float only (compiled.py
 * refuses other types: the tanh is float's). Each kernel does groups start..stop-1, or, given a counter
 * (`counter` not NULL), takes them one at a time from it with the other threads calling at once
 * (group_after in group_norm.c). A template over T (see ember_kernels.h). */

/* x_hat = ((x + shift) - mean) * inv (shift NULL: x alone) and out = x_hat * weight + bias (x_hat when not
 * affine) for `rows` rows of `batch` samples, rounded as group_norm_forward rounds them (no FMA here);
 * x_hat NULL: not written. */
static inline void EMBER_NAME(normalise_rows)(const T *restrict x, const T *restrict shift, const T *restrict mean,
                                              const T *restrict inv, idx rows, idx batch, int affine, T weight,
                                              T bias, T *restrict x_hat, T *restrict out)
{
    for (idx k = 0; k < rows; k++) {
        const T *restrict row = x + k * batch;
        T *restrict outputs = out + k * batch;
        if (shift && x_hat) {
            T *restrict hats = x_hat + k * batch;
#pragma omp simd
            for (idx n = 0; n < batch; n++) {
                const T normalised = ((T)(row[n] + shift[n]) - mean[n]) * inv[n];
                hats[n] = normalised;
                outputs[n] = affine ? normalised * weight + bias : normalised;
            }
        } else if (x_hat) {
            T *restrict hats = x_hat + k * batch;
#pragma omp simd
            for (idx n = 0; n < batch; n++) {
                const T normalised = (row[n] - mean[n]) * inv[n];
                hats[n] = normalised;
                outputs[n] = affine ? normalised * weight + bias : normalised;
            }
        } else if (shift) {
#pragma omp simd
            for (idx n = 0; n < batch; n++) {
                const T normalised = ((T)(row[n] + shift[n]) - mean[n]) * inv[n];
                outputs[n] = affine ? normalised * weight + bias : normalised;
            }
        } else {
#pragma omp simd
            for (idx n = 0; n < batch; n++) {
                const T normalised = (row[n] - mean[n]) * inv[n];
                outputs[n] = affine ? normalised * weight + bias : normalised;
            }
        }
    }
}

/* What group_norm_forward computes for groups start..stop-1 (the same arguments; x_hat may be NULL when x
 * and y are both batch inner), with `y` replaced by silu(y), and `input_shift` ((C, N) C-contiguous, or
 * NULL: none; only with x and y batch inner and x_hat NULL) added to x as it is read. Batch inner without
 * x_hat: one pass for the statistics, then one that normalises and applies SiLU EMBER_GROUP_CHUNK numbers at
 * a time; otherwise group_norm_forward a group at a time, then SiLU over the group. */
void EMBER_NAME(ember_group_norm_silu_forward)(const T *restrict x, idx groups, idx count, idx batch,
                                               idx channel_size, int input_batch_inner, int batch_inner,
                                               const T *restrict scale, const T *restrict shift,
                                               const T *restrict input_shift, double eps, T *restrict x_hat,
                                               T *restrict y, T *restrict mean, T *restrict inv_std,
                                               double *restrict work, idx start, idx stop, idx *counter)
{
    if (!(input_batch_inner && batch_inner && !x_hat)) {
        for (idx g = EMBER_NAME(group_after)(counter, start - 1, start); g < stop;
             g = EMBER_NAME(group_after)(counter, g, start)) {
            EMBER_NAME(ember_group_norm_forward)(x, groups, count, batch, channel_size, input_batch_inner,
                                                 batch_inner, scale, shift, eps, x_hat, y, mean, inv_std, work, g,
                                                 g + 1);
            /* the group's numbers: one run of count * batch (batch inner), else one run of count per sample */
            const idx runs = batch_inner ? 1 : batch, length = batch_inner ? count * batch : count;
            for (idx run = 0; run < runs; run++) {
                T *values = y + (batch_inner ? g * count * batch : (run * groups + g) * count);
                EMBER_NAME(silu_pass)(values, values, length);
            }
        }
        return;
    }
    double *restrict total = work, *restrict squares = work + batch;
    T *restrict centre_t = (T *)(work + 2 * batch), *restrict inv_t = (T *)(work + 3 * batch);
    const idx per_group = count / channel_size;
    const idx chunk_rows = EMBER_NAME(group_chunk_rows)(batch);
    const int affine = scale || shift;
    for (idx g = EMBER_NAME(group_after)(counter, start - 1, start); g < stop;
         g = EMBER_NAME(group_after)(counter, g, start)) {
        const T *restrict rows = x + g * count * batch;
        for (idx n = 0; n < batch; n++)
            total[n] = squares[n] = 0.0;
        if (input_shift)
            EMBER_NAME(shifted_sums)(rows, input_shift + g * per_group * batch, count, batch, channel_size, total,
                                     squares);
        else
            EMBER_NAME(group_sums)(rows, count, batch, total, squares);
        /* as group_norm_forward's float statistics */
        for (idx n = 0; n < batch; n++) {
            total[n] /= (double)count;
            squares[n] = squares[n] - total[n] * total[n] * (double)count;
            squares[n] = squares[n] > 0.0 ? squares[n] : 0.0;
            centre_t[n] = mean[n * groups + g] = (T)total[n];
            inv_t[n] = inv_std[n * groups + g] = (T)(1.0 / sqrt(squares[n] / (double)count + eps));
        }
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = g * per_group + channel;
            const T weight = scale ? scale[c] : (T)1, bias = shift ? shift[c] : (T)0;
            const T *restrict add = input_shift ? input_shift + c * batch : NULL;
            for (idx k = 0; k < channel_size; k += chunk_rows) {
                const idx taken = channel_size - k < chunk_rows ? channel_size - k : chunk_rows;
                const idx at = (g * count + channel * channel_size + k) * batch;
                EMBER_NAME(normalise_rows)(x + at, add, centre_t, inv_t, taken, batch, affine, weight, bias, NULL,
                                           y + at);
                EMBER_NAME(silu_pass)(y + at, y + at, taken * batch);
            }
        }
    }
}

/* The gradient of silu(group_norm(x)) for groups start..stop-1, arrays as group_norm_backward takes them and
 * shift (NULL: none) beside scale: per group, the group's output y = x_hat * scale[c] + shift[c] recomputed,
 * SiLU's gradient grad * (s * (1 + y * (1 - s))), s = sigmoid(y), written to grad_input, then group norm's
 * gradient of that, in place. `work` holds 5 * batch doubles. */
void EMBER_NAME(ember_group_norm_silu_backward)(const T *restrict grad, const T *restrict x_hat, idx groups,
                                                idx count, idx batch, idx channel_size, int batch_inner,
                                                const T *restrict inv_std, const T *restrict scale,
                                                const T *restrict shift, T *grad_input, T *restrict grad_weight,
                                                T *restrict grad_bias, double *restrict work, idx start, idx stop,
                                                idx *counter)
{
    const idx per_group = count / channel_size;
    const int affine = scale || shift;
    for (idx g = EMBER_NAME(group_after)(counter, start - 1, start); g < stop;
         g = EMBER_NAME(group_after)(counter, g, start)) {
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = g * per_group + channel;
            const T weight = scale ? scale[c] : (T)1, bias = shift ? shift[c] : (T)0;
            const idx runs = batch_inner ? 1 : batch;
            const idx length = batch_inner ? channel_size * batch : channel_size;
            for (idx run = 0; run < runs; run++) {
                const idx at = batch_inner ? (g * count + channel * channel_size) * batch
                                           : (run * groups + g) * count + channel * channel_size;
                /* the output, rounded as the forward pass rounded it (no FMA here), then SiLU's gradient */
#pragma omp simd
                for (idx i = at; i < at + length; i++)
                    grad_input[i] = affine ? x_hat[i] * weight + bias : x_hat[i];
                EMBER_NAME(silu_grad_pass)(grad + at, grad_input + at, grad_input + at, length);
            }
        }
        EMBER_NAME(ember_group_norm_backward)(grad_input, x_hat, groups, count, batch, channel_size, batch_inner,
                                              inv_std, scale, grad_input, grad_weight, grad_bias, work, g, g + 1);
    }
}

/* The same gradient as group_norm_silu_backward for batch-inner arrays ((groups, count, batch)), with x_hat
 * recomputed from x (plus `input_shift`, (C, N) C-contiguous, or NULL) and the forward pass's mean and
 * inv_std ((batch, groups)) as the forward pass computed it, so that the forward pass need not keep it. Two
 * passes a group: the first recomputes x_hat and the output EMBER_GROUP_CHUNK numbers at a time, writes
 * SiLU's gradient to grad_input and sums it (and its products with x_hat) per sample and channel; the second
 * recomputes x_hat again and turns grad_input into group norm's gradient in place, summing it per sample and
 * channel into `grad_shift` ((C, N), or NULL: not wanted). The numbers and the order of every sum are
 * group_norm_backward's. `scratch` holds EMBER_GROUP_CHUNK + 4 * batch numbers, `work` 5 * batch doubles. */
void EMBER_NAME(ember_group_norm_silu_backward_from_x)(const T *restrict grad, const T *restrict x, idx groups,
                                                       idx count, idx batch, idx channel_size,
                                                       const T *restrict mean, const T *restrict inv_std,
                                                       const T *restrict scale, const T *restrict shift,
                                                       const T *restrict input_shift, T *restrict grad_input,
                                                       T *restrict grad_weight, T *restrict grad_bias,
                                                       T *restrict grad_shift, T *restrict scratch,
                                                       double *restrict work, idx start, idx stop, idx *counter)
{
    const idx per_group = count / channel_size;
    const idx chunk_rows = EMBER_NAME(group_chunk_rows)(batch);
    const int affine = scale || shift;
    T *restrict x_hat = scratch, *restrict inv_column = scratch + chunk_rows * batch;
    T *restrict mean_column = inv_column + batch, *restrict mean_hat = mean_column + batch;
    T *restrict mean_product = mean_hat + batch;
    double *restrict sum_hat = work, *restrict sum_product = work + batch, *restrict hat = work + 2 * batch;
    double *restrict products = work + 3 * batch, *restrict shift_sums = work + 4 * batch;
    for (idx g = EMBER_NAME(group_after)(counter, start - 1, start); g < stop;
         g = EMBER_NAME(group_after)(counter, g, start)) {
        for (idx n = 0; n < batch; n++) {
            mean_column[n] = mean[n * groups + g];
            inv_column[n] = inv_std[n * groups + g];
            sum_hat[n] = sum_product[n] = 0.0;
        }
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = g * per_group + channel;
            const T weight = scale ? scale[c] : (T)1, bias = shift ? shift[c] : (T)0;
            const double weight_sums = scale ? (double)scale[c] : 1.0;
            const T *restrict add = input_shift ? input_shift + c * batch : NULL;
            for (idx n = 0; n < batch; n++)
                hat[n] = products[n] = 0.0;
            for (idx k = 0; k < channel_size; k += chunk_rows) {
                const idx taken = channel_size - k < chunk_rows ? channel_size - k : chunk_rows;
                const idx at = (g * count + channel * channel_size + k) * batch;
                T *restrict outputs = grad_input + at;
                EMBER_NAME(normalise_rows)(x + at, add, mean_column, inv_column, taken, batch, affine, weight, bias,
                                           x_hat, outputs);
                EMBER_NAME(silu_grad_pass)(grad + at, outputs, outputs, taken * batch);
                EMBER_NAME(chunk_sums)(outputs, x_hat, taken, batch, hat, products);
            }
            double weight_sum = 0.0, bias_sum = 0.0;
            for (idx n = 0; n < batch; n++) {
                weight_sum += products[n];
                bias_sum += hat[n];
                sum_hat[n] += hat[n] * weight_sums;
                sum_product[n] += products[n] * weight_sums;
            }
            grad_weight[c] = (T)weight_sum;
            grad_bias[c] = (T)bias_sum;
        }
        for (idx n = 0; n < batch; n++) {
            mean_hat[n] = (T)(sum_hat[n] / (double)count);
            mean_product[n] = (T)(sum_product[n] / (double)count);
        }
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = g * per_group + channel;
            const T weight = scale ? scale[c] : (T)1;
            const T *restrict add = input_shift ? input_shift + c * batch : NULL;
            for (idx n = 0; n < batch; n++)
                shift_sums[n] = 0.0;
            for (idx k = 0; k < channel_size; k += chunk_rows) {
                const idx taken = channel_size - k < chunk_rows ? channel_size - k : chunk_rows;
                const idx at = (g * count + channel * channel_size + k) * batch;
                T *restrict gradients = grad_input + at;
                const T *restrict rows = x + at;
                /* x_hat recomputed in registers, as normalise_rows computes it */
                for (idx row = 0; row < taken; row++)
#pragma omp simd
                    for (idx n = 0; n < batch; n++) {
                        const idx i = row * batch + n;
                        const T value = add ? (T)(rows[i] + add[n]) : rows[i];
                        const T normalised = (value - mean_column[n]) * inv_column[n];
                        gradients[i] = (((scale ? gradients[i] * weight : gradients[i]) - mean_hat[n])
                                        - normalised * mean_product[n]) * inv_column[n];
                    }
                if (grad_shift)
                    EMBER_NAME(chunk_totals)(gradients, taken, batch, shift_sums);
            }
            if (grad_shift)
                for (idx n = 0; n < batch; n++)
                    grad_shift[c * batch + n] = (T)shift_sums[n];
        }
    }
}
