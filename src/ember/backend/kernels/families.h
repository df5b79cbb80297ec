/* Every kernel family for the number type T that all.c has defined, with EMBER_NAME and EMBER_SQRT: all.c
 * includes this file once per type, so it has no include guard. */
typedef T EMBER_NAME(vector) __attribute__((vector_size(EMBER_VECTOR_BYTES), aligned(sizeof(T))));

#include "columns.c"
#include "adam.c"
#include "batch_norm.c"
#include "group_norm.c"
#include "relu.c"
#include "silu.c"
#include "gelu.c"
#include "layer_norm.c"
#include "softmax.c"
#include "transpose.c"
#include "max_pool.c"
#include "direct_conv.c"
#include "weight_grad.c"
#include "lstm.c"
#include "panel_gemm.c"
#include "thin_gemm.c"
#include "lstm_sequence.c"
#include "gru_sequence.c"
#include "group_norm_silu.c"
