/* Group norm followed by SiLU, silu(x_hat * scale + shift), as one kernel each way: the group-norm kernels of
 * group_norm.c a group at a time, with SiLU (silu.c's rational tanh) applied to the group's output while it
 * is still in cache, and in the backward pass SiLU's gradient taken on the group's output recomputed from
 * x_hat (the same operations as the forward pass, so the same numbers) before group norm's gradient. The
 * numbers are those of group_norm.c's kernels and silu.c's one after the other. Float only (compiled.py
 * refuses other types: the tanh is float's). A template over T (see ember_kernels.h). */

/* What group_norm_forward computes for groups start..stop-1 (the same arguments; x_hat may be NULL when x
 * and y are both batch inner), with `y` replaced by silu(y) in place, a group at a time. */
void EMBER_NAME(ember_group_norm_silu_forward)(const T *restrict x, idx groups, idx count, idx batch,
                                               idx channel_size, int input_batch_inner, int batch_inner,
                                               const T *restrict scale, const T *restrict shift, double eps,
                                               T *restrict x_hat, T *restrict y, T *restrict mean,
                                               T *restrict inv_std, double *restrict work, idx start, idx stop)
{
    for (idx g = start; g < stop; g++) {
        EMBER_NAME(ember_group_norm_forward)(x, groups, count, batch, channel_size, input_batch_inner, batch_inner,
                                             scale, shift, eps, x_hat, y, mean, inv_std, work, g, g + 1);
        /* the group's numbers: one run of count * batch (batch inner), else one run of count per sample */
        const idx runs = batch_inner ? 1 : batch, length = batch_inner ? count * batch : count;
        for (idx run = 0; run < runs; run++) {
            T *values = y + (batch_inner ? g * count * batch : (run * groups + g) * count);
            EMBER_NAME(silu_pass)(values, values, length);
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
                                                T *restrict grad_bias, double *restrict work, idx start, idx stop)
{
    const idx per_group = count / channel_size;
    const int affine = scale || shift;
    for (idx g = start; g < stop; g++) {
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
 * recomputed a group at a time from x and the forward pass's mean and inv_std ((batch, groups)) as the
 * forward pass computed it, into `scratch` (count * batch + 2 * batch numbers), so that the forward pass
 * need not keep it. */
void EMBER_NAME(ember_group_norm_silu_backward_from_x)(const T *restrict grad, const T *restrict x, idx groups,
                                                       idx count, idx batch, idx channel_size,
                                                       const T *restrict mean, const T *restrict inv_std,
                                                       const T *restrict scale, const T *restrict shift,
                                                       T *grad_input, T *restrict grad_weight,
                                                       T *restrict grad_bias, T *restrict scratch,
                                                       double *restrict work, idx start, idx stop)
{
    const idx per_group = count / channel_size, length = channel_size * batch;
    const int affine = scale || shift;
    T *restrict x_hat = scratch, *restrict inv_column = scratch + count * batch;
    T *restrict mean_column = inv_column + batch;
    for (idx g = start; g < stop; g++) {
        const idx offset = g * count * batch, first = g * per_group;
        for (idx n = 0; n < batch; n++) {
            mean_column[n] = mean[n * groups + g];
            inv_column[n] = inv_std[n * groups + g];
        }
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = first + channel, at = channel * length;
            const T weight = scale ? scale[c] : (T)1, bias = shift ? shift[c] : (T)0;
            const T *restrict rows = x + offset + at;
            T *restrict outputs = grad_input + offset + at;
            /* x_hat and the output as the forward pass computed them (no FMA here), then SiLU's gradient */
            for (idx k = 0; k < channel_size; k++)
#pragma omp simd
                for (idx n = 0; n < batch; n++) {
                    const T normalised = (rows[k * batch + n] - mean_column[n]) * inv_column[n];
                    x_hat[at + k * batch + n] = normalised;
                    outputs[k * batch + n] = affine ? normalised * weight + bias : normalised;
                }
            EMBER_NAME(silu_grad_pass)(grad + offset + at, outputs, outputs, length);
        }
        /* group norm's gradient of the group alone, as one group of its own */
        EMBER_NAME(ember_group_norm_backward)(grad_input + offset, x_hat, 1, count, batch, channel_size, 1,
                                              inv_column, scale ? scale + first : NULL, grad_input + offset,
                                              grad_weight + first, grad_bias + first, work, 0, 1);
    }
}
