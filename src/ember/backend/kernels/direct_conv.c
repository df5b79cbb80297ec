/* The direct convolutions' forward and input gradient on (C, H, W, N) memory, vectorized over the batch N:
 * no im2col matrix. A block of output channels (forward) or input channels (input gradient) by one to three
 * vectors of batch entries is summed in registers over every tap and channel that reaches it, then stored
 * once. A template over T (see ember_kernels.h). */

/* A register block of R rows (channels) by NV vectors of batch entries:
 * out[k * out_plane + m] = sum over t < count, c < channels of
 *     weights[(taps[t] * channels + c) * R + k] * source[offsets[t] + shift + c * plane + m]  (+ bias[k])
 * for k < rows <= R and m < NV * LANES; bias may be NULL. Summed tap by tap, each over every channel, or
 * `by_channel`, channel by channel, each over every tap (see conv_rows for which). */
#define EMBER_BLOCK(NAME, R, NV)                                                                          \
    EMBER_FUSED_FUNCTION                                                                                  \
    static void EMBER_NAME(NAME)(const T *source, idx plane, idx channels, const idx *offsets, idx shift, \
                                 const idx *taps, idx count, const T *weights, T *out, idx out_plane,    \
                                 idx rows, const T *bias, int by_channel)                                 \
    {                                                                                                     \
        EMBER_FUSED                                                                                       \
        V sums[R][NV];                                                                                    \
        _Pragma("GCC unroll 32") for (int k = 0; k < R; k++)                                             \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) sums[k][v] = (V){0};                    \
        for (idx c = 0; by_channel && c < channels; c++) {                                                \
            const T *channel = source + shift + c * plane;                                                \
            for (idx t = 0; t < count; t++) {                                                             \
                V values[NV];                                                                             \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                     \
                    values[v] = *(const V *)(channel + offsets[t] + v * LANES);                           \
                const T *w = weights + (taps[t] * channels + c) * (R);                                    \
                _Pragma("GCC unroll 32") for (int k = 0; k < R; k++)                                     \
                    _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) sums[k][v] += w[k] * values[v]; \
            }                                                                                             \
        }                                                                                                 \
        for (idx t = 0; !by_channel && t < count; t++) {                                                  \
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
EMBER_BLOCK(conv_block_single, 1, 4)     /* few channels (an image's): one at a time, four vectors wide */
EMBER_BLOCK(conv_block_single_one, 1, 1)
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
 * three vectors; 1: four vectors), for the `lanes` batch entries from `shift` on (at most the block's
 * width). */
static void EMBER_NAME(conv_position)(const T *source, idx plane, idx channels, const idx *offsets, idx shift,
                                      const idx *taps, idx count, const T *packed, idx depth, T *out,
                                      idx out_plane, idx total, idx height, idx lanes, const T *all_bias,
                                      int by_channel)
{
    for (idx block = 0; block * height < total; block++) {
        const T *weights = packed + block * depth * height;
        const T *bias = all_bias ? all_bias + block * height : NULL;
        T *first = out + block * height * out_plane;
        idx rows = total - block * height < height ? total - block * height : height;
        idx done = 0;
        if (height == EMBER_ROWS / 2 && lanes == 2 * LANES) {
            EMBER_NAME(conv_block_half)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                        out_plane, rows, bias, by_channel);
            continue;
        }
        if (height == EMBER_ROWS / 3 && lanes == 3 * LANES) {
            EMBER_NAME(conv_block_third)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                         out_plane, rows, bias, by_channel);
            continue;
        }
        if (height == 1 && lanes == 4 * LANES) {
            EMBER_NAME(conv_block_single)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                          out_plane, rows, bias, by_channel);
            continue;
        }
        if (height == EMBER_ROWS / 3 && lanes == 2 * LANES) {
            EMBER_NAME(conv_block_third_two)(source, plane, channels, offsets, shift, taps, count, weights, first,
                                             out_plane, rows, bias, by_channel);
            continue;
        }
        for (; done + LANES <= lanes; done += LANES) {
            if (height == EMBER_ROWS)
                EMBER_NAME(conv_block_full)(source, plane, channels, offsets, shift + done, taps, count, weights,
                                            first + done, out_plane, rows, bias, by_channel);
            else if (height == EMBER_ROWS / 2)
                EMBER_NAME(conv_block_half_one)(source, plane, channels, offsets, shift + done, taps, count,
                                                weights, first + done, out_plane, rows, bias, by_channel);
            else if (height == 1)
                EMBER_NAME(conv_block_single_one)(source, plane, channels, offsets, shift + done, taps, count,
                                                  weights, first + done, out_plane, rows, bias, by_channel);
            else
                EMBER_NAME(conv_block_third_one)(source, plane, channels, offsets, shift + done, taps, count,
                                                 weights, first + done, out_plane, rows, bias, by_channel);
        }
        if (done < lanes)
            EMBER_NAME(conv_block_tail)(source, plane, channels, offsets, shift + done, taps, count, weights,
                                        first + done, out_plane, rows, height, lanes - done, bias);
    }
}

