/* One LSTM step's elementwise part, forward and backward, each in one pass (gates i, f, g, o, PyTorch's
 * order), and one GRU step's (at the end). A template over T (see ember_kernels.h).
 *
 * The hidden product h @ W_hh.T stays a GEMM in NumPy; these kernels do everything else of a step, so that
 * a step is one GEMM and one pass instead of a GEMM and ten (forward) or twenty (backward) NumPy passes.
 * Rows are the batch (N), each row 4H gates wide; every array is C-contiguous, which compiled.py checks.
 *
 * The activations use exp from a polynomial rather than libm's, so that the loops vectorize:
 * sigmoid(x) = 1 / (1 + exp(-x)) to within a few ulps; tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|),
 * to within a few ulps of 1 (its error is absolute, not relative, near 0). The NumPy path (tanh-based
 * sigmoid, NumPy's tanh) is the reference; the two agree to a few ulps of 1, not bit for bit. */

/* exp(x) for x in [-limit, limit] (clamped there: float 87, double 708, so that 2^k stays normal):
 * x = k ln2 + r, |r| <= ln2 / 2, exp(r) by its Taylor series to degree 7 (float) or 13 (double), both
 * below half an ulp of truncation error, times 2^k built in the exponent bits. */
static inline T EMBER_NAME(lstm_exp)(T x)
{
    const int single = sizeof(T) == 4;
    const T limit = single ? (T)87 : (T)708;
    x = x < -limit ? -limit : (x > limit ? limit : x);
    /* round x / ln2 to the nearest integer by adding and subtracting 1.5 * 2^(mantissa bits) */
    const T shifter = single ? (T)12582912.0 : (T)6755399441055744.0;
    T k = x * (T)1.4426950408889634 + shifter;
    k = k - shifter;
    /* ln2 in two parts, the first with few enough bits that k * ln2_hi is exact (Cephes' split) */
    const T ln2_hi = single ? (T)0.693359375 : (T)0.693145751953125;
    const T ln2_lo = single ? (T)-2.12194440e-4 : (T)1.42860682030941723212e-6;
    T r = x - k * ln2_hi;
    r = r - k * ln2_lo;
    T p;
    if (single) {
        p = (T)(1.0 / 5040);
        p = p * r + (T)(1.0 / 720);
        p = p * r + (T)(1.0 / 120);
        p = p * r + (T)(1.0 / 24);
        p = p * r + (T)(1.0 / 6);
        p = p * r + (T)0.5;
    } else {
        p = (T)(1.0 / 6227020800.0);
        p = p * r + (T)(1.0 / 479001600.0);
        p = p * r + (T)(1.0 / 39916800.0);
        p = p * r + (T)(1.0 / 3628800.0);
        p = p * r + (T)(1.0 / 362880.0);
        p = p * r + (T)(1.0 / 40320.0);
        p = p * r + (T)(1.0 / 5040.0);
        p = p * r + (T)(1.0 / 720.0);
        p = p * r + (T)(1.0 / 120.0);
        p = p * r + (T)(1.0 / 24.0);
        p = p * r + (T)(1.0 / 6.0);
        p = p * r + (T)0.5;
    }
    p = p * r + (T)1;
    p = p * r + (T)1;
    T scale;
    if (single) {
        int bits = ((int)k + 127) << 23;
        float value;
        memcpy(&value, &bits, sizeof value);
        scale = (T)value;
    } else {
        long long bits = ((long long)k + 1023) << 52;
        double value;
        memcpy(&value, &bits, sizeof value);
        scale = (T)value;
    }
    return p * scale;
}

static inline T EMBER_NAME(lstm_sigmoid)(T x)
{
    return (T)1 / ((T)1 + EMBER_NAME(lstm_exp)(-x));
}

static inline T EMBER_NAME(lstm_tanh)(T x)
{
    T magnitude = x < 0 ? -x : x;
    T e = EMBER_NAME(lstm_exp)((T)-2 * magnitude);
    T t = ((T)1 - e) / ((T)1 + e);
    return x < 0 ? -t : t;
}

/* pre = hidden + bias + x for numbers start..stop-1 of one row, activated by sigmoid (tanh when `tanh_gate`)
 * into gate_row. */
