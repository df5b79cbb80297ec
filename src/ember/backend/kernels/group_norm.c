/* Group norm's forward and backward, a group at a time, on the two memory orders a batch of feature maps
 * takes: (C, H, W, N), the convolutions' (the batch innermost), and (N, C, H, W). The statistics' sums in
 * double; the gradient's (batch inner) in T over chunks of at most EMBER_GROUP_CHUNK_ROWS rows, then in
 * double; the elementwise passes in T, as the NumPy path's. A template over T (see ember_kernels.h).
 *
 * Numbers are indexed by (group g, position k in the group, sample n): with `batch_inner` a C-contiguous
 * (groups, count, batch) array, else a C-contiguous (batch, groups, count) one. Position k of group g is in
 * channel g * (count / channel_size) + k / channel_size. Statistics (mean, inv_std) are (batch, groups)
 * C-contiguous arrays. Calls for disjoint group ranges may run at once: each writes only its groups' numbers
 * and its groups' channels of the weight and bias gradients. */

/* Batch entries summed at once in registers by the statistics' pass over a group's (count, batch) rows: the
 * sums of a block stay in vector registers over all the rows, not in memory. A whole row of a batch of 64
 * with AVX-512 (16 of its 32 registers of doubles), so that the pass reads the group once: in blocks of 32
 * it read every row twice, half a row at a time, a group larger than L2 twice from memory (64x96x28x28
 * GroupNormSiLU forward, one thread: 2.9-3.0 -> 2.1-2.6 ms). Then blocks of EMBER_GROUP_BLOCK_SMALL for
 * what is left of the batch. */
#if EMBER_VECTOR_BYTES >= 64
#define EMBER_GROUP_BLOCK 64
#else
#define EMBER_GROUP_BLOCK 32
#endif
#define EMBER_GROUP_BLOCK_SMALL 16

/* Inlined wherever called, so that each call's constant block width gives loops of known length whose sums
 * stay in registers. */
#if defined(__GNUC__) || defined(__clang__)
#define EMBER_GROUP_INLINE static inline __attribute__((always_inline))
#else
#define EMBER_GROUP_INLINE static inline
#endif

/* The sums of samples n0..n0+width-1 (width a constant where it is inlined) over the rows k < count. */
EMBER_GROUP_INLINE void EMBER_NAME(group_sums_block)(const T *restrict rows, idx count, idx batch, idx n0, idx width,
                                                double *restrict sums, double *restrict squares)
{
    double block_sums[EMBER_GROUP_BLOCK] = {0}, block_squares[EMBER_GROUP_BLOCK] = {0};
    for (idx k = 0; k < count; k++) {
        const T *restrict row = rows + k * batch + n0;
#pragma omp simd
        for (idx j = 0; j < width; j++) {
            const double value = row[j];
            block_sums[j] += value;
            block_squares[j] += value * value;
        }
    }
    for (idx j = 0; j < width; j++) {
        sums[n0 + j] += block_sums[j];
        squares[n0 + j] += block_squares[j];
    }
}

/* group_sums_block of x + shift: channel by channel, so that each row finds its shifts without a
 * division. */
EMBER_GROUP_INLINE void EMBER_NAME(shifted_sums_block)(const T *restrict rows, const T *restrict shift, idx count,
                                                  idx batch, idx channel_size, idx n0, idx width,
                                                  double *restrict sums, double *restrict squares)
{
    double block_sums[EMBER_GROUP_BLOCK] = {0}, block_squares[EMBER_GROUP_BLOCK] = {0};
    for (idx first = 0; first < count; first += channel_size) {
        const T *restrict add = shift + (first / channel_size) * batch + n0;
        for (idx k = first; k < first + channel_size; k++) {
            const T *restrict row = rows + k * batch + n0;
#pragma omp simd
            for (idx j = 0; j < width; j++) {
                const double value = (T)(row[j] + add[j]);
                block_sums[j] += value;
                block_squares[j] += value * value;
            }
        }
    }
    for (idx j = 0; j < width; j++) {
        sums[n0 + j] += block_sums[j];
        squares[n0 + j] += block_squares[j];
    }
}

