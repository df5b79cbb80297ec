/* ReLU's gradient in one pass. A template over T (see ember_kernels.h). */

/* out[i] = grad[i] * (y[i] > 0), NumPy's multiply(grad, y > 0) number for number (0 * inf and NaN stay
 * NaN). */
void EMBER_NAME(ember_relu_backward)(const T *grad, const T *y, T *out, idx count)
{
    for (idx i = 0; i < count; i++)
        out[i] = grad[i] * (T)(y[i] > 0);
}
