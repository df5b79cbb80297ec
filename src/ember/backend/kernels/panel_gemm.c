/* Products whose right-hand side many calls share: c (m, n) = a (m, k) @ b (k, n), with b packed once into
 * column panels. A template over T (see ember_kernels.h).
 *
 * A recurrent sequence (lstm_sequence.c, gru_sequence.c) multiplies every step's (rows, k) states by the same
 * weight. A BLAS GEMM packs its operands again at every call: for an LSTM step of 64 rows by 128 units, the
 * weight's packing is a sixth of the product's time and the product runs at 150 GFLOP/s where this one, with
 * the weight packed once per sequence, runs at about 250 (one core; benchmarks/step_profile.py recurrent).
 * The panels: b's columns cut into panels EMBER_PANEL_VECTORS vectors wide (the last one narrower), each
 * panel k-major (its k rows one after the other, each `width` numbers), panel after panel, k n numbers in
 * all. A register block sums EMBER_PANEL_ROWS rows of a against one panel over all of k: one row of the panel
 * (L1 or L2) and one number of each row of a per step of k, the (rows, width) block of c in registers until
 * it is stored once. n must be a multiple of LANES (panel_fits). Products and sums fuse into FMAs. */

/* Whether an (m, k) @ (k, n) product can run on panels: n a whole number of vectors. */
static int EMBER_NAME(panel_fits)(idx n)
{
    return n > 0 && n % LANES == 0;
}

/* Packs b (k, n) into `panels` (k n numbers): element (i, j) of b is b[i * ldb + j], or b[j * ldb + i] when
 * `transposed` (b given as its transpose, (n, k), as a weight W with b = W.T). */
static void EMBER_NAME(panel_pack)(const T *b, idx ldb, int transposed, idx k, idx n, T *panels)
{
    const idx panel_width = EMBER_PANEL_VECTORS * LANES;
    for (idx first = 0; first < n; first += panel_width) {
        const idx width = n - first < panel_width ? n - first : panel_width;
        T *panel = panels + first * k;
        if (transposed)  /* read b's rows whole: the panel (k x width, L2-sized) takes the scattered writes */
            for (idx j = 0; j < width; j++)
                for (idx i = 0; i < k; i++)
                    panel[i * width + j] = b[(first + j) * ldb + i];
        else
            for (idx i = 0; i < k; i++)
                for (idx j = 0; j < width; j++)
                    panel[i * width + j] = b[i * ldb + first + j];
    }
}

/* A register block of R rows of a by NV vectors of one panel: c[r, :NV LANES] = a[r, :k] @ panel. */
#define EMBER_PANEL_BLOCK(NAME, R, NV)                                                                    \
    EMBER_FUSED_FUNCTION                                                                                  \
    static void EMBER_NAME(NAME)(const T *a, idx lda, idx k, const T *panel, T *c, idx ldc)               \
    {                                                                                                     \
        EMBER_FUSED                                                                                       \
        V sums[R][NV];                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                               \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) sums[r][v] = (V){0};                     \
        for (idx i = 0; i < k; i++) {                                                                     \
            V values[NV];                                                                                 \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                                        \
                values[v] = *(const V *)(panel + i * (NV) * LANES + v * LANES);                           \
                EMBER_IN_REGISTER(values[v]); /* loaded once, not once per row */                         \
            }                                                                                             \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                         \
                const T x = a[r * lda + i];                                                               \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) sums[r][v] += x * values[v];         \
            }                                                                                             \
        }                                                                                                 \
        for (int r = 0; r < R; r++)                                                                       \
            for (int v = 0; v < NV; v++)                                                                  \
                *(V *)(c + r * ldc + v * LANES) = sums[r][v];                                             \
    }
EMBER_PANEL_BLOCK(panel_block_4, EMBER_PANEL_ROWS, 4)
EMBER_PANEL_BLOCK(panel_block_3, EMBER_PANEL_ROWS, 3)
EMBER_PANEL_BLOCK(panel_block_2, EMBER_PANEL_ROWS, 2)
EMBER_PANEL_BLOCK(panel_block_1, EMBER_PANEL_ROWS, 1)
EMBER_PANEL_BLOCK(panel_row_4, 1, 4)
EMBER_PANEL_BLOCK(panel_row_3, 1, 3)
EMBER_PANEL_BLOCK(panel_row_2, 1, 2)
EMBER_PANEL_BLOCK(panel_row_1, 1, 1)
#undef EMBER_PANEL_BLOCK

/* c (m, n) = a (m, k) @ b, b packed by panel_pack; a and c row-major with leading dimensions lda, ldc. */
static void EMBER_NAME(panel_gemm)(const T *a, idx lda, idx m, idx k, const T *panels, idx n, T *c, idx ldc)
{
    typedef void (*block_fn)(const T *, idx, idx, const T *, T *, idx);
    static const block_fn blocks[4] = {EMBER_NAME(panel_block_1), EMBER_NAME(panel_block_2),
                                       EMBER_NAME(panel_block_3), EMBER_NAME(panel_block_4)};
    static const block_fn rows[4] = {EMBER_NAME(panel_row_1), EMBER_NAME(panel_row_2), EMBER_NAME(panel_row_3),
                                     EMBER_NAME(panel_row_4)};
    const idx panel_width = EMBER_PANEL_VECTORS * LANES;
    for (idx first = 0; first < n; first += panel_width) {
        const idx width = n - first < panel_width ? n - first : panel_width;
        const int vectors = (int)(width / LANES);
        const T *panel = panels + first * k;
        idx r = 0;
        for (; r + EMBER_PANEL_ROWS <= m; r += EMBER_PANEL_ROWS)
            blocks[vectors - 1](a + r * lda, lda, k, panel, c + r * ldc + first, ldc);
        for (; r < m; r++)
            rows[vectors - 1](a + r * lda, lda, k, panel, c + r * ldc + first, ldc);
    }
}

/* c (m, n) = a (m, k) @ b: b (k, n), or its transpose (n, k) when `transposed`, packed here first; every
 * array C-contiguous (compiled.py checks). Returns 1, or 0 where n is no whole number of vectors or no memory
 * was left for the panels (c untouched). The recurrent kernels pack once and call panel_gemm per step; this
 * one call of both is what the tests and benchmarks/step_profile.py use. */
int EMBER_NAME(ember_panel_product)(const T *a, const T *b, T *c, idx m, idx k, idx n, int transposed)
{
    if (!EMBER_NAME(panel_fits)(n))
        return 0;
    if (k == 0 || m == 0) {  /* an empty sum: zeros */
        memset(c, 0, (size_t)(m * n) * sizeof(T));
        return 1;
    }
    T *panels = malloc((size_t)(k * n) * sizeof(T));
    if (!panels)
        return 0;
    EMBER_NAME(panel_pack)(b, transposed ? k : n, transposed, k, n, panels);
    EMBER_NAME(panel_gemm)(a, k, m, k, panels, n, c, n);
    free(panels);
    return 1;
}