/* sums[n] += x and squares[n] += x * x over the rows k < count, x = rows[k * batch + n] (plus
 * shift[(k / channel_size) * batch + n], rounded to T, where shift is not NULL), in double, for n < batch:
 * blocks of samples at a time, each summed in k order. */
static void EMBER_NAME(shifted_sums)(const T *restrict rows, const T *restrict shift, idx count, idx batch,
                                     idx channel_size, double *restrict sums, double *restrict squares)
{
    idx n0 = 0;
    for (; n0 + EMBER_GROUP_BLOCK <= batch; n0 += EMBER_GROUP_BLOCK)
        if (shift)
            EMBER_NAME(shifted_sums_block)(rows, shift, count, batch, channel_size, n0, EMBER_GROUP_BLOCK, sums,
                                           squares);
        else
            EMBER_NAME(group_sums_block)(rows, count, batch, n0, EMBER_GROUP_BLOCK, sums, squares);
    for (; n0 + EMBER_GROUP_BLOCK_SMALL <= batch; n0 += EMBER_GROUP_BLOCK_SMALL)
        if (shift)
            EMBER_NAME(shifted_sums_block)(rows, shift, count, batch, channel_size, n0, EMBER_GROUP_BLOCK_SMALL,
                                           sums, squares);
        else
            EMBER_NAME(group_sums_block)(rows, count, batch, n0, EMBER_GROUP_BLOCK_SMALL, sums, squares);
    for (idx k = 0; n0 < batch && k < count; k++) {
        const T *restrict add = shift ? shift + (k / channel_size) * batch : NULL;
        for (idx n = n0; n < batch; n++) {
            const double value = add ? (T)(rows[k * batch + n] + add[n]) : rows[k * batch + n];
            sums[n] += value;
            squares[n] += value * value;
        }
    }
}

/* shifted_sums without a shift. */
static void EMBER_NAME(group_sums)(const T *restrict rows, idx count, idx batch, double *restrict sums,
                                   double *restrict squares)
{
    EMBER_NAME(shifted_sums)(rows, NULL, count, batch, 1, sums, squares);
}

/* Per sample n of groups start..stop-1: mean, inv_std = 1/sqrt(biased variance + eps) (two passes: the
 * mean, then the squares about it), x_hat = (x - mean) * inv_std and y = x_hat * scale[c] + shift[c]
 * (scale and shift NULL: y = x_hat). x is laid out as `input_batch_inner` says, x_hat and y as `batch_inner`
 * says (batch-inner outputs from a batch-outer x: the layout copy a convolution after it would make); x_hat
 * may be NULL (not written) when both are batch inner. `work` holds 5 * batch doubles. */
