/* edgec lightweight C runtime: version, status strings, and the kernels' scratch allocator.
 *
 * The allocator is a stack over the slice of the static arena that model.c assigns to the kernel
 * about to run (edgec_workspace_begin). TVM kernels free their scratch in reverse order of
 * allocation, so a bump pointer that moves back on free is exact. No malloc, no printf, no OS.
 */
#include "edgec_runtime.h"

#define EDGEC_STR2(x) #x
#define EDGEC_STR(x) EDGEC_STR2(x)
#define EDGEC_WORKSPACE_ALIGN 16u

static uint8_t *workspace_base;
static uint32_t workspace_size;
static uint32_t workspace_used;
static int workspace_failed;

const char *edgec_version(void)
{
    return EDGEC_STR(EDGEC_VERSION_MAJOR) "." EDGEC_STR(EDGEC_VERSION_MINOR) "." EDGEC_STR(EDGEC_VERSION_PATCH);
}

const char *edgec_status_string(int status)
{
    switch (status) {
    case EDGEC_OK:
        return "ok";
    case EDGEC_ERROR_NULL_ARGUMENT:
        return "an input or output pointer is NULL";
    case EDGEC_ERROR_WORKSPACE:
        return "a kernel needed more scratch memory than was planned";
    case EDGEC_ERROR_KERNEL:
        return "a kernel failed";
    default:
        return "unknown status";
    }
}

void edgec_workspace_begin(uint8_t *base, uint32_t bytes)
{
    workspace_base = base;
    workspace_size = bytes;
    workspace_used = 0;
    workspace_failed = 0;
}

int edgec_workspace_end(void)
{
    return workspace_failed;
}

void edgec_copy(void *dst, const void *src, uint32_t bytes)
{
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    uint32_t i;
    for (i = 0; i < bytes; ++i) {
        d[i] = s[i];
    }
}

void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes, int dtype_code_hint,
                               int dtype_bits_hint)
{
    uint64_t rounded = (nbytes + EDGEC_WORKSPACE_ALIGN - 1u) / EDGEC_WORKSPACE_ALIGN * EDGEC_WORKSPACE_ALIGN;
    void *ptr;
    (void)device_type;
    (void)device_id;
    (void)dtype_code_hint;
    (void)dtype_bits_hint;
    if (workspace_base == NULL || rounded > (uint64_t)(workspace_size - workspace_used)) {
        workspace_failed = 1;
        return NULL;
    }
    ptr = workspace_base + workspace_used;
    workspace_used += (uint32_t)rounded;
    return ptr;
}

int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr)
{
    (void)device_type;
    (void)device_id;
    if (ptr != NULL && workspace_base != NULL && (uint8_t *)ptr >= workspace_base &&
        (uint8_t *)ptr < workspace_base + workspace_size) {
        workspace_used = (uint32_t)((uint8_t *)ptr - workspace_base);
    }
    return 0;
}
