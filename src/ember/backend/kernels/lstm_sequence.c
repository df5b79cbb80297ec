/* A whole LSTM sequence (one direction of one layer), forward and backward through time, driven in C by a
 * team of threads (step_threads.h). A template over T (see ember_kernels.h).
 *
 * The rows of a batch are independent sequences, so the team shares the batch, not the steps: the rows are
 * cut into `blocks` blocks n0 <= n < n1 (one per thread), and each block runs every step on its own, with no
 * meeting between steps:
 *   forward:  hidden = h_prev[n0:n1] @ W_hh.T, one GEMM of (n_b, H) x (H, 4H) a step, then lstm.c's pass for
 *             those rows (gates, cell and hidden state);
 *   backward: lstm.c's pass for those rows (the gate gradients and the cell state's), then the gradient
 *             carried to h_prev[n0:n1], d_gates[t][n0:n1] @ W_hh, one GEMM of (n_b, 4H) x (4H, H) a step.
 * The blocks are tickets of one phase (step_threads.h); the backward's second phase, once every block is
 * done, sums over the whole batch: the weight and bias gradients, each piece a contiguous share of their 4H
 * rows (one GEMM over all steps, and one column sum).
 *
 * The steps' products run on W_hh packed once per call (panel_gemm.c: W_hh.T for the forward, W_hh for the
 * backward) where their widths allow and the sequence has at least EMBER_PANEL_MIN_STEPS steps; otherwise,
 * and for the weight gradient, they are the BLAS's own GEMM (cblas_sgemm/cblas_dgemm of the OpenBLAS NumPy
 * loaded), reached through the address compiled.py passes in, with 64-bit integers where that library uses
 * them (`ilp64`). The caller sets that BLAS to one thread (backend/threads.py, claim_cores), so each product
 * runs on the thread that calls it. Every array is C-contiguous; compiled.py checks the shapes. */

/* Packing W_hh costs about what one BLAS call's own packing does: worth it from a few steps on. Above
 * EMBER_PANEL_MAX_NUMBERS numbers (an LSTM of 1024 units) the packed copy's fresh memory costs more than a few
 * steps gain (H 2048, L 4, one thread: 16.2 against 12.5 ms a forward step; with L 12, 9.7 against 12.9). */
#define EMBER_PANEL_MIN_STEPS 4
#define EMBER_PANEL_MAX_NUMBERS ((idx)1 << 22)

typedef void (*EMBER_NAME(gemm64_fn))(int, int, int, long long, long long, long long, T, const T *, long long,
                                      const T *, long long, T, T *, long long);
typedef void (*EMBER_NAME(gemm32_fn))(int, int, int, int, int, int, T, const T *, int, const T *, int, T, T *,
                                      int);

/* c (m, n) = a @ b + beta c, a (m, k) or, transposed, (k, m), b (k, n) or, transposed, (n, k); row-major,
 * with leading dimensions. */
static void EMBER_NAME(blas_gemm)(void *gemm, int ilp64, int transpose_a, int transpose_b, idx m, idx n, idx k,
                                  const T *a, idx lda, const T *b, idx ldb, T beta, T *c, idx ldc)
{
    const int row_major = 101, no_transpose = 111, transpose = 112;
    const int op_a = transpose_a ? transpose : no_transpose, op_b = transpose_b ? transpose : no_transpose;
    if (ilp64)
        ((EMBER_NAME(gemm64_fn))gemm)(row_major, op_a, op_b, m, n, k, (T)1, a, lda, b, ldb, beta, c, ldc);
    else
        ((EMBER_NAME(gemm32_fn))gemm)(row_major, op_a, op_b, (int)m, (int)n, (int)k, (T)1, a, (int)lda, b,
                                      (int)ldb, beta, c, (int)ldc);
}

struct EMBER_NAME(lstm_sequence) {
    /* forward */
    const T *x, *bias, *h0, *c0, *weight;
    T *hidden, *gates, *cs, *tanh_cs, *hs;
    /* backward */
    const T *grad_hs, *grad_cs;
    T *d_gates, *carry_h, *carry_c, *grad_weight, *grad_bias;
    int need_h0;
    /* both */
    idx steps, batch, size;
    int reverse;
    void *gemm;
    int ilp64;
    T *panels;  /* W_hh packed for the steps' products (panel_gemm.c), or NULL: the BLAS's GEMM */
    struct ember_tickets tickets;
};