void EMBER_NAME(ember_group_norm_forward)(const T *restrict x, idx groups, idx count, idx batch, idx channel_size,
                                          int input_batch_inner, int batch_inner, const T *restrict scale,
                                          const T *restrict shift,
                                          double eps, T *restrict x_hat, T *restrict y, T *restrict mean,
                                          T *restrict inv_std, double *restrict work, idx start, idx stop)
{
    double *restrict total = work, *restrict squares = work + batch;
    T *restrict centre_t = (T *)(work + 2 * batch), *restrict inv_t = (T *)(work + 3 * batch);
    const idx per_group = count / channel_size;
    const int affine = scale || shift;
    for (idx g = start; g < stop; g++) {
        for (idx n = 0; n < batch; n++)
            total[n] = squares[n] = 0.0;
        if (input_batch_inner && sizeof(T) == sizeof(float)) {
            /* float: one pass for the sum and the sum of squares, in double: with 53 bits for 24, the
             * difference of E[x^2] and E[x]^2 keeps float's precision unless |mean| > 1e4 * std */
            const T *restrict rows = x + g * count * batch;
            EMBER_NAME(group_sums)(rows, count, batch, total, squares);
            for (idx n = 0; n < batch; n++) {
                total[n] /= (double)count;
                squares[n] = squares[n] - total[n] * total[n] * (double)count;
                squares[n] = squares[n] > 0.0 ? squares[n] : 0.0;
            }
        } else if (input_batch_inner) {
            const T *restrict rows = x + g * count * batch;
            for (idx k = 0; k < count; k++)
#pragma omp simd
                for (idx n = 0; n < batch; n++)
                    total[n] += rows[k * batch + n];
            for (idx n = 0; n < batch; n++)
                total[n] /= (double)count;
            for (idx k = 0; k < count; k++)
#pragma omp simd
                for (idx n = 0; n < batch; n++) {
                    double difference = rows[k * batch + n] - total[n];
                    squares[n] += difference * difference;
                }
        } else {
            for (idx n = 0; n < batch; n++) {
                const T *restrict values = x + (n * groups + g) * count;
                double sum = 0.0, sum_squares = 0.0;
#pragma omp simd reduction(+ : sum)
                for (idx k = 0; k < count; k++)
                    sum += values[k];
                const double centre = sum / (double)count;
#pragma omp simd reduction(+ : sum_squares)
                for (idx k = 0; k < count; k++) {
                    double difference = values[k] - centre;
                    sum_squares += difference * difference;
                }
                total[n] = centre;
                squares[n] = sum_squares;
            }
        }
        for (idx n = 0; n < batch; n++) {
            centre_t[n] = mean[n * groups + g] = (T)total[n];
            inv_t[n] = inv_std[n * groups + g] = (T)(1.0 / sqrt(squares[n] / (double)count + eps));
        }
        /* the elementwise pass in the arrays' precision, as the NumPy path, in the order of the outputs */
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = g * per_group + channel;
            const T weight = scale ? scale[c] : (T)1, bias = shift ? shift[c] : (T)0;
            const idx first = channel * channel_size, last = first + channel_size;
            if (batch_inner && input_batch_inner && !x_hat) {  /* x_hat not kept (group_norm_silu.c) */
                for (idx k = first; k < last; k++) {
                    const idx at = (g * count + k) * batch;
#pragma omp simd
                    for (idx n = 0; n < batch; n++) {
                        const T normalised = (x[at + n] - centre_t[n]) * inv_t[n];
                        y[at + n] = affine ? normalised * weight + bias : normalised;
                    }
                }
            } else if (batch_inner && input_batch_inner) {
                for (idx k = first; k < last; k++) {
                    const idx at = (g * count + k) * batch;
#pragma omp simd
                    for (idx n = 0; n < batch; n++) {
                        const T normalised = (x[at + n] - centre_t[n]) * inv_t[n];
                        x_hat[at + n] = normalised;
                        y[at + n] = affine ? normalised * weight + bias : normalised;
                    }
                }
            } else if (batch_inner) {  /* the layout copy: x's samples groups * count numbers apart */
                const T *restrict source = x + g * count;
                const idx step = groups * count;
                for (idx k = first; k < last; k++) {
                    const idx at = (g * count + k) * batch;
                    for (idx n = 0; n < batch; n++) {
                        const T normalised = (source[n * step + k] - centre_t[n]) * inv_t[n];
                        x_hat[at + n] = normalised;
                        y[at + n] = affine ? normalised * weight + bias : normalised;
                    }
                }
            } else {
                for (idx n = 0; n < batch; n++) {
                    const T centre = centre_t[n], inv = inv_t[n];
                    const idx at = (n * groups + g) * count;
#pragma omp simd
                    for (idx k = first; k < last; k++) {
                        const T normalised = (x[at + k] - centre) * inv;
                        x_hat[at + k] = normalised;
                        y[at + k] = affine ? normalised * weight + bias : normalised;
                    }
                }
            }
        }
    }
}

/* The group a thread does after `group` (start - 1 before its first): the next one without a counter, else
 * the next one taken from the counter that the threads calling at once share (at zero before the call), so
 * that they share the groups start..stop-1 out by speed; stop or beyond when none is left. */
static inline idx EMBER_NAME(group_after)(idx *counter, idx group, idx start)
{
    return counter ? start + __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED) : group + 1;
}

