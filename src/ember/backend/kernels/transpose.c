/* The layout copy of a batch into the convolutions' memory. A template over T (see ember_kernels.h). */

/* The transpose of a C-contiguous (rows, columns) matrix into a C-contiguous (columns, rows) one, for
 * columns start..stop-1 of the source: tiles small enough that both sides of a tile stay in L1. It turns an
 * (N, C, H, W) batch into the convolutions' (C, H, W, N) memory (rows = N, columns = C*H*W). */
void EMBER_NAME(ember_transpose)(const T *source, idx rows, idx columns, T *target, idx start, idx stop)
{
    enum { TILE = 32 };
    for (idx c0 = start; c0 < stop; c0 += TILE) {
        idx c1 = c0 + TILE < stop ? c0 + TILE : stop;
        for (idx r0 = 0; r0 < rows; r0 += TILE) {
            idx r1 = r0 + TILE < rows ? r0 + TILE : rows;
            for (idx c = c0; c < c1; c++)
                for (idx r = r0; r < r1; r++)
                    target[c * rows + r] = source[r * columns + c];
        }
    }
}
