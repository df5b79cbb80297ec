/* The direct convolutions' weight gradient on (C, H, W, N) memory: register tiles of output channels by
 * input channels (or by tap columns, for layers with one or two input channels) summed in vectors over the
 * batch and over every output position of a tap; for kernels 3 wide with wide enough rows (see
 * EMBER_PAIRS_MIN_WIDTH), tiles of output channels by pairs of input channels by the 3 tap columns; with
 * AVX-512, for kernels 3 wide at column stride 1 or 2 (dilation 1), window tiles of the same shape that
 * keep the input columns of their 3 taps in registers along each row (see EMBER_WINDOW_TILES). A template
 * over T (see ember_kernels.h).
 *
 * From the inside out: a tile (weight_tile..., weight_window...) sums one tap's products (or a tap row's) for
 * its channels over a band of rows and columns; weight_tiles picks the tiles for a row of output channels;
 * weight_by_channels, weight_by_tap_columns, weight_by_pairs and weight_by_windows lay those rows over one
 * tap row's input channels and tap columns; weight_rows (weight_rows_windows) goes over the output rows in
 * groups and the tap rows; weight_pieces shares ranges of rows by parts of the output channels between
 * threads. */

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

/* A weight-gradient tile: RO output channels by RC input channels by RJ tap columns of one tap row, for the
 * output columns every one of its taps reaches,
 * dw[o * dw_o + c * dw_c + j] += sum over r < rows, s < count, n < batch of
 *     g[o * out_plane + r * g_row + s * batch + n] * x[c * plane + j * tap + r * x_row + s * step + n],
 * summed in vectors over n and added up once at the end (several rows make that rarer). With RJ > 1 each
 * gradient vector loaded serves RC*RJ sums (3x3 kernels: 4 x 2 x 3, 24 sums for 4 gradient and 6 input
 * vectors, against 20 for 9 loads tap by tap). Positions are stepped by pointers, without a division each:
 * at a batch of 64 (4 vectors) that made the tiles 6-13% slower. */
#define EMBER_WEIGHT_TAPS_TILE(NAME, RO, RC, RJ)                                                           \
    EMBER_FUSED_FUNCTION                                                                                   \
    static void EMBER_NAME(NAME)(const T *x, idx plane, idx tap, idx step, const T *g, idx out_plane,     \
                                 idx count, idx batch, T *dw, idx dw_o, idx dw_c, idx rows, idx x_row,     \
                                 idx g_row)                                                                \
    {                                                                                                      \
        EMBER_FUSED                                                                                        \
        V sums[RO][RC][RJ];                                                                                \
        T totals[RO][RC][RJ];                                                                              \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                              \
            _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < RJ; j++) {                                    \
                    sums[o][c][j] = (V){0};                                                                \
                    totals[o][c][j] = 0;                                                                   \
                }                                                                                          \
        const idx vectors = batch - batch % LANES;                                                         \
        for (idx r = 0; r < rows; r++) {                                                                   \
            const T *gs = g + r * g_row, *const g_end = gs + count * batch;                                \
            for (const T *xs = x + r * x_row; gs < g_end; xs += step, gs += batch)                         \
                for (idx n = 0; n < vectors; n += LANES) {                                                 \
                    V grads[RO];                                                                           \
                    _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                  \
                        grads[o] = *(const V *)(gs + o * out_plane + n);                                   \
                    _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                  \
                        _Pragma("GCC unroll 8") for (int j = 0; j < RJ; j++) {                            \
                            V value = *(const V *)(xs + c * plane + j * tap + n);                          \
                            EMBER_IN_REGISTER(value);                                                      \
                            _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                          \
                                sums[o][c][j] += grads[o] * value;                                         \
                        }                                                                                  \
                }                                                                                          \
        }                                                                                                  \
        for (idx at = 0; vectors < batch && at < rows * count; at++) {                                     \
            const idx r = at / count, s = at % count;                                                      \
            const T *xs = x + r * x_row + s * step, *gs = g + r * g_row + s * batch;                       \
            for (idx n = vectors; n < batch; n++)                                                          \
                for (int c = 0; c < RC; c++)                                                               \
                    for (int j = 0; j < RJ; j++)                                                           \
                        for (int o = 0; o < RO; o++)                                                       \
                            totals[o][c][j] += gs[o * out_plane + n] * xs[c * plane + j * tap + n];        \
        }                                                                                                  \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                              \
            _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < RJ; j++)                                      \
                    totals[o][c][j] += EMBER_NAME(total)(sums[o][c][j]);                                   \
        for (int o = 0; o < RO; o++)                                                                       \
            for (int c = 0; c < RC; c++)                                                                   \
                for (int j = 0; j < RJ; j++)                                                               \
                    dw[o * dw_o + c * dw_c + j] += totals[o][c][j];                                        \
    }

