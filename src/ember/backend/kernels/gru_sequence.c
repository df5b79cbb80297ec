/* A whole GRU sequence (one direction of one layer), forward and backward through time, driven in C by a team
 * of threads (step_threads.h) that share the batch's rows, as lstm_sequence.c does for the LSTM (whose
 * step products, share and parameter-gradient helpers it uses: W_hh packed once per call where the widths
 * allow). A template over T (see ember_kernels.h).
 *
 * Each block of rows n0 <= n < n1 runs every step on its own:
 *   forward:  hidden = h_prev[n0:n1] @ W_hh.T, one GEMM of (n_b, H) x (H, 3H) a step, then lstm.c's GRU pass
 *             for those rows (gates r, z; n; hidden_n; h);
 *   backward: lstm.c's GRU backward pass for those rows (d_x, d_hidden and dh * z), then the part of the
 *             gradient carried to h_prev[n0:n1] that goes through the product, d_hidden[t][n0:n1] @ W_hh, one
 *             GEMM of (n_b, 3H) x (3H, H) a step.
 * Then, over the whole batch, W_hh's and the bias's gradients from d_hidden. */

struct EMBER_NAME(gru_sequence) {
    const T *x, *bias, *h0, *weight;
    T *hidden, *gates, *ns, *hidden_ns, *hs;
    const T *grad_hs;
    T *d_x, *d_hidden, *carry_gemm, *carry_z, *grad_weight, *grad_bias;
    int need_h0;
    idx steps, batch, size;
    int reverse;
    void *gemm;
    int ilp64;
    T *panels;  /* W_hh packed for the steps' products, or NULL: the BLAS's GEMM (lstm_sequence.c) */
    struct ember_tickets tickets;
};

static void EMBER_NAME(gru_sequence_forward_work)(void *context)
{
    struct EMBER_NAME(gru_sequence) *s = context;
    const idx batch = s->batch, size = s->size, width = 3 * size, state = batch * size;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        idx n0, n1;
        ember_share(batch, s->tickets.pieces, ticket, &n0, &n1);
        const idx rows = n1 - n0;
        T *hidden = s->hidden + n0 * width;
        for (idx done = 0; done < s->steps && rows > 0; done++) {
            const idx t = s->reverse ? s->steps - 1 - done : done;
            const idx previous = done == 0 ? -1 : (s->reverse ? t + 1 : t - 1);
            const T *h_prev = (previous < 0 ? s->h0 : s->hs + previous * state) + n0 * size;
            EMBER_NAME(step_product)(s->panels, s->gemm, s->ilp64, 1, rows, width, size, h_prev, s->weight, hidden);
            const idx at = t * state + n0 * size;
            EMBER_NAME(ember_gru_forward)(hidden, s->x + (t * batch + n0) * width, s->bias, h_prev,
                                          s->gates + (t * batch + n0) * 2 * size, s->ns + at, s->hidden_ns + at,
                                          s->hs + at, rows, size);
        }
        ember_ticket_done(&s->tickets);
    }
}

static void EMBER_NAME(gru_sequence_backward_work)(void *context)
{
    struct EMBER_NAME(gru_sequence) *s = context;
    const idx batch = s->batch, size = s->size, width = 3 * size, state = batch * size;
    const idx blocks = s->tickets.pieces;
    long long ticket;
    while ((ticket = ember_ticket_take(&s->tickets)) >= 0) {
        idx first, stop;
        if (ticket >= blocks) {  /* second phase: a share of the parameter gradients' 3H rows */
            EMBER_NAME(parameter_share)(width, blocks, ticket - blocks, &first, &stop);
            EMBER_NAME(sequence_parameter_grads)(s->d_hidden, width, s->hs, s->h0, s->steps, batch, size,
                                                 s->reverse, s->grad_weight, s->grad_bias, s->gemm, s->ilp64, first,
                                                 stop);
            ember_ticket_done(&s->tickets);
            continue;
        }
        idx n0, n1;
        ember_share(batch, blocks, ticket, &n0, &n1);
        const idx rows = n1 - n0, row_at = n0 * size;
        for (idx done = 0; done < s->steps && rows > 0; done++) {
            const idx t = s->reverse ? done : s->steps - 1 - done;
            const idx previous = s->reverse ? (t == s->steps - 1 ? -1 : t + 1) : t - 1;
            const T *h_prev = (previous < 0 ? s->h0 : s->hs + previous * state) + row_at;
            const idx at = t * state + row_at, wide_at = (t * batch + n0) * width;
            /* dh * z alternates between the two halves of carry_z */
            EMBER_NAME(ember_gru_backward)(s->grad_hs + at, s->carry_gemm + row_at,
                                           s->carry_z + (done % 2) * state + row_at,
                                           s->gates + (t * batch + n0) * 2 * size, s->ns + at, s->hidden_ns + at,
                                           h_prev, s->d_x + wide_at, s->d_hidden + wide_at,
                                           s->carry_z + (1 - done % 2) * state + row_at, rows, size);
            if (previous >= 0 || s->need_h0)
                EMBER_NAME(step_product)(s->panels, s->gemm, s->ilp64, 0, rows, width, size, s->d_hidden + wide_at,
                                         s->weight, s->carry_gemm + row_at);
        }
        ember_ticket_done(&s->tickets);
    }
}

