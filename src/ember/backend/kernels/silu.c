/* SiLU, x * sigmoid(x), and its gradient in one pass, with sigmoid(x) = tanh(x/2)/2 + 1/2 as the NumPy path
 * computes it, but tanh as a rational function (a ratio of odd and even polynomials of degree 13 and 6 on
 * [-7.9053, 7.9053], where tanh rounds to +-1 in float beyond; the form Eigen uses for float) that the
 * compiler vectorizes, where libm's tanhf would run one number at a time. The polynomials' products and sums
 * are fused into FMAs (EMBER_FUSED: half the instructions, and the passes are bound by them). Within a few
 * float ulps of tanh: float only (compiled.py refuses other types). A template over T (see
 * ember_kernels.h). */

EMBER_FUSED_FUNCTION
static inline T EMBER_NAME(rational_tanh)(T x)
{
    EMBER_FUSED
    const T limit = (T)7.90531110763549805;
    /* a max, then a min (vmaxps, vminps), so that the polynomials run on every lane without masks; NaN
     * becomes -limit here, and the callers' product by x makes it NaN again */
    x = x > -limit ? x : -limit;
    x = x < limit ? x : limit;
    const T x2 = x * x;
    T p = x2 * (T)-2.76076847742355e-16 + (T)2.00018790482477e-13;
    p = x2 * p + (T)-8.60467152213735e-11;
    p = x2 * p + (T)5.12229709037114e-08;
    p = x2 * p + (T)1.48572235717979e-05;
    p = x2 * p + (T)6.37261928875436e-04;
    p = x2 * p + (T)4.89352455891786e-03;
    T q = x2 * (T)1.19825839466702e-06 + (T)1.18534705686654e-04;
    q = x2 * q + (T)2.26843463243900e-03;
    q = x2 * q + (T)4.89352518554385e-03;
    return x * p / q;
}

/* y[i] = x[i] * sigmoid(x[i]) for i < count; y may be x (in place). */
EMBER_FUSED_FUNCTION
static void EMBER_NAME(silu_pass)(const T *x, T *y, idx count)
{
    EMBER_FUSED
    const T half = (T)0.5;
#pragma omp simd
    for (idx i = 0; i < count; i++)
        y[i] = x[i] * (EMBER_NAME(rational_tanh)(x[i] * half) * half + half);
}

/* out[i] = grad[i] * (s * (1 + x[i] * (1 - s))) with s = sigmoid(x[i]), for i < count: d silu / dx; out may
 * be grad or x (in place). */
EMBER_FUSED_FUNCTION
static void EMBER_NAME(silu_grad_pass)(const T *grad, const T *x, T *out, idx count)
{
    EMBER_FUSED
    const T half = (T)0.5, one = (T)1;
#pragma omp simd
    for (idx i = 0; i < count; i++) {
        const T s = EMBER_NAME(rational_tanh)(x[i] * half) * half + half;
        out[i] = grad[i] * (s * (one + x[i] * (one - s)));
    }
}

void EMBER_NAME(ember_silu_forward)(const T *restrict x, T *restrict y, idx count)
{
    EMBER_NAME(silu_pass)(x, y, count);
}

void EMBER_NAME(ember_silu_backward)(const T *restrict grad, const T *restrict x, T *restrict out, idx count)
{
    EMBER_NAME(silu_grad_pass)(grad, x, out, count);
}