static inline void EMBER_NAME(lstm_activate)(const T *restrict hidden_row, const T *restrict x_row,
                                             const T *restrict bias, T *restrict gate_row, idx start, idx stop,
                                             int tanh_gate)
{
    if (tanh_gate) {
        for (idx j = start; j < stop; j++)
            gate_row[j] = EMBER_NAME(lstm_tanh)((hidden_row[j] + bias[j]) + x_row[j]);
    } else {
        for (idx j = start; j < stop; j++)
            gate_row[j] = EMBER_NAME(lstm_sigmoid)((hidden_row[j] + bias[j]) + x_row[j]);
    }
}

/* Forward of one step for `batch` rows of `size` hidden units:
 *   pre = hidden + bias + x, (batch, 4*size), hidden = h_prev @ W_hh.T, bias (4*size,) (zeros: none);
 *   gates = [sigmoid(pre_i), sigmoid(pre_f), tanh(pre_g), sigmoid(pre_o)], (batch, 4*size);
 *   c = f * c_prev + i * g; tanh_c = tanh(c); h = o * tanh_c, each (batch, size).
 * The sums round as the NumPy path's ((h @ W_hh.T + b_hh) + x). No two arrays may overlap. */
void EMBER_NAME(ember_lstm_forward)(const T *restrict hidden, const T *restrict x, const T *restrict bias,
                                    const T *restrict c_prev, T *restrict gates, T *restrict c,
                                    T *restrict tanh_c, T *restrict h, idx batch, idx size)
{
    const idx width = 4 * size;
    for (idx n = 0; n < batch; n++) {
        const T *restrict hidden_row = hidden + n * width, *restrict x_row = x + n * width;
        T *restrict gate_row = gates + n * width;
        EMBER_NAME(lstm_activate)(hidden_row, x_row, bias, gate_row, 0, 2 * size, 0);
        EMBER_NAME(lstm_activate)(hidden_row, x_row, bias, gate_row, 2 * size, 3 * size, 1);
        EMBER_NAME(lstm_activate)(hidden_row, x_row, bias, gate_row, 3 * size, width, 0);
        const T *restrict i = gate_row, *restrict f = gate_row + size, *restrict g = gate_row + 2 * size;
        const T *restrict o = gate_row + 3 * size;
        const T *restrict c_in = c_prev + n * size;
        T *restrict c_out = c + n * size, *restrict tanh_out = tanh_c + n * size, *restrict h_out = h + n * size;
        for (idx k = 0; k < size; k++) {
            T cell = f[k] * c_in[k] + i[k] * g[k];
            T squashed = EMBER_NAME(lstm_tanh)(cell);
            c_out[k] = cell;
            tanh_out[k] = squashed;
            h_out[k] = o[k] * squashed;
        }
    }
}

/* Backward of one step (the step's forward saved gates, tanh_c; c_prev is the cell state it read):
 *   dh = grad_h + carry_h, dc_next = grad_c + carry_c (the carries from the step after; zeros at the last);
 *   d_c = dc_next + dh * o * (1 - tanh_c^2);
 *   d_gates = [d_c g i (1 - i), d_c c_prev f (1 - f), d_c i (1 - g^2), dh tanh_c o (1 - o)], (batch, 4*size);
 *   grad_c_prev = d_c * f, (batch, size).
 * No two arrays may overlap. The caller then takes the hidden state's gradient as one GEMM, d_gates @ W_hh. */
void EMBER_NAME(ember_lstm_backward)(const T *restrict grad_h, const T *restrict carry_h,
                                     const T *restrict grad_c, const T *restrict carry_c, const T *restrict gates,
                                     const T *restrict c_prev, const T *restrict tanh_c,
                                     T *restrict d_gates, T *restrict grad_c_prev, idx batch, idx size)
{
    const idx width = 4 * size;
    for (idx n = 0; n < batch; n++) {
        const T *restrict i = gates + n * width, *restrict f = i + size, *restrict g = i + 2 * size;
        const T *restrict o = i + 3 * size;
        T *restrict d_i = d_gates + n * width, *restrict d_f = d_i + size, *restrict d_g = d_i + 2 * size;
        T *restrict d_o = d_i + 3 * size;
        for (idx k = 0; k < size; k++) {
            const idx at = n * size + k;
            T dh = grad_h[at] + carry_h[at];
            T dc = grad_c[at] + carry_c[at];
            T squashed = tanh_c[at];
            T d_c = dc + dh * o[k] * ((T)1 - squashed * squashed);
            d_i[k] = d_c * g[k] * i[k] * ((T)1 - i[k]);
            d_f[k] = d_c * c_prev[at] * f[k] * ((T)1 - f[k]);
            d_g[k] = d_c * i[k] * ((T)1 - g[k] * g[k]);
            d_o[k] = dh * squashed * o[k] * ((T)1 - o[k]);
            grad_c_prev[at] = d_c * f[k];
        }
    }
}