/* Numbers of a channel taken at once by the passes of the gradient (and group_norm_silu.c's fused passes):
 * EMBER_GROUP_CHUNK numbers (4 KB of float), whole rows of `batch`, at most EMBER_GROUP_CHUNK_ROWS rows, so
 * that what one step of a pass writes is in L1 when the next reads it. */
#define EMBER_GROUP_CHUNK 1024
#define EMBER_GROUP_CHUNK_ROWS 32

static inline idx EMBER_NAME(group_chunk_rows)(idx batch)
{
    const idx rows = batch < EMBER_GROUP_CHUNK ? EMBER_GROUP_CHUNK / batch : 1;
    return rows < EMBER_GROUP_CHUNK_ROWS ? rows : EMBER_GROUP_CHUNK_ROWS;
}

/* The gradient's sums over one chunk of `rows` rows of `batch` samples (batch inner): per sample n,
 * hat[n] += sum of grad and products[n] += sum of grad * x_hat over the rows. Blocked: each chunk's sums in
 * T (at most EMBER_GROUP_CHUNK_ROWS numbers each, EMBER_GROUP_LANES samples at a time in registers), then
 * added to the double totals, so a float sum's rounding error grows with the chunk's length alone, not
 * with the channel's (tests/backend/test_group_norm_kernels.py measures it against float64). */
#define EMBER_GROUP_LANES 64

static inline void EMBER_NAME(chunk_sums)(const T *restrict grad, const T *restrict x_hat, idx rows, idx batch,
                                          double *restrict hat, double *restrict products)
{
    idx n0 = 0;
    for (; n0 + EMBER_GROUP_LANES <= batch; n0 += EMBER_GROUP_LANES) {
        T block_hat[EMBER_GROUP_LANES] = {0}, block_products[EMBER_GROUP_LANES] = {0};
        for (idx k = 0; k < rows; k++) {
            const T *restrict grads = grad + k * batch + n0, *restrict hats = x_hat + k * batch + n0;
#pragma omp simd
            for (idx j = 0; j < EMBER_GROUP_LANES; j++) {
                block_hat[j] += grads[j];
                block_products[j] += grads[j] * hats[j];
            }
        }
        for (idx j = 0; j < EMBER_GROUP_LANES; j++) {
            hat[n0 + j] += block_hat[j];
            products[n0 + j] += block_products[j];
        }
    }
    for (idx n = n0; n < batch; n++) {
        T sum = 0, product_sum = 0;
        for (idx k = 0; k < rows; k++) {
            sum += grad[k * batch + n];
            product_sum += grad[k * batch + n] * x_hat[k * batch + n];
        }
        hat[n] += sum;
        products[n] += product_sum;
    }
}

/* sums[n] += the sum of values over a chunk's `rows` rows, blocked as chunk_sums. */
static inline void EMBER_NAME(chunk_totals)(const T *restrict values, idx rows, idx batch, double *restrict sums)
{
    idx n0 = 0;
    for (; n0 + EMBER_GROUP_LANES <= batch; n0 += EMBER_GROUP_LANES) {
        T block[EMBER_GROUP_LANES] = {0};
        for (idx k = 0; k < rows; k++)
#pragma omp simd
            for (idx j = 0; j < EMBER_GROUP_LANES; j++)
                block[j] += values[k * batch + n0 + j];
        for (idx j = 0; j < EMBER_GROUP_LANES; j++)
            sums[n0 + j] += block[j];
    }
    for (idx n = n0; n < batch; n++) {
        T sum = 0;
        for (idx k = 0; k < rows; k++)
            sum += values[k * batch + n];
        sums[n] += sum;
    }
}

/* One number of the gradient: ((gh - mean_hat) - x_hat * mean_product) * inv, gh = grad * weight (grad
 * alone without a scale), in T as the NumPy path. */
#define EMBER_GROUP_GRAD(at, n)                                                                          \
    grad_input[at] = (((scale ? grad[at] * weight : grad[at]) - mean_hat[n]) - x_hat[at] * mean_product[n]) \
                     * inv_t[n]

