/* Load a TVM-compiled shared library and call one of its kernels, without the TVM runtime.
 *
 * For targets where TVM's runtime does not run (no apache-tvm wheel for 32-bit Arm), this shows
 * the cross-compiled code loads and computes correctly under qemu-user. Kernels use tvm-ffi's
 * packed calling convention: int f(void* self, const TVMFFIAny* args, int32_t n, TVMFFIAny* ret),
 * each argument a DLTensor pointer. The few runtime functions generated code calls (error report,
 * workspace memory, parallel launch) are provided here and exported with -rdynamic.
 *
 * usage: kernel_runner LIB.so                      load LIB, resolve every symbol, print "loaded"
 *        kernel_runner LIB.so FUNC ARG...          call FUNC; ARG is in:FILE:D0xD1x... (float32 data
 *                                                  read from FILE) or out:FILE:D0xD1x... (written)
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tvm/ffi/c_api.h>

#define MAX_ARGS 16
#define MAX_DIMS 8

void TVMFFIErrorSetRaisedFromCStrParts(const char* kind, const char** parts, int32_t num_parts) {
  fprintf(stderr, "kernel error: %s: ", kind);
  for (int32_t i = 0; i < num_parts; ++i) fputs(parts[i] ? parts[i] : "", stderr);
  fputc('\n', stderr);
}

static void* alloc_workspace(int device_type, int device_id, uint64_t nbytes, int code, int bits) {
  (void)device_type, (void)device_id, (void)code, (void)bits;
  void* ptr = NULL;
  return posix_memalign(&ptr, 64, nbytes ? nbytes : 1) == 0 ? ptr : NULL;
}

static int free_workspace(int device_type, int device_id, void* ptr) {
  (void)device_type, (void)device_id;
  free(ptr);
  return 0;
}

typedef struct { void* sync_handle; int32_t num_task; } ParallelEnv;
typedef int (*ParallelLambda)(int task_id, ParallelEnv* env, void* data);

static int parallel_launch(ParallelLambda lambda, void* data, int num_task) {  /* serially */
  (void)num_task;
  ParallelEnv env = {NULL, 1};
  return lambda(0, &env, data);
}

static int parallel_barrier(int task_id, ParallelEnv* env) { (void)task_id, (void)env; return 0; }

/* The library reaches the runtime through function pointers that the runtime fills in at load. */
static void set_pointer(void* lib, const char* name, void* value) {
  void** slot = (void**)dlsym(lib, name);
  if (slot) *slot = value;
}

static int parse_tensor(char* spec, DLTensor* t, int64_t* shape, char** file, int* is_out) {
  char* kind = strtok(spec, ":");
  *file = strtok(NULL, ":");
  char* dims = strtok(NULL, ":");
  if (!kind || !*file || !dims) return -1;
  *is_out = strcmp(kind, "out") == 0;
  int64_t count = 1;
  t->ndim = 0;
  for (char* d = strtok(dims, "x"); d && t->ndim < MAX_DIMS; d = strtok(NULL, "x")) {
    shape[t->ndim++] = atoll(d);
    count *= atoll(d);
  }
  /* TVM assumes 64-byte aligned tensors (kAllocAlignment) and emits aligned NEON loads. */
  if (posix_memalign(&t->data, 64, (size_t)count * sizeof(float)) != 0) return -1;
  memset(t->data, 0, (size_t)count * sizeof(float));
  t->device.device_type = kDLCPU;
  t->device.device_id = 0;
  t->dtype.code = kDLFloat;
  t->dtype.bits = 32;
  t->dtype.lanes = 1;
  t->shape = shape;
  t->strides = NULL;
  t->byte_offset = 0;
  if (*is_out) return 0;
  FILE* f = fopen(*file, "rb");
  size_t got = f ? fread(t->data, sizeof(float), (size_t)count, f) : 0;
  if (f) fclose(f);
  return got == (size_t)count ? 0 : -1;
}

int main(int argc, char** argv) {
  if (argc < 2 || argc - 3 > MAX_ARGS) {
    fprintf(stderr, "usage: %s LIB.so [FUNC in|out:FILE:D0xD1x...]...\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 1;
  }
  set_pointer(lib, "__TVMBackendAllocWorkspace", (void*)alloc_workspace);
  set_pointer(lib, "__TVMBackendFreeWorkspace", (void*)free_workspace);
  set_pointer(lib, "__TVMBackendParallelLaunch", (void*)parallel_launch);
  set_pointer(lib, "__TVMBackendParallelBarrier", (void*)parallel_barrier);
  if (argc == 2) {
    printf("loaded %s\n", argv[1]);
    return 0;
  }
  char symbol[256];
  snprintf(symbol, sizeof symbol, "__tvm_ffi_%s", argv[2]);
  TVMFFISafeCallType func = (TVMFFISafeCallType)dlsym(lib, symbol);
  if (!func) {
    fprintf(stderr, "%s has no kernel %s\n", argv[1], argv[2]);
    return 1;
  }
  int n = argc - 3;
  DLTensor tensors[MAX_ARGS];
  int64_t shapes[MAX_ARGS][MAX_DIMS];
  char* files[MAX_ARGS];
  int is_out[MAX_ARGS];
  TVMFFIAny args[MAX_ARGS];
  for (int i = 0; i < n; ++i) {
    if (parse_tensor(argv[i + 3], &tensors[i], shapes[i], &files[i], &is_out[i]) != 0) {
      fprintf(stderr, "bad argument or unreadable data: %s\n", argv[i + 3]);
      return 2;
    }
    memset(&args[i], 0, sizeof args[i]);
    args[i].type_index = kTVMFFIDLTensorPtr;
    args[i].v_ptr = &tensors[i];
  }
  TVMFFIAny result;
  memset(&result, 0, sizeof result);
  result.type_index = kTVMFFINone;
  if (func(NULL, args, n, &result) != 0) return 1;
  for (int i = 0; i < n; ++i) {
    if (!is_out[i]) continue;
    int64_t count = 1;
    for (int d = 0; d < tensors[i].ndim; ++d) count *= shapes[i][d];
    FILE* f = fopen(files[i], "wb");
    if (!f || fwrite(tensors[i].data, sizeof(float), (size_t)count, f) != (size_t)count) return 1;
    fclose(f);
  }
  printf("ran %s\n", argv[2]);
  return 0;
}
