/* A whole LSTM sequence (one direction of one layer), forward and backward through time, its steps driven in
 * C by a team of threads (step_threads.h) that share every step. A template over T (see ember_kernels.h).
 *
 * The hidden units are cut into `pieces` blocks u0 <= u < u1 (one per thread of the team); a step's work on
 * one block is one ticket (step_threads.h):
 *   forward:  hidden = h_prev @ W_b.T, one GEMM of (N, H) x (H, 4 n_b), where W_b holds the rows of W_hh of
 *             the block's four gates (copied once per call); then the gates, cell and hidden state of the
 *             block's units (lstm.c's formulas). A step is one phase: the next step's product reads every
 *             unit of h.
 *   backward: two phases a step: the gate gradients of the block's units (lstm.c's formulas, with the
 *             gradients carried to those units), then, once every gate's gradient is there, the hidden
 *             state's gradient for the block's units, d_gates[t] @ W_hh[:, u0:u1], one GEMM of (N, 4H) x
 *             (4H, n_b). After the last step, a last phase: the weight and bias gradients, each piece a
 *             contiguous share of their 4H rows (one GEMM over all steps, and one column sum).
 * So a step costs an atomic add and a wait per piece, not a hand-off of work through a queue and a wake-up.
 *
 * The products are the BLAS's own GEMM (cblas_sgemm/cblas_dgemm of the OpenBLAS NumPy loaded), reached
 * through the address compiled.py passes in, with 64-bit integers where that library uses them (`ilp64`).
 * The caller sets that BLAS to one thread (backend/threads.py, claim_cores), so each product runs on the
 * thread that calls it. Every array is C-contiguous; compiled.py checks the shapes. The numbers do not
 * depend on which thread did which piece, only on the blocks (the team's requested size). */

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

/* The activated gate `pre = (hidden + bias) + x` of `units` units (tanh for the cell gate, else sigmoid). */
static inline void EMBER_NAME(lstm_activate_units)(const T *restrict hidden, const T *restrict bias,
                                                   const T *restrict x, T *restrict gate, idx units, int tanh_gate)
{
    if (tanh_gate) {
        for (idx j = 0; j < units; j++)
            gate[j] = EMBER_NAME(lstm_tanh)((hidden[j] + bias[j]) + x[j]);
    } else {
        for (idx j = 0; j < units; j++)
            gate[j] = EMBER_NAME(lstm_sigmoid)((hidden[j] + bias[j]) + x[j]);
    }
}

/* The cell and hidden state of `units` units of one row (lstm.c's formulas), from their gates. */
static inline void EMBER_NAME(lstm_cell_units)(const T *restrict i, const T *restrict f, const T *restrict g,
                                               const T *restrict o, const T *restrict c_in, T *restrict c_out,
                                               T *restrict tanh_out, T *restrict h_out, idx units)
{
    for (idx k = 0; k < units; k++) {
        T cell = f[k] * c_in[k] + i[k] * g[k];
        T squashed = EMBER_NAME(lstm_tanh)(cell);
        c_out[k] = cell;
        tanh_out[k] = squashed;
        h_out[k] = o[k] * squashed;
    }
}

/* The gate gradients of `units` units of one row and the gradient of the cell state they read (lstm.c's
 * formulas); gates, d_gates point at gate i of the first unit, the others `size` numbers apart. */
static inline void EMBER_NAME(lstm_gate_grads_units)(const T *restrict gates, T *restrict d_gates,
                                                     const T *restrict grad_h, const T *restrict carry_h,
                                                     const T *restrict grad_c, const T *restrict carry_c,
                                                     const T *restrict tanh_c, const T *restrict c_in,
                                                     T *restrict grad_c_in, idx size, idx units)
{
    const T *restrict i = gates, *restrict f = gates + size, *restrict g = gates + 2 * size;
    const T *restrict o = gates + 3 * size;
    T *restrict d_i = d_gates, *restrict d_f = d_gates + size, *restrict d_g = d_gates + 2 * size;
    T *restrict d_o = d_gates + 3 * size;
    for (idx k = 0; k < units; k++) {
        T dh = grad_h[k] + carry_h[k];
        T dc = grad_c[k] + carry_c[k];
        T squashed = tanh_c[k];
        T d_c = dc + dh * o[k] * ((T)1 - squashed * squashed);
        d_i[k] = d_c * g[k] * i[k] * ((T)1 - i[k]);
        d_f[k] = d_c * c_in[k] * f[k] * ((T)1 - f[k]);
        d_g[k] = d_c * i[k] * ((T)1 - g[k] * g[k]);
        d_o[k] = dh * squashed * o[k] * ((T)1 - o[k]);
        grad_c_in[k] = d_c * f[k];
    }
}