/* W_hh (width, size: G H by H) packed for a sequence's step products, (rows, k) @ (k, n): W_hh.T (k = size, n = width)
 * when `transposed`, else W_hh (k = width, n = size); NULL (the BLAS's GEMM) for short sequences, widths the
 * panels do not take, or no memory. Freed by the caller. */
static T *EMBER_NAME(sequence_panels)(const T *weight, idx width, idx size, idx steps, int transposed)
{
    const idx n = transposed ? width : size;
    if (steps < EMBER_PANEL_MIN_STEPS || width * size > EMBER_PANEL_MAX_NUMBERS || !EMBER_NAME(panel_fits)(n))
        return NULL;
    T *panels = malloc((size_t)(width * size) * sizeof(T));
    if (panels)
        EMBER_NAME(panel_pack)(weight, size, transposed, transposed ? size : width, n, panels);
    return panels;
}

/* One step's product for `rows` rows, by W_hh (width, size): c (rows, width) = a (rows, size) @ W_hh.T in the
 * forward, c (rows, size) = a (rows, width) @ W_hh in the backward; on the panels sequence_panels packed for
 * that direction, or by the BLAS where it packed none. Shared with gru_sequence.c. */
static void EMBER_NAME(step_product)(const T *panels, void *gemm, int ilp64, int forward, idx rows, idx width,
                                     idx size, const T *a, const T *weight, T *c)
{
    const idx k = forward ? size : width, n = forward ? width : size;
    if (panels)
        EMBER_NAME(panel_gemm)(a, k, rows, k, panels, n, c, n);
    else
        EMBER_NAME(blas_gemm)(gemm, ilp64, 0, forward, rows, n, k, a, k, weight, size, (T)0, c, n);
}

static void EMBER_NAME(lstm_sequence_forward_work)(void *context)
{
    struct EMBER_NAME(lstm_sequence) *s = context;
    const idx batch = s->batch, size = s->size, width = 4 * size, state = batch * size;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        idx n0, n1;
        ember_share(batch, s->tickets.pieces, ticket, &n0, &n1);
        const idx rows = n1 - n0;
        T *hidden = s->hidden + n0 * width;  /* this block's rows of h_prev @ W_hh.T */
        for (idx done = 0; done < s->steps && rows > 0; done++) {
            const idx t = s->reverse ? s->steps - 1 - done : done;
            const idx previous = done == 0 ? -1 : (s->reverse ? t + 1 : t - 1);
            const T *h_prev = previous < 0 ? s->h0 : s->hs + previous * state;
            const T *c_prev = previous < 0 ? s->c0 : s->cs + previous * state;
            EMBER_NAME(step_product)(s->panels, s->gemm, s->ilp64, 1, rows, width, size, h_prev + n0 * size,
                                     s->weight, hidden);
            const idx at = t * state + n0 * size, gate_at = (t * batch + n0) * width;
            EMBER_NAME(ember_lstm_forward)(hidden, s->x + gate_at, s->bias, c_prev + n0 * size,
                                           s->gates + gate_at, s->cs + at, s->tanh_cs + at, s->hs + at, rows, size);
        }
        ember_ticket_done(&s->tickets);
    }
}

/* Rows first..stop-1 (of G H) of d_bias = sum over t and n of d and of dW_hh = sum over t of d[t].T @ h_prev(t),
 * for a sequence's gradients d (L, N, G H) with respect to its hidden products (LSTM: the gates'; GRU: those
 * of h_prev @ W_hh.T), each where asked for: for dW_hh, the sums over every step that read a previous hidden
 * state (those rows of hs (L, N, H) are contiguous) plus the step that read h0, in strips of rows whole vectors
 * wide (thin_gemm.c's strip_sums_add), else two BLAS GEMMs. Shared with gru_sequence.c. */
