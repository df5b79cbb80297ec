/* GELU, x * Φ(x) with Φ(x) = (1 + erf(x / sqrt(2))) / 2, forward and gradient in one pass each. A template over
 * T (see ember_kernels.h).
 *
 * float: the same formulas as the NumPy path (functions/activation.py GELU, backend/special.py's float32 erf:
 * the polynomials and branches of _erf_float32), every operation in float; both erf branches run on every
 * number and one is kept, so that the loop vectorizes. exp is ember_expf (ember_kernels.h, within an
 * ulp of the correctly rounded result, as NumPy's), so the numbers agree with NumPy's within float32
 * rounding, not bit for bit. double: the C library's erf and exp, within double rounding of special.py's
 * float64 erf. */

#ifndef EMBER_GELU_FLOAT_HELPERS
#define EMBER_GELU_FLOAT_HELPERS

/* special.py's float32 erf: z * P(z^2) for |z| < 1, sign(z) * (1 - exp(-z^2) * Q(1/|z|)) above. */
static inline float ember_gelu_erff(float z)
{
    float square = z * z;
    float small = -5.6254996580115278e-04f;
    small = small * square + 4.9160546579259832e-03f;
    small = small * square + -2.6709983764499099e-02f;
    small = small * square + 1.1280131899126188e-01f;
    small = small * square + -3.7612320052842280e-01f;
    small = small * square + 1.1283791213078613e00f;
    small = z * small;
    float a = fabsf(z);
    float inverse = 1.0f / a;
    float q = 2.9677744998347584e-02f;
    q = q * inverse + -1.7400489749251624e-01f;
    q = q * inverse + 4.2459835939307788e-01f;
    q = q * inverse + -5.1841087171681011e-01f;
    q = q * inverse + 2.2257396727042561e-01f;
    q = q * inverse + 2.3907545953045686e-01f;
    q = q * inverse + -3.7895672121735879e-01f;
    q = q * inverse + 2.1223160793088509e-02f;
    q = q * inverse + 5.6168163067855492e-01f;
    q = q * inverse + 1.2574915042345980e-04f;
    float large = copysignf(1.0f - ember_expf(-(a * a)) * q, z);
    return a >= 1.0f ? large : small;
}

#endif

/* cdf[i] = (erf(x[i] * (T)(1/sqrt(2))) + 1) * 0.5 and y[i] = x[i] * cdf[i], for `count` contiguous numbers. */
void EMBER_NAME(ember_gelu_forward)(const T *restrict x, T *restrict y, T *restrict cdf, idx count)
{
    const T inverse_sqrt2 = (T)0.70710678118654752440;
    for (idx i = 0; i < count; i++) {
        T z = x[i] * inverse_sqrt2;
        T e = sizeof(T) == sizeof(float) ? (T)ember_gelu_erff((float)z) : (T)erf((double)z);
        T c = (e + (T)1) * (T)0.5;
        cdf[i] = c;
        y[i] = x[i] * c;
    }
}

/* out[i] = (exp(x^2 * -0.5) * x * (T)(1/sqrt(2 pi)) + cdf) * grad, the NumPy path's order of operations. */
void EMBER_NAME(ember_gelu_backward)(const T *restrict grad, const T *restrict x, const T *restrict cdf,
                                     T *restrict out, idx count)
{
    const T inverse_sqrt_2pi = (T)0.39894228040143267794;
    for (idx i = 0; i < count; i++) {
        T exponent = x[i] * x[i] * (T)-0.5;
        T density = sizeof(T) == sizeof(float) ? (T)ember_expf((float)exponent) : (T)exp((double)exponent);
        out[i] = (density * x[i] * inverse_sqrt_2pi + cdf[i]) * grad[i];
    }
}