struct EMBER_NAME(lstm_sequence) {
    /* forward */
    const T *x, *bias, *h0, *c0, *weight;
    T *weight_rows, *hidden, *gates, *cs, *tanh_cs, *hs;
    /* backward */
    const T *grad_hs, *grad_cs;
    T *d_gates, *carry_h, *carry_c, *grad_weight, *grad_bias;
    int need_h0;
    /* both */
    idx steps, batch, size;
    int reverse;
    void *gemm;
    int ilp64;
    struct ember_tickets tickets;
};

/* The units u0..u1-1 of block `block` of `blocks`. */
static void EMBER_NAME(lstm_block)(idx size, idx blocks, idx block, idx *u0, idx *u1)
{
    *u0 = size * block / blocks;
    *u1 = size * (block + 1) / blocks;
}

static void EMBER_NAME(lstm_sequence_forward_work)(void *context)
{
    struct EMBER_NAME(lstm_sequence) *s = context;
    const idx batch = s->batch, size = s->size, width = 4 * size, blocks = s->tickets.pieces;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        const idx done = ticket / blocks;
        idx u0, u1;
        EMBER_NAME(lstm_block)(size, blocks, ticket % blocks, &u0, &u1);
        const idx units = u1 - u0;
        const idx t = s->reverse ? s->steps - 1 - done : done;
        const idx previous = done == 0 ? -1 : (s->reverse ? t + 1 : t - 1);
        const T *h_prev = previous < 0 ? s->h0 : s->hs + previous * batch * size;
        const T *c_prev = previous < 0 ? s->c0 : s->cs + previous * batch * size;
        /* the block's rows of W_hh (gates i, f, g, o of its units) and its (N, 4 n_b) product */
        const T *weight_rows = s->weight_rows + 4 * u0 * size;
        T *hidden = s->hidden + 4 * u0 * batch;
        if (units > 0)
            EMBER_NAME(blas_gemm)(s->gemm, s->ilp64, 0, 1, batch, 4 * units, size, h_prev, size, weight_rows,
                                  size, (T)0, hidden, 4 * units);
        for (idx n = 0; n < batch && units > 0; n++) {
            const T *hidden_row = hidden + n * 4 * units;
            const T *x_row = s->x + (t * batch + n) * width;
            T *gate_row = s->gates + (t * batch + n) * width;
            for (idx q = 0; q < 4; q++) {
                const idx at = q * size + u0;
                EMBER_NAME(lstm_activate_units)(hidden_row + q * units, s->bias + at, x_row + at, gate_row + at,
                                                units, q == 2);
            }
            const idx row = (t * batch + n) * size + u0;
            EMBER_NAME(lstm_cell_units)(gate_row + u0, gate_row + size + u0, gate_row + 2 * size + u0,
                                        gate_row + 3 * size + u0, c_prev + n * size + u0, s->cs + row,
                                        s->tanh_cs + row, s->hs + row, units);
        }
        ember_ticket_done(&s->tickets);
    }
}

/* Rows first..first+count-1 (of 4H) of d_bias = sum over t and n of d_gates and of dW_hh = sum over t of
 * d_gates[t].T @ h_prev(t), each where asked for: for dW_hh, one GEMM over every step that read a previous
 * hidden state (those rows of hs are contiguous) plus one for the step that read h0. */
static void EMBER_NAME(lstm_parameter_grads)(struct EMBER_NAME(lstm_sequence) *s, idx first, idx count)
{
    const idx batch = s->batch, size = s->size, width = 4 * size, steps = s->steps;
    if (s->grad_bias) {  /* one pass over these columns of every row */
        T *restrict sums = s->grad_bias + first;
        for (idx j = 0; j < count; j++)
            sums[j] = 0;
        for (idx row = 0; row < steps * batch; row++) {
            const T *restrict values = s->d_gates + row * width + first;
            for (idx j = 0; j < count; j++)
                sums[j] += values[j];
        }
    }
    if (!s->grad_weight)
        return;
    const idx h0_step = s->reverse ? steps - 1 : 0;
    const T *later = s->d_gates + (s->reverse ? 0 : batch * width);  /* the steps that read hs[t -+ 1] */
    const T *read = s->hs + (s->reverse ? batch * size : 0);  /* the hidden states they read, in order */
    T *rows = s->grad_weight + first * size;
    if (steps > 1)
        EMBER_NAME(blas_gemm)(s->gemm, s->ilp64, 1, 0, count, size, (steps - 1) * batch, later + first, width, read,
                              size, (T)0, rows, size);
    EMBER_NAME(blas_gemm)(s->gemm, s->ilp64, 1, 0, count, size, batch, s->d_gates + h0_step * batch * width + first,
                          width, s->h0, size, steps > 1 ? (T)1 : (T)0, rows, size);
}

