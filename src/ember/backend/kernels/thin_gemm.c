/* A linear layer's products when its input has few features (k <= EMBER_THIN_FEATURES: a recurrent layer's
 * input projection over every step, an MLP on low-dimensional data), on a team of threads started for the
 * call (step_threads.h). A template over T (see ember_kernels.h).
 *
 * With k that small, a BLAS GEMM spends its time on the edges of its register blocks: for LSTM(28 -> 128)
 * over MNIST's rows (3584 rows, k = 28, 512 outputs) OpenBLAS ran y = x @ W.T at 200 GFLOP/s on one core and
 * the weight gradient g.T @ x at 120. Here:
 *   forward:          y (rows, n) = x (rows, k) @ W.T, W packed once into panels (panel_gemm.c), the rows
 *                     shared between the threads;
 *   weight gradient:  the sums over rows of x[i, f] * g[i, o], in register blocks of EMBER_THIN_BLOCK features
 *                     by up to three vectors of outputs, so that each row of g is loaded once per block of
 *                     features and the strip of g a block reads (rows x three vectors) stays in L2 for the
 *                     next block; the strips of outputs are shared between the threads.
 * W is (n, k) when `transposed` (nn.Linear's layout), else (k, n) (Keras's kernel); the weight gradient has W's
 * layout. Every array is C-contiguous (compiled.py checks). Products and sums fuse into FMAs. */

#define EMBER_THIN_STRIP (3 * LANES) /* outputs a strip of the weight gradient sums at once */
#define EMBER_THIN_ROWS 128          /* rows of a chunk: 128 x 3 vectors of g, 24 KB of floats */

/* A block of R features by NV vectors of outputs over `rows` rows, added onto a strip's sums:
 * sums[f * EMBER_THIN_STRIP + o] += sum over i < rows of x[i * k + f] * g[i * n + o], f < R, o < NV LANES
 * (x, g and sums at the block's first feature, row and output). */
#define EMBER_THIN_BLOCK_FN(NAME, R, NV)                                                                    \
    EMBER_FUSED_FUNCTION                                                                                    \
    static void EMBER_NAME(NAME)(const T *x, const T *g, idx rows, idx k, idx n, T *strip_sums)             \
    {                                                                                                       \
        EMBER_FUSED                                                                                         \
        V sums[R][NV];                                                                                      \
        _Pragma("GCC unroll 8") for (int f = 0; f < R; f++)                                                 \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)                                            \
                sums[f][v] = *(const V *)(strip_sums + f * EMBER_THIN_STRIP + v * LANES);                   \
        for (idx i = 0; i < rows; i++) {                                                                    \
            V values[NV];                                                                                   \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) {                                          \
                values[v] = *(const V *)(g + i * n + v * LANES);                                            \
                EMBER_IN_REGISTER(values[v]);                                                               \
            }                                                                                               \
            _Pragma("GCC unroll 8") for (int f = 0; f < R; f++) {                                           \
                const T feature = x[i * k + f];                                                             \
                _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) sums[f][v] += feature * values[v];     \
            }                                                                                               \
        }                                                                                                   \
        for (int f = 0; f < R; f++)                                                                         \
            for (int v = 0; v < NV; v++)                                                                    \
                *(V *)(strip_sums + f * EMBER_THIN_STRIP + v * LANES) = sums[f][v];                         \
    }
EMBER_THIN_BLOCK_FN(thin_block_wide_3, EMBER_THIN_BLOCK, 3)
EMBER_THIN_BLOCK_FN(thin_block_wide_2, EMBER_THIN_BLOCK, 2)
EMBER_THIN_BLOCK_FN(thin_block_wide_1, EMBER_THIN_BLOCK, 1)
EMBER_THIN_BLOCK_FN(thin_block_4_3, 4, 3)
EMBER_THIN_BLOCK_FN(thin_block_4_2, 4, 2)
EMBER_THIN_BLOCK_FN(thin_block_4_1, 4, 1)
EMBER_THIN_BLOCK_FN(thin_block_1_3, 1, 3)
EMBER_THIN_BLOCK_FN(thin_block_1_2, 1, 2)
EMBER_THIN_BLOCK_FN(thin_block_1_1, 1, 1)
#undef EMBER_THIN_BLOCK_FN

/* Whether an (rows, k) input and n outputs take these kernels: k features at most EMBER_THIN_FEATURES and n
 * a whole number of vectors. */
static int EMBER_NAME(thin_fits)(idx k, idx n)
{
    return k >= 1 && k <= EMBER_THIN_FEATURES && EMBER_NAME(panel_fits)(n);
}

struct EMBER_NAME(thin_call) {
    const T *x, *w, *g;
    T *out, *panels;
    idx rows, k, n;
    int transposed;
    struct ember_tickets tickets;
};

static void EMBER_NAME(thin_forward_work)(void *context)
{
    struct EMBER_NAME(thin_call) *s = context;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        idx first, stop;
        ember_share(s->rows, s->tickets.pieces, ticket, &first, &stop);
        if (stop > first)
            EMBER_NAME(panel_gemm)(s->x + first * s->k, s->k, stop - first, s->k, s->panels, s->n,
                                   s->out + first * s->n, s->n);
        ember_ticket_done(&s->tickets);
    }
}

/* Adds onto `sums` (k rows of EMBER_THIN_STRIP) the sums over `rows` rows of x[i * k + f] * g[i * ldg + o], for
 * every feature f < k and outputs o < vectors LANES (g at the strip's first output). The rows go in chunks of
 * EMBER_THIN_ROWS (a chunk of the strip of g, its rows ldg numbers apart, stays in L1 while every block of
 * features reads it), each chunk in blocks of EMBER_THIN_BLOCK features, then of 4, then one at a time. Shared
 * with the recurrent sequences' W_hh gradient (lstm_sequence.c). */