/* A weight-gradient tile of one tap (EMBER_WEIGHT_TAPS_TILE with one tap column). */
#define EMBER_WEIGHT_TILE(NAME, RO, RC)                                                                    \
    EMBER_WEIGHT_TAPS_TILE(NAME##_of_taps, RO, RC, 1)                                                      \
    static void EMBER_NAME(NAME)(const T *x, idx plane, idx step, const T *g, idx out_plane, idx count,   \
                                 idx batch, T *dw, idx dw_o, idx dw_c, idx rows, idx x_row, idx g_row)     \
    {                                                                                                      \
        EMBER_NAME(NAME##_of_taps)(x, plane, 0, step, g, out_plane, count, batch, dw, dw_o, dw_c, rows,    \
                                   x_row, g_row);                                                          \
    }
EMBER_WEIGHT_TILE(weight_tile, EMBER_TILE_OUT, EMBER_TILE_IN)
EMBER_WEIGHT_TILE(weight_tile_in, 1, EMBER_TILE_IN)
EMBER_WEIGHT_TILE(weight_tile_three, EMBER_TILE_OUT, 3) /* input channels left over, or a layer with few */
EMBER_WEIGHT_TILE(weight_tile_three_one, 1, 3)
EMBER_WEIGHT_TILE(weight_tile_column, 8, 1)              /* one input channel: 8 sums keep the FMAs busy */
EMBER_WEIGHT_TILE(weight_tile_out, EMBER_TILE_OUT, 1)
EMBER_WEIGHT_TILE(weight_tile_one, 1, 1)
#undef EMBER_WEIGHT_TILE

EMBER_WEIGHT_TAPS_TILE(weight_tile_pair, EMBER_TILE_OUT, 2, 3)
EMBER_WEIGHT_TAPS_TILE(weight_tile_pair_one, 1, 2, 3)
EMBER_WEIGHT_TAPS_TILE(weight_tile_pair_edge, EMBER_TILE_OUT, 2, 1) /* a tap's columns outside those */
EMBER_WEIGHT_TAPS_TILE(weight_tile_pair_edge_one, 1, 2, 1)
#undef EMBER_WEIGHT_TAPS_TILE

/* A window tile's step (EMBER_WEIGHT_WINDOW_TILE): the sums of one output column with the window's registers
 * A, B, C as its taps 0, 1, 2; then the next column's gradients. */
#define EMBER_WINDOW_STEP(RO, RC, A, B, C)                                                                 \
    do {                                                                                                   \
        _Pragma("GCC unroll 8") for (int o = 0; o < (RO); o++) {                                          \
            V grad = *(const V *)(gs + o * out_plane);                                                     \
            EMBER_IN_REGISTER(grad);                                                                       \
            _Pragma("GCC unroll 8") for (int c = 0; c < (RC); c++) {                                      \
                sums[o][c][0] += grad * window[c][A];                                                      \
                sums[o][c][1] += grad * window[c][B];                                                      \
                sums[o][c][2] += grad * window[c][C];                                                      \
            }                                                                                              \
        }                                                                                                  \
        gs += batch;                                                                                       \
    } while (0)
/* A window tile's next SW input columns (EMBER_WEIGHT_WINDOW_TILE; no check): at column stride 1 into the
 * window's register E (D unused), at stride 2 the first into D and the second into E. */
#define EMBER_WINDOW_LOAD(SW, RC, D, E)                                                                    \
    do {                                                                                                   \
        _Pragma("GCC unroll 8") for (int c = 0; c < (RC); c++) {                                          \
            if (SW == 2) {                                                                                 \
                window[c][D] = *(const V *)(xs + c * plane - batch);                                       \
                EMBER_IN_REGISTER(window[c][D]);                                                           \
            }                                                                                              \
            window[c][E] = *(const V *)(xs + c * plane);                                                   \
            EMBER_IN_REGISTER(window[c][E]);                                                               \
        }                                                                                                  \
        xs += SW * batch;                                                                                  \
    } while (0)

/* A weight-gradient tile of RO output channels by RC input channels by the 3 tap columns of one tap row of a
 * kernel 3 wide (dilation 1) at column stride SW (1 or 2), over every output column of its rows:
 * dw[o * dw_o + c * dw_c + j] += sum over r < rows, s < out_w, n < batch of
 *     g[o * out_plane + r * g_row + s * batch + n] * x[c * plane + r * x_row + (s * SW + j - left) * batch + n]
 * with x zero outside columns 0..width-1 (x points at column 0 of the band's first row; left <= 2). Each row
 * goes in blocks of EMBER_WINDOW_COLUMNS output columns; over a block, each vector of the batch in turn
 * walks along the row with the input columns its 3 taps read in registers (a window), so each input vector
 * is loaded once for all 3 taps (SW 1) and each gradient vector once for RC*3 sums; the padding's columns
 * are zeros in the window, so the row's edges take no tiles of their own. */
#define EMBER_WEIGHT_WINDOW_TILE(NAME, RO, RC, SW)                                                         \
    EMBER_FUSED_FUNCTION                                                                                   \
    static void EMBER_NAME(NAME)(const T *x, idx plane, idx width, idx left, const T *g, idx out_plane,   \
                                 idx out_w, idx batch, T *dw, idx dw_o, idx dw_c, idx rows, idx x_row,     \
                                 idx g_row)                                                                \
    {                                                                                                      \
        EMBER_FUSED                                                                                        \
        V sums[RO][RC][3];                                                                                 \
        T totals[RO][RC][3];                                                                               \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                              \
            _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < 3; j++) {                                     \
                    sums[o][c][j] = (V){0};                                                                \
                    totals[o][c][j] = 0;                                                                   \
                }                                                                                          \
        const idx vectors = batch - batch % LANES, edge = width + left - 2;                                \
        /* steps 1..inner-1 read new columns inside x; later ones may read past its last */                \
        idx inner = edge <= 0 ? 1 : (edge + SW - 1) / SW;                                                  \
        inner = inner < 1 ? 1 : inner > out_w ? out_w : inner;                                             \
        for (idx r = 0; r < rows; r++)                                                                     \
            for (idx s_first = 0; s_first < out_w; s_first += EMBER_WINDOW_COLUMNS) {                      \
                const idx s_last = s_first + EMBER_WINDOW_COLUMNS < out_w ? s_first + EMBER_WINDOW_COLUMNS \
                                                                          : out_w;                         \
                const idx s_inner = inner < s_last ? inner : s_last;                                       \
                const T *const x_r = x + r * x_row, *const g_r = g + r * g_row + s_first * batch;          \
                for (idx n = 0; n < vectors; n += LANES) {                                                 \
                    V window[RC][3];                                                                       \
                    _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                  \
                        _Pragma("GCC unroll 8") for (int j = 0; j < 3; j++) {                             \
                            const idx q = s_first * SW + j - left;                                         \
                            window[c][j] = q >= 0 && q < width                                             \
                                               ? *(const V *)(x_r + c * plane + q * batch + n)             \
                                               : (V){0};                                                   \
                        }                                                                                  \
                    const T *gs = g_r + n, *xs = x_r + ((s_first + 1) * SW - left + 2) * batch + n;        \
                    EMBER_WINDOW_STEP(RO, RC, 0, 1, 2);                                                    \
                    idx s = s_first + 1;                                                                   \
                    /* three steps at a time, the window's registers taken in turn (no moves) */           \
                    if (SW == 1)                                                                           \
                        for (; s + 3 <= s_inner; s += 3) {                                                 \
                            EMBER_WINDOW_LOAD(SW, RC, 0, 0);                                                   \
                            EMBER_WINDOW_STEP(RO, RC, 1, 2, 0);                                            \
                            EMBER_WINDOW_LOAD(SW, RC, 1, 1);                                                   \
                            EMBER_WINDOW_STEP(RO, RC, 2, 0, 1);                                            \
                            EMBER_WINDOW_LOAD(SW, RC, 2, 2);                                                   \
                            EMBER_WINDOW_STEP(RO, RC, 0, 1, 2);                                            \
                        }                                                                                  \
                    else                                                                                   \
                        for (; s + 3 <= s_inner; s += 3) {                                                 \
                            EMBER_WINDOW_LOAD(SW, RC, 0, 1);                                                   \
                            EMBER_WINDOW_STEP(RO, RC, 2, 0, 1);                                            \
                            EMBER_WINDOW_LOAD(SW, RC, 2, 0);                                                   \
                            EMBER_WINDOW_STEP(RO, RC, 1, 2, 0);                                            \
                            EMBER_WINDOW_LOAD(SW, RC, 1, 2);                                                   \
                            EMBER_WINDOW_STEP(RO, RC, 0, 1, 2);                                            \
                        }                                                                                  \
                    for (; s < s_last; s++) {                                                              \
                        const int inside = s < inner; /* else: check each new column */                    \
                        const idx column = s * SW - left + 2;                                              \
                        _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++) {                            \
                            if (SW == 1) {                                                                 \
                                window[c][0] = window[c][1];                                               \
                                window[c][1] = window[c][2];                                               \
                            } else {                                                                       \
                                window[c][0] = window[c][2];                                               \
                                window[c][1] = inside || column - 1 < width                                \
                                                   ? *(const V *)(xs + c * plane - batch)                  \
                                                   : (V){0};                                               \
                            }                                                                              \
                            window[c][2] = inside || column < width ? *(const V *)(xs + c * plane) : (V){0}; \
                            EMBER_IN_REGISTER(window[c][2]);                                               \
                        }                                                                                  \
                        xs += SW * batch;                                                                  \
                        EMBER_WINDOW_STEP(RO, RC, 0, 1, 2);                                                \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
        for (idx at = 0; vectors < batch && at < rows * out_w; at++) {                                     \
            const idx r = at / out_w, s = at % out_w;                                                      \
            const T *gs = g + r * g_row + s * batch;                                                       \
            for (int j = 0; j < 3; j++) {                                                                  \
                const idx q = s * SW + j - left;                                                           \
                if (q < 0 || q >= width)                                                                   \
                    continue;                                                                              \
                const T *xs = x + r * x_row + q * batch;                                                   \
                for (idx n = vectors; n < batch; n++)                                                      \
                    for (int c = 0; c < RC; c++)                                                           \
                        for (int o = 0; o < RO; o++)                                                       \
                            totals[o][c][j] += gs[o * out_plane + n] * xs[c * plane + n];                  \
            }                                                                                              \
        }                                                                                                  \
        _Pragma("GCC unroll 8") for (int o = 0; o < RO; o++)                                              \
            _Pragma("GCC unroll 8") for (int c = 0; c < RC; c++)                                          \
                _Pragma("GCC unroll 8") for (int j = 0; j < 3; j++)                                       \
                    totals[o][c][j] += EMBER_NAME(total)(sums[o][c][j]);                                   \
        for (int o = 0; o < RO; o++)                                                                       \
            for (int c = 0; c < RC; c++)                                                                   \
                for (int j = 0; j < 3; j++)                                                                \
                    dw[o * dw_o + c * dw_c + j] += totals[o][c][j];                                        \
    }
EMBER_WEIGHT_WINDOW_TILE(weight_window, EMBER_TILE_OUT, 2, 1)
EMBER_WEIGHT_WINDOW_TILE(weight_window_one, 1, 2, 1)
EMBER_WEIGHT_WINDOW_TILE(weight_window_in, EMBER_TILE_OUT, 1, 1)
EMBER_WEIGHT_WINDOW_TILE(weight_window_in_one, 1, 1, 1)
EMBER_WEIGHT_WINDOW_TILE(weight_window_strided, EMBER_TILE_OUT, 2, 2)
EMBER_WEIGHT_WINDOW_TILE(weight_window_strided_one, 1, 2, 2)
EMBER_WEIGHT_WINDOW_TILE(weight_window_strided_in, EMBER_TILE_OUT, 1, 2)
EMBER_WEIGHT_WINDOW_TILE(weight_window_strided_in_one, 1, 1, 2)
#undef EMBER_WEIGHT_WINDOW_TILE
#undef EMBER_WINDOW_STEP
#undef EMBER_WINDOW_LOAD

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

/* The width of the tile that starts at index `at` of `count` (input channels or tap columns): EMBER_TILE_IN
 * while that many are left, else 3, else 1. */
static idx EMBER_NAME(tile_width)(idx at, idx count)
{
    return at + EMBER_TILE_IN <= count ? EMBER_TILE_IN : at + 3 <= count ? 3 : 1;
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

/* Tap column t's output columns outside first..last-1 (the columns every tap of a tile reaches; none when
 * first >= last): ranges[0] before them and ranges[1] after, each [begin, end), empty when begin >= end. */
static void EMBER_NAME(outside_columns)(idx t, idx sw, idx dw, idx left, idx width, idx out_w, idx first, idx last,
                                        idx ranges[2][2])
{
    idx tap_first, tap_last;
    EMBER_NAME(tap_columns)(t, sw, dw, left, width, out_w, &tap_first, &tap_last);
    const idx inner_first = first < last ? first : tap_last;
    const idx inner_last = first < last ? last : tap_last;
    ranges[0][0] = tap_first;
    ranges[0][1] = inner_first < tap_last ? inner_first : tap_last;
    ranges[1][0] = inner_last > tap_first ? inner_last : tap_first;
    ranges[1][1] = tap_last;
}

/* One weight-gradient call: its arrays and window, how it groups its sums, and the distances (in numbers)
 * its loops step by. */
struct EMBER_NAME(weight_call) {
    const T *x, *g;                          /* C-contiguous (C, H, W, N) and (C_out, out_h, out_w, N) */
    idx channels, height, width, batch, out_channels, out_w;
    idx kh, kw, sh, sw, dh, dw, top, left;
    idx chunk_out, group;                    /* see struct ember_weight_split */
    idx plane, out_plane;                    /* one channel of x, of g */
    idx taps, dw_o;                          /* kh*kw; one output channel of the weight gradient */
    idx x_row, g_row, step;                  /* one output row in x, in g; one output column in x */
};

/* A band: the output rows of one group whose tap row i lies inside x, starting at x_rows in x (tap row i of
 * the band's first row) and at g_rows in g. Their count goes beside it as an argument (see weight_rows). */
struct EMBER_NAME(weight_band) {
    const T *x_rows, *g_rows;
    idx i;
};

/* One band's sums for input channels c..c+wide-1 (a tile's width) by every tap column of tap row i, output
 * channels o_first..o_last-1, each tap over the output columns that reach inside x. */
static void EMBER_NAME(weight_by_channels)(const struct EMBER_NAME(weight_call) *call,
                                           const struct EMBER_NAME(weight_band) *band, idx rows,
                                           T *grad_weight, idx c, idx wide, idx o_first, idx o_last)
{
    const idx batch = call->batch, sw = call->sw, dw = call->dw, left = call->left, taps = call->taps;
    for (idx j = 0; j < call->kw; j++) {
        idx first, last;
        EMBER_NAME(tap_columns)(j, sw, dw, left, call->width, call->out_w, &first, &last);
        if (first < last)
            EMBER_NAME(weight_tiles)(wide, band->x_rows + c * call->plane + (first * sw + j * dw - left) * batch,
                                     call->plane, call->step, band->g_rows + first * batch, call->out_plane,
                                     last - first, batch, grad_weight + c * taps + band->i * call->kw + j,
                                     call->dw_o, taps, rows, call->x_row, call->g_row, o_first, o_last);
    }
}

/* One band's sums for input channel c by every tap column of tap row i, output channels o_first..o_last-1,
 * with tiles across tap columns (for layers with one or two input channels, so that their tiles keep as
 * many sums going): a tile `wide` taps wide sums over the output columns every one of its taps reaches, then
 * each tap sums its own columns outside those alone. */
static void EMBER_NAME(weight_by_tap_columns)(const struct EMBER_NAME(weight_call) *call,
                                              const struct EMBER_NAME(weight_band) *band, idx rows,
                                              T *grad_weight, idx c, idx o_first, idx o_last)
{
    const idx batch = call->batch, sw = call->sw, dw = call->dw, left = call->left, taps = call->taps;
    const idx width = call->width, out_w = call->out_w, kw = call->kw;
    const T *x_channel = band->x_rows + c * call->plane;
    T *tap_row = grad_weight + c * taps + band->i * kw;
    for (idx j = 0; j < kw;) {
        const idx wide = EMBER_NAME(tile_width)(j, kw);
        idx first, last, unused;
        EMBER_NAME(tap_columns)(j, sw, dw, left, width, out_w, &first, &unused);
        EMBER_NAME(tap_columns)(j + wide - 1, sw, dw, left, width, out_w, &unused, &last);
        if (first < last)  /* the columns every tap of the tile reaches: tap columns dw apart in x, 1 in dw */
            EMBER_NAME(weight_tiles)(wide, x_channel + (first * sw + j * dw - left) * batch, dw * batch,
                                     call->step, band->g_rows + first * batch, call->out_plane, last - first,
                                     batch, tap_row + j, call->dw_o, 1, rows, call->x_row, call->g_row,
                                     o_first, o_last);
        for (idx t = j; t < j + wide; t++) {  /* each tap's own columns outside those */
            idx ranges[2][2];
            EMBER_NAME(outside_columns)(t, sw, dw, left, width, out_w, first, last, ranges);
            for (int k = 0; k < 2; k++)
                if (ranges[k][0] < ranges[k][1])
                    EMBER_NAME(weight_tiles)(1, x_channel + (ranges[k][0] * sw + t * dw - left) * batch,
                                             call->plane, call->step, band->g_rows + ranges[k][0] * batch,
                                             call->out_plane, ranges[k][1] - ranges[k][0], batch, tap_row + t,
                                             call->dw_o, taps, rows, call->x_row, call->g_row, o_first,
                                             o_last);
        }
        j += wide;
    }
}

/* One band's sums for input channels c and c+1 by the 3 tap columns of tap row i of a kernel 3 wide,
 * output channels o_first..o_last-1: tiles of both channels by all 3 taps over the output columns every tap
 * reaches, then each channel's taps over their own columns outside those (the padding's edges). */
static void EMBER_NAME(weight_by_pairs)(const struct EMBER_NAME(weight_call) *call,
                                        const struct EMBER_NAME(weight_band) *band, idx rows, T *grad_weight,
                                        idx c, idx o_first, idx o_last)
{
    const idx batch = call->batch, sw = call->sw, dw = call->dw, left = call->left, taps = call->taps;
    const idx width = call->width, out_w = call->out_w, plane = call->plane;
    const T *x_channel = band->x_rows + c * plane;
    T *tap_row = grad_weight + c * taps + band->i * 3;
    idx first, last, unused;
    EMBER_NAME(tap_columns)(0, sw, dw, left, width, out_w, &first, &unused);
    EMBER_NAME(tap_columns)(2, sw, dw, left, width, out_w, &unused, &last);
    if (first < last) {
        const T *xs = x_channel + (first * sw - left) * batch, *gs = band->g_rows + first * batch;
        idx o = o_first;
        for (; o + EMBER_TILE_OUT <= o_last; o += EMBER_TILE_OUT)
            EMBER_NAME(weight_tile_pair)(xs, plane, dw * batch, call->step, gs + o * call->out_plane,
                                         call->out_plane, last - first, batch, tap_row + o * call->dw_o,
                                         call->dw_o, taps, rows, call->x_row, call->g_row);
        for (; o < o_last; o++)
            EMBER_NAME(weight_tile_pair_one)(xs, plane, dw * batch, call->step, gs + o * call->out_plane,
                                             call->out_plane, last - first, batch, tap_row + o * call->dw_o,
                                             call->dw_o, taps, rows, call->x_row, call->g_row);
    }
    for (idx t = 0; t < 3; t++) {  /* each tap's own columns outside those */
        idx ranges[2][2];
        EMBER_NAME(outside_columns)(t, sw, dw, left, width, out_w, first, last, ranges);
        for (int k = 0; k < 2; k++) {
            if (ranges[k][0] >= ranges[k][1])
                continue;
            const T *xs = x_channel + (ranges[k][0] * sw + t * dw - left) * batch;
            const T *gs = band->g_rows + ranges[k][0] * batch;
            idx o = o_first;
            for (; o + EMBER_TILE_OUT <= o_last; o += EMBER_TILE_OUT)
                EMBER_NAME(weight_tile_pair_edge)(xs, plane, 0, call->step, gs + o * call->out_plane,
                                                  call->out_plane, ranges[k][1] - ranges[k][0], batch,
                                                  tap_row + o * call->dw_o + t, call->dw_o, taps, rows,
                                                  call->x_row, call->g_row);
            for (; o < o_last; o++)
                EMBER_NAME(weight_tile_pair_edge_one)(xs, plane, 0, call->step, gs + o * call->out_plane,
                                                      call->out_plane, ranges[k][1] - ranges[k][0], batch,
                                                      tap_row + o * call->dw_o + t, call->dw_o, taps, rows,
                                                      call->x_row, call->g_row);
        }
    }
}

/* One band's sums for input channels c..c+wide-1 (wide 2 or 1) by the 3 tap columns of tap row i of a kernel
 * 3 wide at column stride 1 or 2 (dilation 1, left padding at most 2), output channels o_first..o_last-1:
 * window tiles over every output column. */
static void EMBER_NAME(weight_by_windows)(const struct EMBER_NAME(weight_call) *call,
                                          const struct EMBER_NAME(weight_band) *band, idx rows, T *grad_weight,
                                          idx c, idx wide, idx o_first, idx o_last)
{
    const idx plane = call->plane, out_plane = call->out_plane, dw_o = call->dw_o;
    const T *xs = band->x_rows + c * plane;
    T *tap_row = grad_weight + c * call->taps + band->i * 3;
#define EMBER_WINDOWS(NAME, RO)                                                                            \
    for (; o + (RO) <= o_last; o += (RO))                                                                  \
        EMBER_NAME(NAME)(xs, plane, call->width, call->left, band->g_rows + o * out_plane, out_plane,       \
                         call->out_w, call->batch, tap_row + o * dw_o, dw_o, call->taps, rows, call->x_row, \
                         call->g_row)
    idx o = o_first;
    if (call->sw == 1 && wide == 2) {
        EMBER_WINDOWS(weight_window, EMBER_TILE_OUT);
        EMBER_WINDOWS(weight_window_one, 1);
    } else if (call->sw == 1) {
        EMBER_WINDOWS(weight_window_in, EMBER_TILE_OUT);
        EMBER_WINDOWS(weight_window_in_one, 1);
    } else if (wide == 2) {
        EMBER_WINDOWS(weight_window_strided, EMBER_TILE_OUT);
        EMBER_WINDOWS(weight_window_strided_one, 1);
    } else {
        EMBER_WINDOWS(weight_window_strided_in, EMBER_TILE_OUT);
        EMBER_WINDOWS(weight_window_strided_in_one, 1);
    }
#undef EMBER_WINDOWS
}

/* Along the other axis: of the output rows p_group..group_end-1, the first and one past the last whose tap
 * row i lies inside x (first >= last: none). */
static void EMBER_NAME(tap_rows)(const struct EMBER_NAME(weight_call) *call, idx p_group, idx group_end, idx i,
                                 idx *first, idx *last)
{
    const idx sh = call->sh, tap = i * call->dh - call->top;
    idx low = p_group, high = group_end;
    while (low < high && low * sh + tap < 0)
        low++;
    while (high > low && (high - 1) * sh + tap >= call->height)
        high--;
    *first = low;
    *last = high;
}

/* The weight gradient of output rows p in start..stop-1, added onto grad_weight (C_out, C, kh, kw), only
 * output channels o_first..o_last-1:
 * dw[o, c, i, j] += sum over p, s, n of g[o, p, s, n] * x[c, p*sh + i*dh - top, s*sw + j*dw - left, n]
 * (zero outside x). Output rows go in groups of call->group; for each tap row i, one tile sums the group's
 * band, and output channels go in chunks of call->chunk_out: every input channel and tap column for one
 * chunk, then the next (the chunk's gradient rows stay in cache). A tile spans output channels by input
 * channels; with one or two input channels, output channels by tap columns instead, and for kernels 3 wide
 * with rows of EMBER_PAIRS_MIN_WIDTH or more, output channels by pairs of input channels by tap columns; where
 * window tiles apply, weight_rows_windows does it all. */
/* weight_rows with window tiles (kernels 3 wide, dilation 1, column stride 1 or 2, left padding at most 2):
 * for each group of rows and chunk of output channels, each pair of input channels over every tap row, so
 * that the pair's rows are read from cache for the kh tap rows. */
static void EMBER_NAME(weight_rows_windows)(const struct EMBER_NAME(weight_call) *call, T *grad_weight,
                                            idx o_first, idx o_last, idx start, idx stop)
{
    const idx channels = call->channels, group = call->group, chunk_out = call->chunk_out, kh = call->kh;
    struct EMBER_NAME(weight_band) bands[EMBER_MAX_TAPS];
    idx band_rows[EMBER_MAX_TAPS];
    for (idx p_group = start; p_group < stop; p_group += group) {
        idx count = 0;
        for (idx i = 0; i < kh; i++) {
            idx p, high;
            EMBER_NAME(tap_rows)(call, p_group, stop - p_group < group ? stop : p_group + group, i, &p, &high);
            if (p >= high)
                continue;
            const idx row = p * call->sh + i * call->dh - call->top;
            bands[count] = (struct EMBER_NAME(weight_band)){call->x + row * call->width * call->batch,
                                                            call->g + p * call->g_row, i};
            band_rows[count++] = high - p;
        }
        for (idx chunk = o_first; chunk < o_last; chunk += chunk_out) {
            const idx chunk_end = chunk + chunk_out < o_last ? chunk + chunk_out : o_last;
            for (idx c = 0; c < channels; c += 2)
                for (idx b = 0; b < count; b++)
                    EMBER_NAME(weight_by_windows)(call, &bands[b], band_rows[b], grad_weight, c,
                                                  c + 2 <= channels ? 2 : 1, chunk, chunk_end);
        }
    }
}

static void EMBER_NAME(weight_rows)(const struct EMBER_NAME(weight_call) *call, T *grad_weight, idx o_first,
                                    idx o_last, idx start, idx stop)
{
    if (EMBER_WINDOW_TILES && call->kw == 3 && call->dw == 1 && (call->sw == 1 || call->sw == 2) && call->left <= 2) {
        EMBER_NAME(weight_rows_windows)(call, grad_weight, o_first, o_last, start, stop);
        return;
    }
    const idx channels = call->channels, group = call->group, chunk_out = call->chunk_out;
    for (idx p_group = start; p_group < stop; p_group += group)
        for (idx i = 0; i < call->kh; i++) {
            idx p, high;
            EMBER_NAME(tap_rows)(call, p_group, stop - p_group < group ? stop : p_group + group, i, &p, &high);
            if (p >= high)
                continue;
            /* worked out after the test above, so that the compiler knows rows > 0 in the tiles: GCC compiles
             * their loops for it, and on some CPUs (AMD's) which of their sums it fuses into FMAs with it */
            const idx rows = high - p, row = p * call->sh + i * call->dh - call->top;
            const struct EMBER_NAME(weight_band) band = {call->x + row * call->width * call->batch,
                                                         call->g + p * call->g_row, i};
            for (idx chunk = o_first; chunk < o_last; chunk += chunk_out) {
                const idx chunk_end = chunk + chunk_out < o_last ? chunk + chunk_out : o_last;
                if (channels <= 2) {
                    for (idx c = 0; c < channels; c++)
                        EMBER_NAME(weight_by_tap_columns)(call, &band, rows, grad_weight, c, chunk, chunk_end);
                    continue;
                }
                if (EMBER_PAIRS_MIN_WIDTH && call->kw == 3 && call->out_w >= EMBER_PAIRS_MIN_WIDTH) {
                    idx c = 0;
                    for (; c + 2 <= channels; c += 2)
                        EMBER_NAME(weight_by_pairs)(call, &band, rows, grad_weight, c, chunk, chunk_end);
                    if (c < channels)
                        EMBER_NAME(weight_by_tap_columns)(call, &band, rows, grad_weight, c, chunk, chunk_end);
                    continue;
                }
                for (idx c = 0; c < channels;) {
                    const idx wide = EMBER_NAME(tile_width)(c, channels);
                    EMBER_NAME(weight_by_channels)(call, &band, rows, grad_weight, c, wide, chunk, chunk_end);
                    c += wide;
                }
            }
        }
}

/* The shared work: split->ranges ranges of rows (range r: rows start + (stop-start)*r/ranges up to the next)
 * by parts of about split->part_out output channels (ceil(C_out / part_out) parts that share the output
 * channels' register tiles as evenly as whole tiles allow, so that the pieces are of about one size: 64
 * channels in parts of 12 go 8, 12, 12, 8, 12, 12, not 12 five times and 4). This call takes pieces from
 * the shared counter (atomically) until none is left and writes (not adds) each into range r's own
 * partial, grad_weight + r*C_out*C*kh*kw, so that threads calling at once share the pieces out by speed
 * and the caller adds the partials in order: the same numbers whoever did which (a part starts at a whole
 * tile, so each output channel falls in the same tile however the channels are parted). */
static void EMBER_NAME(weight_pieces)(const struct EMBER_NAME(weight_call) *call, T *grad_weight,
                                      const struct ember_weight_split *split, const struct ember_range *range)
{
    const idx out_channels = call->out_channels, ranges = split->ranges, start = range->start, stop = range->stop;
    const idx part_out = split->part_out > 0 ? split->part_out : out_channels;
    const idx tiles = (out_channels + EMBER_TILE_OUT - 1) / EMBER_TILE_OUT;
    const idx wanted = (out_channels + part_out - 1) / part_out, parts = wanted < tiles ? wanted : tiles;
    const idx per_out = call->dw_o;
    for (;;) {
        const idx k = __atomic_fetch_add(range->counter, 1, __ATOMIC_RELAXED);
        if (k >= ranges * parts)
            break;
        const idx piece_range = k / parts, part = k % parts;
        const idx o_first = tiles * part / parts * EMBER_TILE_OUT, o_end = tiles * (part + 1) / parts * EMBER_TILE_OUT;
        const idx o_last = o_end < out_channels ? o_end : out_channels;
        T *partial = grad_weight + piece_range * out_channels * per_out;
        memset(partial + o_first * per_out, 0, (size_t)((o_last - o_first) * per_out) * sizeof(T));
        EMBER_NAME(weight_rows)(call, partial, o_first, o_last, start + (stop - start) * piece_range / ranges,
                                start + (stop - start) * (piece_range + 1) / ranges);
    }
}

/* The weight gradient of output rows range->start..stop-1 from x (C-contiguous (C, H, W, N)) and g
 * (C-contiguous (C_out, out_h, out_w, N)), grouped as `split` says (chunk_out or group 0: all output
 * channels, one row). Without range->counter it is added onto grad_weight (C_out, C, kh, kw); with it,
 * grad_weight holds split->ranges partials, shared out as weight_pieces says (range->piece unused). */
void EMBER_NAME(ember_conv_weight_grad)(const struct ember_image *x, const struct ember_image *g,
                                        const struct ember_window *window, T *grad_weight,
                                        const struct ember_weight_split *split, const struct ember_range *range)
{
    const idx batch = x->batch, channels = x->channels, height = x->height, width = x->width;
    const idx out_channels = g->channels, out_w = g->width, taps = window->kh * window->kw;
    const struct EMBER_NAME(weight_call) call = {
        .x = x->data, .g = g->data, .channels = channels, .height = height, .width = width, .batch = batch,
        .out_channels = out_channels, .out_w = out_w, .kh = window->kh, .kw = window->kw, .sh = window->sh,
        .sw = window->sw, .dh = window->dh, .dw = window->dw, .top = window->top, .left = window->left,
        .chunk_out = split->chunk_out > 0 ? split->chunk_out : out_channels,
        .group = split->group > 0 ? split->group : 1,
        .plane = height * width * batch, .out_plane = g->height * out_w * batch, .taps = taps,
        .dw_o = channels * taps, .x_row = window->sh * width * batch, .g_row = out_w * batch,
        .step = window->sw * batch,
    };
    if (range->counter)
        EMBER_NAME(weight_pieces)(&call, grad_weight, split, range);
    else
        EMBER_NAME(weight_rows)(&call, grad_weight, 0, out_channels, range->start, range->stop);
}
