/* Adam's update in one pass. A template over T (see ember_kernels.h). */

/* One Adam step on `count` contiguous numbers, in place on param and the moments:
 * m = m*beta1 + g*scale1; v = v*beta2 + g*scale2*g; param -= m / (sqrt(v)/bias2_sqrt + eps) * step_size,
 * every number of `step` rounded to T first, every operation in T: NumPy's numbers bit for bit. */
void EMBER_NAME(ember_adam)(T *restrict param, const T *restrict grad, T *restrict exp_avg,
                            T *restrict exp_avg_sq, idx count, const struct ember_adam_step *step)
{
    const T scale1 = (T)step->scale1, beta1 = (T)step->beta1, scale2 = (T)step->scale2;
    const T beta2 = (T)step->beta2, bias2_sqrt = (T)step->bias2_sqrt, eps = (T)step->eps;
    const T step_size = (T)step->step_size;
    for (idx k = 0; k < count; k++) {
        T g = grad[k];
        T m = exp_avg[k] * beta1 + g * scale1;
        T v = exp_avg_sq[k] * beta2 + g * scale2 * g;
        exp_avg[k] = m;
        exp_avg_sq[k] = v;
        param[k] -= m / (EMBER_SQRT(v) / bias2_sqrt + eps) * step_size;
    }
}
