/* The one translation unit of Ember's compiled kernels (see ember_kernels.h for the files and their roles):
 * the exported constants and struct sizes, then every kernel family for float (_f32) and double (_f64). */
#include "ember_kernels.h"
#include "step_threads.h"

/* The register block's height and the vector width this build chose, the direct convolutions' largest
 * kernel side, and the size of each struct, which compiled.py compares with its ctypes mirrors. */
int ember_conv_rows(void) { return EMBER_ROWS; }
int ember_conv_max_taps(void) { return EMBER_MAX_TAPS; }
int ember_vector_bytes(void) { return EMBER_VECTOR_BYTES; }
int ember_thin_features(void) { return EMBER_THIN_FEATURES; }
idx ember_sizeof_image(void) { return sizeof(struct ember_image); }
idx ember_sizeof_window(void) { return sizeof(struct ember_window); }
idx ember_sizeof_range(void) { return sizeof(struct ember_range); }
idx ember_sizeof_weight_split(void) { return sizeof(struct ember_weight_split); }
idx ember_sizeof_adam_step(void) { return sizeof(struct ember_adam_step); }

#define T float
#define EMBER_NAME(name) name##_f32
#define EMBER_SQRT sqrtf
#include "families.h"
#undef T
#undef EMBER_NAME
#undef EMBER_SQRT

#define T double
#define EMBER_NAME(name) name##_f64
#define EMBER_SQRT sqrt
#include "families.h"
#undef T
#undef EMBER_NAME
#undef EMBER_SQRT
