/* The softmax over rows of attention scores, in place. A template over T (see ember_kernels.h). */

/* Each of the `rows` rows of C-contiguous (rows, columns) `scores` becomes softmax(row * scale) over its positions
 * not blocked: blocked (NULL: none) holds `blocked_rows` rows of `columns` flags, row r reading row
 * r % blocked_rows (so one (L, S) mask serves every head). Blocked positions get 0, and a row with nothing
 * left gives zeros, as the NumPy path (functions/attention.py _softmax_rows_in_place): the row maximum, then
 * exp(score - max) (ember_expf for float, within an ulp of NumPy's exp), divided by the row's sum. */
void EMBER_NAME(ember_softmax_rows)(T *restrict scores, idx rows, idx columns, double scale,
                                   const unsigned char *restrict blocked, idx blocked_rows)
{
    const T factor = (T)scale;
    for (idx r = 0; r < rows; r++) {
        T *row = scores + r * columns;
        if (factor != (T)1)
            for (idx c = 0; c < columns; c++)
                row[c] = row[c] * factor;
        const unsigned char *hidden = blocked ? blocked + (r % blocked_rows) * columns : NULL;
        T row_max = (T)-INFINITY;
        if (hidden) {
#pragma omp simd reduction(max : row_max)
            for (idx c = 0; c < columns; c++) {
                T value = hidden[c] ? (T)-INFINITY : row[c];
                row_max = value > row_max ? value : row_max;
            }
        } else {
#pragma omp simd reduction(max : row_max)
            for (idx c = 0; c < columns; c++)
                row_max = row[c] > row_max ? row[c] : row_max;
        }
        if (row_max == (T)-INFINITY)
            row_max = 0; /* a fully masked row: exp(-inf - 0) = 0 everywhere */
        for (idx c = 0; c < columns; c++) {
            T shifted = row[c] - row_max;
            row[c] = sizeof(T) == sizeof(float) ? (T)ember_expf((float)shifted) : (T)exp((double)shifted);
        }
        if (hidden)
            for (idx c = 0; c < columns; c++)
                row[c] = hidden[c] ? (T)0 : row[c];
        T total = 0;
#pragma omp simd reduction(+ : total)
        for (idx c = 0; c < columns; c++)
            total += row[c];
        if (total == 0)
            total = 1;
        for (idx c = 0; c < columns; c++)
            row[c] = row[c] / total;
    }
}

/* The scores' gradient from the probabilities' in place, for C-contiguous (rows, columns) arrays:
 * grad = (grad - row_dot[r]) * probabilities * scale, row_dot[r] = rowsum(dO * O) of row r (see
 * functions/attention.py), in the NumPy path's order with the scale that path applies to dq and dk last. */
void EMBER_NAME(ember_softmax_rows_grad)(T *restrict grad, const T *restrict probabilities,
                                         const T *restrict row_dot, idx rows, idx columns, double scale)
{
    const T factor = (T)scale;
    for (idx r = 0; r < rows; r++) {
        T *row = grad + r * columns;
        const T *p = probabilities + r * columns;
        const T shift = row_dot[r];
        for (idx c = 0; c < columns; c++)
            row[c] = (row[c] - shift) * p[c] * factor;
    }
}
