/* The direct convolutions' weight gradient on (C, H, W, N) memory: register tiles of output channels by
 * input channels (or by tap columns, for layers with one or two input channels) summed in vectors over the
 * batch and over every output position of a tap. A template over T (see ember_kernels.h).
 */

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

/* The weight gradient of output rows range->start..stop-1, as in weight_rows (output rows summed
 * split->group at a time by one tile, output channels split->chunk_out at a time per group). With
 * range->counter NULL it is added onto grad_weight (C_out, C, kh, kw). Else the work is cut into pieces:
 * split->ranges ranges of rows (range r: rows start + (stop-start)*r/ranges up to the next) by parts of
 * split->part_out output channels; this call takes pieces from the shared counter (atomically) until none
 * is left and writes (not adds) each into range r's own partial, grad_weight + r * C_out*C*kh*kw, so that
 * threads calling at once share the pieces out by speed and the caller adds the partials in order: the same
 * numbers whoever did which (range->piece unused). */
void EMBER_NAME(ember_conv_weight_grad)(const struct ember_image *image, const struct ember_image *gradient,
                                        const struct ember_window *window, T *grad_weight,
                                        const struct ember_weight_split *split, const struct ember_range *range)
{
    const T *x = image->data, *g = gradient->data;
    const idx channels = image->channels, height = image->height, width = image->width, batch = image->batch;
    const idx out_channels = gradient->channels, out_h = gradient->height, out_w = gradient->width;
    const idx kh = window->kh, kw = window->kw, sh = window->sh, sw = window->sw, dh = window->dh;
    const idx dw = window->dw, top = window->top, left = window->left, start = range->start, stop = range->stop;
    const idx ranges = split->ranges;
    idx *const counter = range->counter;
    idx chunk_out = split->chunk_out, group = split->group, part_out = split->part_out;
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
        const idx piece_range = k / parts, o_first = k % parts * part_out;
        const idx o_last = o_first + part_out < out_channels ? o_first + part_out : out_channels;
        T *partial = grad_weight + piece_range * out_channels * per_out;
        memset(partial + o_first * per_out, 0, (size_t)((o_last - o_first) * per_out) * sizeof(T));
        EMBER_NAME(weight_rows)(x, channels, height, width, batch, g, out_channels, out_h, out_w, kh, kw, sh, sw,
                                dh, dw, top, left, partial, o_first, o_last, chunk_out, group,
                                start + (stop - start) * piece_range / ranges,
                                start + (stop - start) * (piece_range + 1) / ranges);
    }
}