static void EMBER_NAME(sequence_parameter_grads)(const T *d, idx width, const T *hs, const T *h0, idx steps,
                                                 idx batch, idx size, int reverse, T *grad_weight, T *grad_bias,
                                                 void *gemm, int ilp64, idx first, idx stop)
{
    const idx count = stop - first;
    if (count <= 0)
        return;
    if (grad_bias) {  /* one pass over these columns of every row */
        T *restrict sums = grad_bias + first;
        for (idx j = 0; j < count; j++)
            sums[j] = 0;
        for (idx row = 0; row < steps * batch; row++) {
            const T *restrict values = d + row * width + first;
            for (idx j = 0; j < count; j++)
                sums[j] += values[j];
        }
    }
    if (!grad_weight)
        return;
    const idx h0_step = reverse ? steps - 1 : 0;
    const T *later = d + (reverse ? 0 : batch * width);  /* the steps that read hs[t -+ 1] */
    const T *read = hs + (reverse ? batch * size : 0);  /* the hidden states they read, in order */
    const T *h0_grads = d + h0_step * batch * width;
    T *sums = first % LANES == 0 && count % LANES == 0
                  ? malloc((size_t)(size * EMBER_THIN_STRIP) * sizeof(T)) : NULL;
    if (sums) {  /* strips of outputs in register blocks over every row (thin_gemm.c): 245 GFLOP/s a core, where
                    the BLAS's transposed GEMM ran at 180 */
        for (idx o0 = first; o0 < stop; o0 += EMBER_THIN_STRIP) {
            const int vectors = (int)((stop - o0 < EMBER_THIN_STRIP ? stop - o0 : EMBER_THIN_STRIP) / LANES);
            memset(sums, 0, (size_t)(size * EMBER_THIN_STRIP) * sizeof(T));
            if (steps > 1)
                EMBER_NAME(strip_sums_add)(read, later + o0, (steps - 1) * batch, size, width, vectors, sums);
            EMBER_NAME(strip_sums_add)(h0, h0_grads + o0, batch, size, width, vectors, sums);
            for (idx f = 0; f < size; f++)
                for (idx o = 0; o < vectors * LANES; o++)
                    grad_weight[(o0 + o) * size + f] = sums[f * EMBER_THIN_STRIP + o];
        }
        free(sums);
        return;
    }
    T *rows = grad_weight + first * size;
    if (steps > 1)
        EMBER_NAME(blas_gemm)(gemm, ilp64, 1, 0, count, size, (steps - 1) * batch, later + first, width, read, size,
                              (T)0, rows, size);
    EMBER_NAME(blas_gemm)(gemm, ilp64, 1, 0, count, size, batch, h0_grads + first, width, h0, size,
                          steps > 1 ? (T)1 : (T)0, rows, size);
}

/* The share `part` of `parts` of a parameter gradient's `width` rows: whole vectors where width is a whole
 * number of them, so that sequence_parameter_grads can take them in strips. */
static void EMBER_NAME(parameter_share)(idx width, idx parts, idx part, idx *first, idx *stop)
{
    const idx unit = width % LANES == 0 ? LANES : 1;
    ember_share(width / unit, parts, part, first, stop);
    *first *= unit;
    *stop *= unit;
}

static void EMBER_NAME(lstm_sequence_backward_work)(void *context)
{
    struct EMBER_NAME(lstm_sequence) *s = context;
    const idx batch = s->batch, size = s->size, width = 4 * size, state = batch * size;
    const idx blocks = s->tickets.pieces;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        idx first, stop;
        if (ticket >= blocks) {  /* second phase: a share of the parameter gradients' 4H rows */
            EMBER_NAME(parameter_share)(width, blocks, ticket - blocks, &first, &stop);
            EMBER_NAME(sequence_parameter_grads)(s->d_gates, width, s->hs, s->h0, s->steps, batch, size, s->reverse,
                                                 s->grad_weight, s->grad_bias, s->gemm, s->ilp64, first, stop);
            ember_ticket_done(&s->tickets);
            continue;
        }
        idx n0, n1;
        ember_share(batch, blocks, ticket, &n0, &n1);
        const idx rows = n1 - n0, row_at = n0 * size;
        for (idx done = 0; done < s->steps && rows > 0; done++) {
            const idx t = s->reverse ? done : s->steps - 1 - done;
            const idx previous = s->reverse ? (t == s->steps - 1 ? -1 : t + 1) : t - 1;
            const T *c_prev = previous < 0 ? s->c0 : s->cs + previous * state;
            const idx at = t * state + row_at, gate_at = (t * batch + n0) * width;
            /* the cell state's gradient alternates between the two halves of carry_c */
            EMBER_NAME(ember_lstm_backward)(s->grad_hs + at, s->carry_h + row_at, s->grad_cs + at,
                                            s->carry_c + (done % 2) * state + row_at, s->gates + gate_at,
                                            c_prev + row_at, s->tanh_cs + at, s->d_gates + gate_at,
                                            s->carry_c + (1 - done % 2) * state + row_at, rows, size);
            if (previous >= 0 || s->need_h0)
                EMBER_NAME(step_product)(s->panels, s->gemm, s->ilp64, 0, rows, width, size, s->d_gates + gate_at,
                                         s->weight, s->carry_h + row_at);
        }
        ember_ticket_done(&s->tickets);
    }
}