/* GRU, gates r, z, n (PyTorch's order), the reset gate applied after the hidden product. The same file: it
 * shares the activations above.
 *
 * Forward of one step: hidden_b = hidden + bias (hidden = h_prev @ W_hh.T, (batch, 3*size); bias (3*size,),
 * zeros for none); r, z = sigmoid(x_rz + hidden_b_rz) into gates (batch, 2*size); hidden_n = hidden_b_n and
 * n = tanh(r * hidden_n + x_n), each (batch, size); h = (h_prev - n) * z + n. The sums round as the NumPy
 * path's. No two arrays may overlap. */
void EMBER_NAME(ember_gru_forward)(const T *restrict hidden, const T *restrict x, const T *restrict bias,
                                   const T *restrict h_prev, T *restrict gates, T *restrict n_out,
                                   T *restrict hidden_n, T *restrict h, idx batch, idx size)
{
    for (idx row = 0; row < batch; row++) {
        const T *restrict hidden_row = hidden + row * 3 * size, *restrict x_row = x + row * 3 * size;
        T *restrict gate_row = gates + row * 2 * size;
        for (idx j = 0; j < 2 * size; j++)
            gate_row[j] = EMBER_NAME(lstm_sigmoid)(x_row[j] + (hidden_row[j] + bias[j]));
        const T *restrict r = gate_row, *restrict z = gate_row + size;
        const T *restrict h_in = h_prev + row * size;
        T *restrict n_row = n_out + row * size, *restrict hn_row = hidden_n + row * size;
        T *restrict h_row = h + row * size;
        for (idx k = 0; k < size; k++) {
            T hn = hidden_row[2 * size + k] + bias[2 * size + k];
            T n = EMBER_NAME(lstm_tanh)(r[k] * hn + x_row[2 * size + k]);
            hn_row[k] = hn;
            n_row[k] = n;
            h_row[k] = (h_in[k] - n) * z[k] + n;
        }
    }
}

/* Backward of one step: dh = grad_h + carry_gemm + carry_z (the gradient carried from the step after in two
 * parts, d_hidden @ W_hh and dh * z; zeros at the last step);
 *   d_pre_n = dh (1 - z) (1 - n^2), d_pre_r = d_pre_n hidden_n r (1 - r), d_pre_z = dh (h_prev - n) z (1 - z);
 *   d_x = [d_pre_r, d_pre_z, d_pre_n] and d_hidden = [d_pre_r, d_pre_z, d_pre_n r], each (batch, 3*size);
 *   carry_z_out = dh * z, (batch, size). No two arrays may overlap. The caller then puts d_hidden @ W_hh into
 * carry_gemm. */
void EMBER_NAME(ember_gru_backward)(const T *restrict grad_h, const T *restrict carry_gemm,
                                    const T *restrict carry_z, const T *restrict gates, const T *restrict n_in,
                                    const T *restrict hidden_n, const T *restrict h_prev, T *restrict d_x,
                                    T *restrict d_hidden, T *restrict carry_z_out, idx batch, idx size)
{
    for (idx row = 0; row < batch; row++) {
        const T *restrict r = gates + row * 2 * size, *restrict z = r + size;
        T *restrict dx_row = d_x + row * 3 * size, *restrict dh_row = d_hidden + row * 3 * size;
        for (idx k = 0; k < size; k++) {
            const idx at = row * size + k;
            T dh = (grad_h[at] + carry_gemm[at]) + carry_z[at];
            T n = n_in[at];
            T d_pre_n = dh * ((T)1 - z[k]) * ((T)1 - n * n);
            T d_pre_r = d_pre_n * hidden_n[at] * r[k] * ((T)1 - r[k]);
            T d_pre_z = dh * (h_prev[at] - n) * z[k] * ((T)1 - z[k]);
            dx_row[k] = d_pre_r;
            dx_row[size + k] = d_pre_z;
            dx_row[2 * size + k] = d_pre_n;
            dh_row[k] = d_pre_r;
            dh_row[size + k] = d_pre_z;
            dh_row[2 * size + k] = d_pre_n * r[k];
            carry_z_out[at] = dh * z[k];
        }
    }
}
