/* im2col and col2im: the matrix of an im2col + GEMM convolution, written from (or added onto) the image in
 * one pass that pads as it reads. A template over T (see ember_kernels.h). */

/* im2col, or with `adjoint` col2im, of output rows range->start..stop-1 (range->counter unused).
 * image: (C, H, W, N) numbers at any steps, surrounded by window->top rows and window->left columns of zeros
 * before its first and as many as the windows need after its last; not stored.
 * matrix: C-contiguous (C*kh*kw, (stop-start)*out_w*N).
 * im2col writes the windows into matrix (zeros on the padding); col2im adds matrix onto image, in the order
 * of the kernel taps as NumPy's strided-slice additions do, and drops what falls on the padding. */
void EMBER_NAME(ember_columns)(const struct ember_image *image, T *matrix, const struct ember_window *window,
                               const struct ember_range *range, idx out_w, int adjoint)
{
    T *const data = image->data;
    const idx channels = image->channels, height = image->height, width = image->width, batch = image->batch;
    const idx step_c = image->step_c, step_h = image->step_h, step_w = image->step_w, step_n = image->step_n;
    const idx kh = window->kh, kw = window->kw, sh = window->sh, sw = window->sw, dh = window->dh;
    const idx dw = window->dw, top = window->top, left = window->left, start = range->start, stop = range->stop;
    T *row = matrix;
    for (idx c = 0; c < channels; c++)
        for (idx i = 0; i < kh; i++)
            for (idx j = 0; j < kw; j++)
                for (idx r = start; r < stop; r++) {
                    idx y = r * sh + i * dh - top;
                    if (y < 0 || y >= height) {
                        if (!adjoint)
                            for (idx k = 0; k < out_w * batch; k++)
                                row[k] = 0;
                        row += out_w * batch;
                        continue;
                    }
                    for (idx o = 0; o < out_w; o++, row += batch) {
                        idx x = o * sw + j * dw - left;
                        T *restrict out = row;
                        if (x < 0 || x >= width) {
                            if (!adjoint)
                                for (idx n = 0; n < batch; n++)
                                    out[n] = 0;
                            continue;
                        }
                        T *restrict pixel = data + c * step_c + y * step_h + x * step_w;
                        if (step_n == 1) {
                            if (adjoint)
                                for (idx n = 0; n < batch; n++)
                                    pixel[n] += out[n];
                            else
                                for (idx n = 0; n < batch; n++)
                                    out[n] = pixel[n];
                        } else if (adjoint) {
                            for (idx n = 0; n < batch; n++)
                                pixel[n * step_n] += out[n];
                        } else {
                            for (idx n = 0; n < batch; n++)
                                out[n] = pixel[n * step_n];
                        }
                    }
                }
}