/* Forward: x and gates (L, N, 4H), the input projections and (out) the activated gates; h0, c0 (N, H);
 * weight W_hh (4H, H); bias (4H,) (zeros for none); hidden (N, 4H) is scratch; cs, tanh_cs, hs (L, N, H)
 * out. Steps run from L-1 to 0 when `reverse`. Returns the threads that ran. */
int EMBER_NAME(ember_lstm_sequence_forward)(const T *x, const T *bias, const T *h0, const T *c0,
                                            const T *weight, T *hidden, T *gates, T *cs, T *tanh_cs, T *hs,
                                            idx steps, idx batch, idx size, int reverse, int threads, void *gemm,
                                            int ilp64)
{
    struct EMBER_NAME(lstm_sequence) s = {0};
    s.x = x, s.bias = bias, s.h0 = h0, s.c0 = c0, s.weight = weight;
    s.hidden = hidden, s.gates = gates, s.cs = cs, s.tanh_cs = tanh_cs, s.hs = hs;
    s.steps = steps, s.batch = batch, s.size = size, s.reverse = reverse, s.gemm = gemm, s.ilp64 = ilp64;
    const idx blocks = ember_team_size(threads, batch);
    s.tickets = (struct ember_tickets){0, 0, blocks, blocks};
    s.panels = EMBER_NAME(sequence_panels)(weight, 4 * size, size, steps, 1);
    const int ran = ember_team_run(EMBER_NAME(lstm_sequence_forward_work), &s, (int)blocks);
    free(s.panels);
    return ran;
}

/* Backward of the forward above: grad_hs, grad_cs (L, N, H) the gradients of hs and cs; gates, cs, tanh_cs, hs
 * as the forward wrote them; h0, c0 (N, H); weight W_hh (4H, H); d_gates (L, N, 4H) out; carry_h (N, H) out,
 * the gradient of h0 when need_h0; carry_c (2, N, H) with carry_c[0] zero: the gradient of c0 ends in
 * carry_c[returned value]; grad_weight (4H, H) and grad_bias (4H,) out, each where not NULL. */
int EMBER_NAME(ember_lstm_sequence_backward)(const T *grad_hs, const T *grad_cs, const T *gates, const T *cs,
                                             const T *h0, const T *c0, const T *tanh_cs, const T *hs,
                                             const T *weight, T *d_gates, T *carry_h, T *carry_c, T *grad_weight,
                                             T *grad_bias, idx steps, idx batch, idx size, int reverse,
                                             int need_h0, int threads, void *gemm, int ilp64)
{
    struct EMBER_NAME(lstm_sequence) s = {0};
    s.grad_hs = grad_hs, s.grad_cs = grad_cs, s.gates = (T *)gates, s.cs = (T *)cs, s.h0 = h0, s.c0 = c0;
    s.tanh_cs = (T *)tanh_cs, s.hs = (T *)hs, s.weight = weight, s.d_gates = d_gates, s.carry_h = carry_h;
    s.carry_c = carry_c, s.grad_weight = grad_weight, s.grad_bias = grad_bias;
    s.need_h0 = need_h0, s.steps = steps, s.batch = batch, s.size = size, s.reverse = reverse;
    s.gemm = gemm, s.ilp64 = ilp64;
    const idx blocks = ember_team_size(threads, batch);
    const idx phases = grad_weight || grad_bias ? 2 : 1;
    s.tickets = (struct ember_tickets){0, 0, blocks, phases * blocks};
    memset(carry_h, 0, (size_t)(batch * size) * sizeof(T));  /* nothing is carried into the last step */
    s.panels = EMBER_NAME(sequence_panels)(weight, 4 * size, size, steps, 0);
    ember_team_run(EMBER_NAME(lstm_sequence_backward_work), &s, (int)blocks);
    free(s.panels);
    return (int)(steps % 2);
}