/* Forward: x (L, N, 3H) the input projections; h0 (N, H); weight W_hh (3H, H); bias (3H,) (zeros for none);
 * hidden (N, 3H) is scratch; gates (L, N, 2H), ns, hidden_ns, hs (L, N, H) out (lstm.c's GRU pass). Steps run
 * from L-1 to 0 when `reverse`. Returns the threads that ran. */
int EMBER_NAME(ember_gru_sequence_forward)(const T *x, const T *bias, const T *h0, const T *weight, T *hidden,
                                           T *gates, T *ns, T *hidden_ns, T *hs, idx steps, idx batch, idx size,
                                           int reverse, int threads, void *gemm, int ilp64)
{
    struct EMBER_NAME(gru_sequence) s = {0};
    s.x = x, s.bias = bias, s.h0 = h0, s.weight = weight, s.hidden = hidden, s.gates = gates, s.ns = ns;
    s.hidden_ns = hidden_ns, s.hs = hs, s.steps = steps, s.batch = batch, s.size = size, s.reverse = reverse;
    s.gemm = gemm, s.ilp64 = ilp64;
    const idx blocks = ember_team_size(threads, batch);
    s.tickets = (struct ember_tickets){0, 0, blocks, blocks};
    s.panels = EMBER_NAME(sequence_panels)(weight, 3 * size, size, steps, 1);
    const int ran = ember_team_run(EMBER_NAME(gru_sequence_forward_work), &s, (int)blocks);
    free(s.panels);
    return ran;
}

/* Backward of the forward above: grad_hs (L, N, H); gates, ns, hidden_ns, hs as the forward wrote them; h0
 * (N, H); weight W_hh (3H, H); d_x and d_hidden (L, N, 3H) out; carry_gemm (N, H) out and carry_z (2, N, H)
 * with carry_z[0] zero: the gradient of h0, when need_h0, is carry_gemm + carry_z[returned value];
 * grad_weight (3H, H) and grad_bias (3H,) out, each where not NULL. */
int EMBER_NAME(ember_gru_sequence_backward)(const T *grad_hs, const T *gates, const T *ns, const T *hidden_ns,
                                            const T *hs, const T *h0, const T *weight, T *d_x, T *d_hidden,
                                            T *carry_gemm, T *carry_z, T *grad_weight, T *grad_bias, idx steps,
                                            idx batch, idx size, int reverse, int need_h0, int threads, void *gemm,
                                            int ilp64)
{
    struct EMBER_NAME(gru_sequence) s = {0};
    s.grad_hs = grad_hs, s.gates = (T *)gates, s.ns = (T *)ns, s.hidden_ns = (T *)hidden_ns, s.hs = (T *)hs;
    s.h0 = h0, s.weight = weight, s.d_x = d_x, s.d_hidden = d_hidden, s.carry_gemm = carry_gemm;
    s.carry_z = carry_z, s.grad_weight = grad_weight, s.grad_bias = grad_bias, s.need_h0 = need_h0;
    s.steps = steps, s.batch = batch, s.size = size, s.reverse = reverse, s.gemm = gemm, s.ilp64 = ilp64;
    const idx blocks = ember_team_size(threads, batch);
    const idx phases = grad_weight || grad_bias ? 2 : 1;
    s.tickets = (struct ember_tickets){0, 0, blocks, phases * blocks};
    memset(carry_gemm, 0, (size_t)(batch * size) * sizeof(T));  /* nothing is carried into the last step */
    s.panels = EMBER_NAME(sequence_panels)(weight, 3 * size, size, steps, 0);
    ember_team_run(EMBER_NAME(gru_sequence_backward_work), &s, (int)blocks);
    free(s.panels);
    return (int)(steps % 2);
}