/* The closed-form gradient for groups start..stop-1, with gh = grad * scale[c] (grad when scale is NULL):
 * grad_input = ((gh - mean_k(gh)) - x_hat * mean_k(gh * x_hat)) * inv_std per sample, and per channel
 * grad_weight = sum(grad * x_hat), grad_bias = sum(grad) over samples and positions. `work` holds
 * 7 * batch doubles. grad_input may be grad itself (each number is read before it is written, in the same
 * vector lane): group_norm_silu.c takes the gradient in place. */
void EMBER_NAME(ember_group_norm_backward)(const T *grad, const T *restrict x_hat, idx groups, idx count,
                                           idx batch, idx channel_size, int batch_inner, const T *restrict inv_std,
                                           const T *restrict scale, T *grad_input,
                                           T *restrict grad_weight, T *restrict grad_bias,
                                           double *restrict work, idx start, idx stop)
{
    double *restrict sum_hat = work, *restrict sum_product = work + batch;
    T *restrict mean_hat = (T *)(work + 2 * batch), *restrict mean_product = (T *)(work + 3 * batch);
    T *restrict inv_t = (T *)(work + 4 * batch);
    double *restrict hat = work + 5 * batch, *restrict products = work + 6 * batch;
    const idx per_group = count / channel_size;
    for (idx g = start; g < stop; g++) {
        for (idx n = 0; n < batch; n++)
            sum_hat[n] = sum_product[n] = 0.0;
        for (idx channel = 0; channel < per_group; channel++) {
            const idx c = g * per_group + channel;
            const double weight = scale ? (double)scale[c] : 1.0;
            const idx first = channel * channel_size, last = first + channel_size;
            double weight_sum = 0.0, bias_sum = 0.0;
            if (batch_inner) {
                /* per sample, the channel's sums over its positions a chunk at a time, then as in the other
                 * order */
                const idx at = (g * count + first) * batch, chunk_rows = EMBER_NAME(group_chunk_rows)(batch);
                for (idx n = 0; n < batch; n++)
                    hat[n] = products[n] = 0.0;
                for (idx k = 0; k < channel_size; k += chunk_rows) {
                    const idx rows = channel_size - k < chunk_rows ? channel_size - k : chunk_rows;
                    EMBER_NAME(chunk_sums)(grad + at + k * batch, x_hat + at + k * batch, rows, batch, hat,
                                           products);
                }
                for (idx n = 0; n < batch; n++) {
                    weight_sum += products[n];
                    bias_sum += hat[n];
                    sum_hat[n] += hat[n] * weight;
                    sum_product[n] += products[n] * weight;
                }
            } else {
                for (idx n = 0; n < batch; n++) {
                    const idx at = (n * groups + g) * count;
                    double hat = 0.0, products = 0.0;
#pragma omp simd reduction(+ : hat, products)
                    for (idx k = first; k < last; k++) {
                        const double value = grad[at + k];
                        hat += value;
                        products += value * x_hat[at + k];
                    }
                    weight_sum += products;
                    bias_sum += hat;
                    sum_hat[n] += hat * weight;
                    sum_product[n] += products * weight;
                }
            }
            grad_weight[c] = (T)weight_sum;
            grad_bias[c] = (T)bias_sum;
        }
        for (idx n = 0; n < batch; n++) {
            mean_hat[n] = (T)(sum_hat[n] / (double)count);
            mean_product[n] = (T)(sum_product[n] / (double)count);
            inv_t[n] = inv_std[n * groups + g];
        }
        for (idx channel = 0; channel < per_group; channel++) {
            const T weight = scale ? scale[g * per_group + channel] : (T)1;
            const idx first = channel * channel_size, last = first + channel_size;
            if (batch_inner) {
                for (idx k = first; k < last; k++) {
                    const idx at = (g * count + k) * batch;
#pragma omp simd
                    for (idx n = 0; n < batch; n++)
                        EMBER_GROUP_GRAD(at + n, n);
                }
            } else {
                for (idx n = 0; n < batch; n++) {
                    const idx at = (n * groups + g) * count;
#pragma omp simd
                    for (idx k = first; k < last; k++)
                        EMBER_GROUP_GRAD(at + k, n);
                }
            }
        }
    }
}
#undef EMBER_GROUP_GRAD
