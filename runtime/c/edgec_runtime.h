/* edgec lightweight C runtime: the API a generated model exposes, and the few symbols its kernels need.
 *
 * Plain C99, no malloc, no operating system. `edgec compile --target c|cortex-m4|... -o OUT` writes
 * OUT/src: model.c / model.h (weights as const arrays, the static arena, edgec_model_run),
 * kernels.c / kernels.h (TVM-generated loops with raw-pointer arguments) and this runtime. Add the
 * six files to a firmware build (link with libm) and call:
 *
 *     #include "model.h"
 *     static int8_t input[EDGEC_MODEL_INPUT0_BYTES], output[EDGEC_MODEL_OUTPUT0_BYTES];
 *     const void *ins[1] = {input};
 *     void *outs[1] = {output};
 *     int status = edgec_model_run(ins, outs);   (EDGEC_OK, or see edgec_status_string)
 *
 * Inputs and outputs stay in the caller's memory; everything else lives in model.c's one static
 * arena, at offsets planned at compile time (see manifest.json "memory").
 */
#ifndef EDGEC_RUNTIME_H
#define EDGEC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDGEC_VERSION_MAJOR 0
#define EDGEC_VERSION_MINOR 1
#define EDGEC_VERSION_PATCH 0

/* Status codes: every API function returns one (0 = success). */
typedef enum {
    EDGEC_OK = 0,
    EDGEC_ERROR_NULL_ARGUMENT = 1, /* an input or output pointer was NULL */
    EDGEC_ERROR_WORKSPACE = 2,     /* a kernel asked for more scratch memory than was planned */
    EDGEC_ERROR_KERNEL = 3         /* a kernel returned non-zero */
} edgec_status;

/* Element types of model inputs and outputs. */
typedef enum {
    EDGEC_FLOAT32 = 0,
    EDGEC_INT8 = 1,
    EDGEC_UINT8 = 2,
    EDGEC_INT32 = 3,
    EDGEC_INT64 = 4,
    EDGEC_INT16 = 5,
    EDGEC_BOOL = 6,
    EDGEC_FLOAT64 = 7
} edgec_dtype;

/* Alignment of the arena and the weight arrays (a GNU C extension where the compiler has it). */
#if defined(__GNUC__) || defined(__clang__)
#define EDGEC_ALIGNED(n) __attribute__((aligned(n)))
#else
#define EDGEC_ALIGNED(n)
#endif

/* One input or output tensor: dense, row-major, `bytes` long. For quantized tensors `scale` and
 * `zero_point` give real = scale * (q - zero_point); for float tensors scale = 0. */
typedef struct {
    const char *name;
    edgec_dtype dtype;
    int32_t ndim;
    const int32_t *shape;
    uint32_t bytes;
    float scale;
    int32_t zero_point;
} edgec_tensor_info;

/* What a model is: its inputs, outputs and static memory. */
typedef struct {
    const char *name;
    uint32_t num_inputs;
    const edgec_tensor_info *inputs;
    uint32_t num_outputs;
    const edgec_tensor_info *outputs;
    uint32_t arena_bytes;     /* intermediate tensors + kernel scratch, one static buffer */
    uint32_t workspace_bytes; /* the part of the arena reserved for kernel scratch */
    uint32_t weights_bytes;   /* const data in flash */
} edgec_model_info;

/* Implemented by the runtime (edgec_runtime.c). */
const char *edgec_version(void);
const char *edgec_status_string(int status);

/* Implemented by the generated model.c. Inputs and outputs are in the order of the descriptors;
 * the caller owns their memory (outputs may not alias inputs). Not re-entrant: one static arena. */
const edgec_model_info *edgec_model_describe(void);
int edgec_model_run(const void *const *inputs, void *const *outputs);

/* Used by the generated model.c (not by applications). Before each kernel call model.c hands the
 * runtime that kernel's slice of the arena; the kernel's scratch requests are served from it as a
 * stack. edgec_workspace_end returns non-zero if a request did not fit since the last begin. */
void edgec_workspace_begin(uint8_t *base, uint32_t bytes);
int edgec_workspace_end(void);
void edgec_copy(void *dst, const void *src, uint32_t bytes);

/* The scratch-memory functions TVM-generated kernels call (names and signatures are TVM's). */
void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes, int dtype_code_hint,
                               int dtype_bits_hint);
int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* EDGEC_RUNTIME_H */
