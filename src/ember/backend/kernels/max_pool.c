/* Max pooling without padding on (C, H, W, N) memory, forward and backward, for a range of channels. A
 * template over T (see ember_kernels.h). */

/* y (C, out_h, out_w, N) holds the maximum of each window of x (C, H, W, N), both C-contiguous, for
 * channels range->start..stop-1 (range->counter unused; window->top and left unused: no padding); argmax
 * (y's shape) holds each maximum's tap i*kw + j: the first maximum, or the last NaN (NaN propagates), as
 * the NumPy path decides. */
void EMBER_NAME(ember_max_pool_forward)(const struct ember_image *image, const struct ember_window *window,
                                        const struct ember_image *pooled, unsigned char *argmax,
                                        const struct ember_range *range)
{
    const T *const x = image->data;
    T *const y = pooled->data;
    const idx height = image->height, width = image->width, batch = image->batch;
    const idx out_h = pooled->height, out_w = pooled->width;
    const idx kh = window->kh, kw = window->kw, sh = window->sh, sw = window->sw, dh = window->dh;
    const idx dw = window->dw, start = range->start, stop = range->stop;
    for (idx c = start; c < stop; c++)
        for (idx r = 0; r < out_h; r++)
            for (idx q = 0; q < out_w; q++) {
                const T *window_start = x + ((c * height + r * sh) * width + q * sw) * batch;
                T *restrict best = y + ((c * out_h + r) * out_w + q) * batch;
                unsigned char *restrict at = argmax + ((c * out_h + r) * out_w + q) * batch;
                for (idx n = 0; n < batch; n++) {
                    best[n] = window_start[n];
                    at[n] = 0;
                }
                for (idx t = 1; t < kh * kw; t++) {
                    const T *restrict tap = window_start + ((t / kw) * dh * width + (t % kw) * dw) * batch;
                    for (idx n = 0; n < batch; n++) {
                        T value = tap[n];
                        int take = (value > best[n]) | (value != value);
                        best[n] = take ? value : best[n];
                        at[n] = take ? (unsigned char)t : at[n];
                    }
                }
            }
}

/* Max pooling's gradient: each window's gradient (C, out_h, out_w, N) added at its argmax tap of dx
 * (C, H, W, N), both C-contiguous, channels range->start..stop-1. Overlapping windows go taps outermost, so
 * that a number of dx reached by several windows adds them in the NumPy path's order; windows that do not
 * overlap reach each number at most once and go window by window (one pass over the gradient and argmax).
 * With `assign` (windows that cover dx exactly, none overlapping) dx need not be zeroed first: each number
 * is written 0 + its value. */
void EMBER_NAME(ember_max_pool_backward)(const struct ember_image *grad, const unsigned char *argmax,
                                         const struct ember_window *window, const struct ember_image *grad_input,
                                         const struct ember_range *range, int assign)
{
    const T *const g = grad->data;
    T *const dx = grad_input->data;
    const idx out_h = grad->height, out_w = grad->width, batch = grad->batch;
    const idx height = grad_input->height, width = grad_input->width;
    const idx kh = window->kh, kw = window->kw, sh = window->sh, sw = window->sw, dh = window->dh;
    const idx dw = window->dw, start = range->start, stop = range->stop;
    const int overlap = sh < (kh - 1) * dh + 1 || sw < (kw - 1) * dw + 1;
    for (idx c = start; c < stop; c++) {
        if (overlap) {
            for (idx t = 0; t < kh * kw; t++)
                for (idx r = 0; r < out_h; r++)
                    for (idx q = 0; q < out_w; q++) {
                        T *restrict tap = dx + ((c * height + r * sh + (t / kw) * dh) * width + q * sw
                                                + (t % kw) * dw) * batch;
                        const T *restrict gs = g + ((c * out_h + r) * out_w + q) * batch;
                        const unsigned char *restrict at = argmax + ((c * out_h + r) * out_w + q) * batch;
                        for (idx n = 0; n < batch; n++)
                            tap[n] += at[n] == t ? gs[n] : (T)0;
                    }
            continue;
        }
        for (idx r = 0; r < out_h; r++)
            for (idx i = 0; i < kh; i++)  /* along one row of dx, so that it is written in order */
                for (idx q = 0; q < out_w; q++) {
                    const T *restrict gs = g + ((c * out_h + r) * out_w + q) * batch;
                    const unsigned char *restrict at = argmax + ((c * out_h + r) * out_w + q) * batch;
                    for (idx j = 0; j < kw; j++) {
                        const unsigned char t = (unsigned char)(i * kw + j);
                        T *restrict tap = dx + ((c * height + r * sh + i * dh) * width + q * sw + j * dw) * batch;
                        if (assign)
                            for (idx n = 0; n < batch; n++)
                                tap[n] = (T)0 + (at[n] == t ? gs[n] : (T)0);
                        else
                            for (idx n = 0; n < batch; n++)
                                tap[n] += at[n] == t ? gs[n] : (T)0;
                    }
                }
    }
}