static void EMBER_NAME(lstm_sequence_backward_work)(void *context)
{
    struct EMBER_NAME(lstm_sequence) *s = context;
    const idx batch = s->batch, size = s->size, width = 4 * size, state = batch * size;
    const idx blocks = s->tickets.pieces;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        const idx phase = ticket / blocks, done = phase / 2;
        idx u0, u1;
        EMBER_NAME(lstm_block)(size, blocks, ticket % blocks, &u0, &u1);
        const idx units = u1 - u0;
        const idx t = s->reverse ? done : s->steps - 1 - done;
        const idx previous = s->reverse ? (t == s->steps - 1 ? -1 : t + 1) : t - 1;
        if (phase == 2 * s->steps) {  /* after the last step: a share of the parameter gradients' rows */
            const idx block = ticket % blocks, first = width * block / blocks;
            EMBER_NAME(lstm_parameter_grads)(s, first, width * (block + 1) / blocks - first);
        } else if (phase % 2 == 0) {  /* the gate gradients of the block's units */
            const T *c_prev = previous < 0 ? s->c0 : s->cs + previous * state;
            const T *carry_c = s->carry_c + (done % 2) * state;
            T *next_c = s->carry_c + (1 - done % 2) * state;
            for (idx n = 0; n < batch; n++) {
                const idx gate_at = (t * batch + n) * width + u0, at = t * state + n * size + u0;
                const idx row = n * size + u0;
                EMBER_NAME(lstm_gate_grads_units)(s->gates + gate_at, s->d_gates + gate_at, s->grad_hs + at,
                                                  s->carry_h + row, s->grad_cs + at, carry_c + row,
                                                  s->tanh_cs + at, c_prev + row, next_c + row, size, units);
            }
        } else if ((previous >= 0 || s->need_h0) && units > 0) {  /* the gradient carried to h_prev */
            EMBER_NAME(blas_gemm)(s->gemm, s->ilp64, 0, 0, batch, units, width, s->d_gates + t * batch * width,
                                  width, s->weight + u0, size, (T)0, s->carry_h + u0, size);
        }
        ember_ticket_done(&s->tickets);
    }
}

static idx EMBER_NAME(lstm_blocks)(int threads, idx size)
{
    idx blocks = threads < 1 ? 1 : threads;
    return blocks > size ? size : blocks;
}

/* Forward: x and gates (L, N, 4H), the input projections and (out) the activated gates; h0, c0 (N, H);
 * weight W_hh (4H, H); bias (4H,) (zeros for none); weight_rows (4H, H) and hidden (N, 4H) are scratch;
 * cs, tanh_cs, hs (L, N, H) out. Steps run from L-1 to 0 when `reverse`. Returns the threads that ran. */
int EMBER_NAME(ember_lstm_sequence_forward)(const T *x, const T *bias, const T *h0, const T *c0,
                                            const T *weight, T *weight_rows, T *hidden, T *gates, T *cs,
                                            T *tanh_cs, T *hs, idx steps, idx batch, idx size, int reverse,
                                            int threads, void *gemm, int ilp64)
{
    struct EMBER_NAME(lstm_sequence) s = {0};
    s.x = x, s.bias = bias, s.h0 = h0, s.c0 = c0, s.weight = weight;
    s.weight_rows = weight_rows, s.hidden = hidden, s.gates = gates, s.cs = cs, s.tanh_cs = tanh_cs, s.hs = hs;
    s.steps = steps, s.batch = batch, s.size = size, s.reverse = reverse, s.gemm = gemm, s.ilp64 = ilp64;
    const idx blocks = EMBER_NAME(lstm_blocks)(threads, size);
    s.tickets = (struct ember_tickets){0, 0, blocks, steps * blocks};
    for (idx block = 0; block < blocks; block++) {  /* each block's rows of W_hh together, gate by gate */
        idx u0, u1;
        EMBER_NAME(lstm_block)(size, blocks, block, &u0, &u1);
        for (idx q = 0; q < 4; q++)
            memcpy(weight_rows + (4 * u0 + q * (u1 - u0)) * size, weight + (q * size + u0) * size,
                   (size_t)((u1 - u0) * size) * sizeof(T));
    }
    return ember_team_run(EMBER_NAME(lstm_sequence_forward_work), &s, (int)blocks);
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
    const idx blocks = EMBER_NAME(lstm_blocks)(threads, size);
    const idx phases = 2 * steps + (grad_weight || grad_bias ? 1 : 0);
    s.tickets = (struct ember_tickets){0, 0, blocks, phases * blocks};
    memset(carry_h, 0, (size_t)(batch * size) * sizeof(T));  /* nothing is carried into the last step */
    ember_team_run(EMBER_NAME(lstm_sequence_backward_work), &s, (int)blocks);
    return (int)(steps % 2);
}