/* The batch entries one block covers at once for blocks of `height` rows: the widest the registers allow,
 * except that blocks a third high take two vectors when that divides the batch and three do not (64 = 2 x 32,
 * not 48 + a slower 16), and blocks of one row four vectors. */
static idx EMBER_NAME(conv_width)(idx height, idx batch)
{
    if (height == 1)
        return 4 * LANES;
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

/* The taps that reach target position (r, q) from inside `source`: for each, its offset in a channel plane
 * of the source, offsets[count], and its index i*kw + j, taps[count]; returns the count. Offsets go up (the
 * transposed convolution's taps last to first), so that a block summing channel by channel reads each
 * channel's taps in memory order. */
static inline idx EMBER_NAME(conv_taps)(idx r, idx q, const struct ember_window *window,
                                        const struct ember_image *source, int transposed, idx *offsets, idx *taps)
{
    const idx kh = window->kh, kw = window->kw, sh = window->sh, sw = window->sw, dh = window->dh;
    const idx dw = window->dw, top = window->top, left = window->left;
    const idx source_h = source->height, source_w = source->width, batch = source->batch;
    idx count = 0;
    for (idx a = 0; a < kh; a++) {
        const idx i = transposed ? kh - 1 - a : a;
        idx row = EMBER_NAME(conv_source)(r, i, sh, dh, top, source_h, transposed);
        if (row < 0)
            continue;
        for (idx b = 0; b < kw; b++) {
            const idx j = transposed ? kw - 1 - b : b;
            idx column = EMBER_NAME(conv_source)(q, j, sw, dw, left, source_w, transposed);
            if (column < 0)
                continue;
            offsets[count] = (row * source_w + column) * batch;
            taps[count++] = i * kw + j;
        }
    }
    return count;
}

/* The next units this thread does, *begin..*until-1 of first..end-1: without a counter all of them (once),
 * else the next range->piece units taken from the shared counter; 0 when none is left. */
static inline int EMBER_NAME(next_piece)(const struct ember_range *range, idx first, idx end, idx *begin,
                                         idx *until)
{
    if (range->counter) {
        *begin = first + __atomic_fetch_add(range->counter, range->piece, __ATOMIC_RELAXED);
        *until = *begin + range->piece < end ? *begin + range->piece : end;
    } else
        *until = end;
    return *begin < end;
}

/* Rows range->start..stop-1 of a direct convolution's result `target` (C-contiguous (produced, target_h,
 * target_w, N)) from `source` (C-contiguous (summed, source_h, source_w, N)): for each target position, the
 * list of taps that reach it, then every block of channels. The forward's source row for output row r and
 * tap i is r*sh + i*dh - top; the transposed convolution's is (r + top - i*dh) / sh where that divides.
 * The work is a list of units (row r, a block's width of batch entries from n, column q), in that order;
 * without a counter this call does all units of the rows, else it takes range->piece units at a time from
 * the shared counter until none is left, so that threads calling at once share them out by speed. Each
 * number of `target` is written by one unit, so who did which gives the same result. */
static void EMBER_NAME(conv_rows)(const struct ember_image *source, const T *packed, idx block_height,
                                  const T *bias, const struct ember_window *window,
                                  const struct ember_image *target, const struct ember_range *range,
                                  int transposed)
{
    const T *const from = source->data;
    T *const to = target->data;
    const idx summed = source->channels, batch = source->batch, produced = target->channels;
    const idx depth = window->kh * window->kw * summed, plane = source->height * source->width * batch;
    const idx target_w = target->width, target_plane = target->height * target_w * batch;
    const idx step = EMBER_NAME(conv_width)(block_height, batch);
    const idx chunks = (batch + step - 1) / step, per_row = chunks * target_w;  /* units per row */
    const idx first = range->start * per_row, end = range->stop * per_row;
    /* channels a multiple of EMBER_CACHE_WAY_BYTES apart: blocks sum channel by channel */
    const int by_channel = plane * (idx)sizeof(T) % EMBER_CACHE_WAY_BYTES == 0;
    idx offsets[EMBER_MAX_TAPS * EMBER_MAX_TAPS], taps[EMBER_MAX_TAPS * EMBER_MAX_TAPS];
    for (idx begin = first, until; EMBER_NAME(next_piece)(range, first, end, &begin, &until); begin = until)
        for (idx unit = begin; unit < until; unit++) {
            const idx r = unit / per_row, n = (unit % per_row) / target_w * step, q = unit % target_w;
            const idx count = EMBER_NAME(conv_taps)(r, q, window, source, transposed, offsets, taps);
            EMBER_NAME(conv_position)(from, plane, summed, offsets, n, taps, count, packed, depth,
                                      to + (r * target_w + q) * batch + n, target_plane, produced,
                                      block_height, batch - n < step ? batch - n : step, bias, by_channel);
        }
}

/* y[o, r, q, n] = sum over c, i, j of w[o, c, i, j] * x[c, r*sh + i*dh - top, q*sw + j*dw - left, n]
 * (zero outside x) + bias[o] (no bias when NULL), for output rows r in range->start..stop-1, shared as
 * conv_rows says. x: C-contiguous (C, H, W, N); y: C-contiguous (C_out, out_h, out_w, N);
 * kh, kw <= EMBER_MAX_TAPS. packed: w in blocks of `height` output channels (ember_conv_rows() / 1, 2 or 3),
 * (ceil(C_out/height), kh*kw*C, height): [b][(i*kw + j)*C + c][k] = w[b*height + k, c, i, j], zero past
 * C_out. */
void EMBER_NAME(ember_conv_forward)(const struct ember_image *x, const T *packed, idx block_height,
                                    const T *bias, const struct ember_window *window, const struct ember_image *y,
                                    const struct ember_range *range)
{
    EMBER_NAME(conv_rows)(x, packed, block_height, bias, window, y, range, 0);
}

/* The transposed convolution (the input gradient), gathered: for input rows r in range->start..stop-1,
 * dx[c, r, q, n] = sum over o and the taps (i, j) that reach (r, q) from an output position (p, s)
 * (r = p*sh + i*dh - top, q = s*sw + j*dw - left) of w[o, c, i, j] * g[o, p, s, n], shared as conv_rows
 * says. g: C-contiguous (C_out, out_h, out_w, N); dx: C-contiguous (C, H, W, N), every number written once;
 * kh, kw <= EMBER_MAX_TAPS. packed: w in blocks of `height` input channels, (ceil(C/height), kh*kw*C_out,
 * height): [b][(i*kw + j)*C_out + o][k] = w[o, b*height + k, i, j], zero past C. */
void EMBER_NAME(ember_conv_input_grad)(const struct ember_image *g, const T *packed, idx block_height,
                                       const struct ember_window *window, const struct ember_image *dx,
                                       const struct ember_range *range)
{
    EMBER_NAME(conv_rows)(g, packed, block_height, NULL, window, dx, range, 1);
}