static void EMBER_NAME(strip_sums_add)(const T *x, const T *g, idx rows, idx k, idx ldg, int vectors, T *sums)
{
    typedef void (*block_fn)(const T *, const T *, idx, idx, idx, T *);
    static const block_fn wide[3] = {EMBER_NAME(thin_block_wide_1), EMBER_NAME(thin_block_wide_2),
                                     EMBER_NAME(thin_block_wide_3)};
    static const block_fn quarter[3] = {EMBER_NAME(thin_block_4_1), EMBER_NAME(thin_block_4_2),
                                        EMBER_NAME(thin_block_4_3)};
    static const block_fn narrow[3] = {EMBER_NAME(thin_block_1_1), EMBER_NAME(thin_block_1_2),
                                       EMBER_NAME(thin_block_1_3)};
    for (idx i0 = 0; i0 < rows; i0 += EMBER_THIN_ROWS) {
        const idx chunk = rows - i0 < EMBER_THIN_ROWS ? rows - i0 : EMBER_THIN_ROWS;
        const T *xs = x + i0 * k, *gs = g + i0 * ldg;
        idx f = 0;
        for (; f + EMBER_THIN_BLOCK <= k; f += EMBER_THIN_BLOCK)
            wide[vectors - 1](xs + f, gs, chunk, k, ldg, sums + f * EMBER_THIN_STRIP);
        for (; f + 4 <= k; f += 4)
            quarter[vectors - 1](xs + f, gs, chunk, k, ldg, sums + f * EMBER_THIN_STRIP);
        for (; f < k; f++)
            narrow[vectors - 1](xs + f, gs, chunk, k, ldg, sums + f * EMBER_THIN_STRIP);
    }
}

/* Output columns o0 .. o0 + vectors LANES - 1 of the weight gradient, every feature (strip_sums_add), stored
 * in the weight's layout. */
static void EMBER_NAME(thin_strip)(const struct EMBER_NAME(thin_call) *s, idx o0, int vectors)
{
    T sums[EMBER_THIN_FEATURES * EMBER_THIN_STRIP] __attribute__((aligned(64)));
    const idx k = s->k, n = s->n;
    memset(sums, 0, sizeof sums);
    EMBER_NAME(strip_sums_add)(s->x, s->g + o0, s->rows, k, n, vectors, sums);
    for (idx f = 0; f < k; f++)
        for (idx o = 0; o < vectors * LANES; o++) {
            if (s->transposed)
                s->out[(o0 + o) * k + f] = sums[f * EMBER_THIN_STRIP + o];
            else
                s->out[f * n + o0 + o] = sums[f * EMBER_THIN_STRIP + o];
        }
}

static void EMBER_NAME(thin_weight_grad_work)(void *context)
{
    struct EMBER_NAME(thin_call) *s = context;
    const idx strip = EMBER_THIN_STRIP, strips = (s->n + strip - 1) / strip;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        idx first, stop;
        ember_share(strips, s->tickets.pieces, ticket, &first, &stop);
        for (idx p = first; p < stop; p++) {
            const idx o0 = p * strip, left = s->n - o0;
            EMBER_NAME(thin_strip)(s, o0, (int)((left < strip ? left : strip) / LANES));
        }
        ember_ticket_done(&s->tickets);
    }
}

/* y (rows, n) = x (rows, k) @ W.T (W (n, k)) when `transposed`, else x @ W (W (k, n)), on up to `threads`
 * threads. Returns the threads that ran, or 0 where thin_fits says no or no memory was left for the panels
 * (y untouched). */
int EMBER_NAME(ember_thin_forward)(const T *x, const T *w, T *y, idx rows, idx k, idx n, int transposed,
                                   int threads)
{
    if (!EMBER_NAME(thin_fits)(k, n))
        return 0;
    struct EMBER_NAME(thin_call) s = {0};
    s.x = x, s.out = y, s.rows = rows, s.k = k, s.n = n;
    s.panels = malloc((size_t)(k * n) * sizeof(T));
    if (!s.panels)
        return 0;
    EMBER_NAME(panel_pack)(w, transposed ? k : n, transposed, k, n, s.panels);
    const idx pieces = ember_team_size(threads, rows > 0 ? rows : 1);
    s.tickets = (struct ember_tickets){0, 0, pieces, pieces};
    const int ran = ember_team_run(EMBER_NAME(thin_forward_work), &s, (int)pieces);
    free(s.panels);
    return ran;
}

/* The weight gradient of the forward above, in W's layout: gw (n, k) = g.T @ x when `transposed`, else gw
 * (k, n) = x.T @ g; x (rows, k), g (rows, n). Returns the threads that ran, or 0 where thin_fits says no. */
int EMBER_NAME(ember_thin_weight_grad)(const T *x, const T *g, T *gw, idx rows, idx k, idx n, int transposed,
                                       int threads)
{
    if (!EMBER_NAME(thin_fits)(k, n))
        return 0;
    struct EMBER_NAME(thin_call) s = {0};
    s.x = x, s.g = g, s.out = gw, s.rows = rows, s.k = k, s.n = n, s.transposed = transposed;
    const idx strips = (n + EMBER_THIN_STRIP - 1) / EMBER_THIN_STRIP;
    const idx pieces = ember_team_size(threads, strips);
    s.tickets = (struct ember_tickets){0, 0, pieces, pieces};
    return ember_team_run(EMBER_NAME(thin_weight_grad_work), &s, (int)pieces);
}
