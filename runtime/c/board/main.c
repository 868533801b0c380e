/* edgec device main loop: answers the host's requests over the board's UART.
 *
 * The protocol is in docs/mcu-protocol.md. Every frame is
 *   magic[4] version:u8 command:u8 status:u16 arg:u32 length:u32 payload[length] crc32:u32
 * (little-endian; CRC-32/IEEE over everything before it). Requests start with "EDGC", replies with
 * "EDGR". Commands: INFO (model and board description), RUN (inputs in -> ticks and outputs out),
 * BENCH (inputs in, `arg` timed runs -> ticks of each). The board resynchronises on the magic, so
 * stray bytes before a request are skipped.
 */
#include <string.h>

#include "board.h"
#include "board_config.h"
#include "edgec_runtime.h"

#define PROTOCOL_VERSION 1u
#define CMD_INFO 1u
#define CMD_RUN 2u
#define CMD_BENCH 3u
#define STATUS_BAD_CRC 0x100u
#define STATUS_BAD_COMMAND 0x101u
#define STATUS_BAD_LENGTH 0x102u
#define STATUS_BAD_VERSION 0x103u
#define STATUS_TOO_SMALL 0x104u /* the I/O buffers below are smaller than the model's tensors */
#define MAX_TENSORS 16u
#define ALIGN 16u

static const uint8_t request_magic[4] = {'E', 'D', 'G', 'C'};
static const uint8_t reply_magic[4] = {'E', 'D', 'G', 'R'};

/* Inputs and outputs, each tensor at a 16-byte aligned offset (sizes from board_config.h). */
static uint8_t input_buffer[EDGEC_INPUT_CAPACITY] __attribute__((aligned(ALIGN)));
static uint8_t output_buffer[EDGEC_OUTPUT_CAPACITY] __attribute__((aligned(ALIGN)));
static const void *inputs[MAX_TENSORS];
static void *outputs[MAX_TENSORS];

/* ---- CRC-32 (IEEE 802.3, reflected, as zlib.crc32), bitwise: no table in flash ---------------- */
static uint32_t crc_update(uint32_t crc, const uint8_t *data, size_t size) {
    size_t i;
    int bit;
    crc = ~crc;
    for (i = 0; i < size; ++i) {
        crc ^= data[i];
        for (bit = 0; bit < 8; ++bit) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* ---- little-endian framing ----------------------------------------------------------------------- */
static uint32_t tx_crc;

static void send(const void *data, size_t size) {
    tx_crc = crc_update(tx_crc, (const uint8_t *)data, size);
    edgec_uart_write(data, size);
}

static void send_u8(uint8_t v) { send(&v, 1); }

static void send_u16(uint16_t v) {
    uint8_t b[2];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    send(b, 2);
}

static void send_u32(uint32_t v) {
    uint8_t b[4];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
    send(b, 4);
}

static void send_u64(uint64_t v) {
    send_u32((uint32_t)v);
    send_u32((uint32_t)(v >> 32));
}

static void begin_reply(uint8_t command, uint32_t status, uint32_t length) {
    tx_crc = 0;
    send(reply_magic, 4);
    send_u8(PROTOCOL_VERSION);
    send_u8(command);
    send_u16((uint16_t)status);
    send_u32(0);
    send_u32(length);
}

static void end_reply(void) {
    uint32_t crc = tx_crc;
    send_u32(crc);
}

static void reply_empty(uint8_t command, uint32_t status) {
    begin_reply(command, status, 0);
    end_reply();
}

static uint32_t rx_crc;

static void receive(void *data, size_t size) {
    uint8_t *bytes = (uint8_t *)data;
    size_t i;
    for (i = 0; i < size; ++i) {
        bytes[i] = edgec_uart_getc();
    }
    rx_crc = crc_update(rx_crc, bytes, size);
}

static uint32_t receive_u32(void) {
    uint8_t b[4];
    receive(b, 4);
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

/* Skip bytes until the request magic; the CRC starts over at the magic. */
static void wait_for_magic(void) {
    size_t matched = 0;
    while (matched < 4) {
        uint8_t c = edgec_uart_getc();
        matched = (c == request_magic[matched]) ? matched + 1 : (c == request_magic[0] ? 1u : 0u);
    }
    rx_crc = crc_update(0, request_magic, 4);
}

/* ---- tensors -------------------------------------------------------------------------------------- */
static uint32_t aligned(uint32_t n) { return (n + ALIGN - 1u) & ~(ALIGN - 1u); }

static uint32_t total_bytes(const edgec_tensor_info *tensors, uint32_t count) {
    uint32_t i, total = 0;
    for (i = 0; i < count; ++i) {
        total += tensors[i].bytes;
    }
    return total;
}

/* Point inputs[] / outputs[] into the buffers; 0 if the buffers are too small or there are too many. */
static int place_tensors(const edgec_model_info *info) {
    uint32_t i, offset = 0;
    if (info->num_inputs > MAX_TENSORS || info->num_outputs > MAX_TENSORS) {
        return 0;
    }
    for (i = 0; i < info->num_inputs; offset += aligned(info->inputs[i].bytes), ++i) {
        inputs[i] = input_buffer + offset;
    }
    if (offset > sizeof input_buffer) {
        return 0;
    }
    for (i = 0, offset = 0; i < info->num_outputs; offset += aligned(info->outputs[i].bytes), ++i) {
        outputs[i] = output_buffer + offset;
    }
    return offset <= sizeof output_buffer;
}

static void receive_inputs(const edgec_model_info *info) {
    uint32_t i;
    for (i = 0; i < info->num_inputs; ++i) {
        receive((void *)(uintptr_t)inputs[i], info->inputs[i].bytes);
    }
}

static void discard(uint32_t size) {
    uint8_t byte;
    while (size--) {
        receive(&byte, 1);
    }
}

/* One timed inference: ticks of edgec_model_run alone. */
static int timed_run(uint64_t *ticks) {
    uint64_t start, stop;
    int status;
    __asm__ volatile("" ::: "memory");
    start = edgec_ticks();
    status = edgec_model_run(inputs, outputs);
    stop = edgec_ticks();
    __asm__ volatile("" ::: "memory");
    *ticks = stop - start;
    return status;
}

/* ---- commands ------------------------------------------------------------------------------------- */
static uint32_t string_length(const char *s) { return s ? (uint32_t)strlen(s) : 0u; }

static uint32_t tensor_info_size(const edgec_tensor_info *t) {
    return 16u + 4u * (uint32_t)t->ndim + string_length(t->name);
}

static void send_string(const char *s) {
    uint32_t n = string_length(s);
    send_u16((uint16_t)n);
    send(s, n);
}

static void send_tensor_info(const edgec_tensor_info *t) {
    int32_t d;
    uint32_t scale_bits;
    send_u8((uint8_t)t->dtype);
    send_u8((uint8_t)t->ndim);
    send_u16((uint16_t)string_length(t->name));
    send_u32(t->bytes);
    memcpy(&scale_bits, &t->scale, 4);
    send_u32(scale_bits);
    send_u32((uint32_t)t->zero_point);
    for (d = 0; d < t->ndim; ++d) {
        send_u32((uint32_t)t->shape[d]);
    }
    send(t->name, string_length(t->name));
}

static void reply_info(const edgec_model_info *info) {
    uint32_t i, length = 44u + 2u + string_length(info->name) + 2u + string_length(EDGEC_BOARD_NAME);
    for (i = 0; i < info->num_inputs; ++i) {
        length += tensor_info_size(&info->inputs[i]);
    }
    for (i = 0; i < info->num_outputs; ++i) {
        length += tensor_info_size(&info->outputs[i]);
    }
    begin_reply(CMD_INFO, 0, length);
    send_u32(PROTOCOL_VERSION);
    send_u32(((uint32_t)EDGEC_VERSION_MAJOR << 16) | ((uint32_t)EDGEC_VERSION_MINOR << 8) | EDGEC_VERSION_PATCH);
    send_u32((uint32_t)EDGEC_CLOCK_HZ);
    send_u32(info->arena_bytes);
    send_u32(info->workspace_bytes);
    send_u32(info->weights_bytes);
    send_u32((uint32_t)sizeof input_buffer);
    send_u32(info->num_inputs);
    send_u32(info->num_outputs);
    send_u32(edgec_stack_size());
    send_u32(edgec_stack_used());
    send_string(info->name);
    send_string(EDGEC_BOARD_NAME);
    for (i = 0; i < info->num_inputs; ++i) {
        send_tensor_info(&info->inputs[i]);
    }
    for (i = 0; i < info->num_outputs; ++i) {
        send_tensor_info(&info->outputs[i]);
    }
    end_reply();
}

static void reply_run(const edgec_model_info *info) {
    uint64_t ticks = 0;
    uint32_t i;
    int status = timed_run(&ticks);
    uint32_t out_bytes = status == EDGEC_OK ? total_bytes(info->outputs, info->num_outputs) : 0u;
    begin_reply(CMD_RUN, (uint32_t)status, 8u + out_bytes);
    send_u64(ticks);
    for (i = 0; status == EDGEC_OK && i < info->num_outputs; ++i) {
        send(outputs[i], info->outputs[i].bytes);
    }
    end_reply();
}

static void reply_bench(uint32_t repeat) {
    static uint64_t ticks[EDGEC_BENCH_MAX];
    uint32_t i;
    int status = EDGEC_OK;
    for (i = 0; i < repeat && status == EDGEC_OK; ++i) {
        status = timed_run(&ticks[i]);
    }
    begin_reply(CMD_BENCH, (uint32_t)status, 4u + 8u * repeat);
    send_u32(repeat);
    for (i = 0; i < repeat; ++i) {
        send_u64(status == EDGEC_OK ? ticks[i] : 0u);
    }
    end_reply();
}

/* Read one request and answer it. */
static void serve(const edgec_model_info *info, int placed) {
    uint8_t head[4];
    uint32_t arg, length, crc, expected;
    wait_for_magic();
    receive(head, 4); /* version, command, reserved u16 */
    arg = receive_u32();
    length = receive_u32();
    if (head[1] == CMD_RUN || head[1] == CMD_BENCH) {
        if (!placed || length != total_bytes(info->inputs, info->num_inputs)) {
            discard(length);
            (void)receive_u32();
            reply_empty(head[1], placed ? STATUS_BAD_LENGTH : STATUS_TOO_SMALL);
            return;
        }
        receive_inputs(info);
    } else {
        discard(length);
    }
    expected = rx_crc;
    crc = receive_u32();
    if (crc != expected) {
        reply_empty(head[1], STATUS_BAD_CRC);
    } else if (head[0] != PROTOCOL_VERSION) {
        reply_empty(head[1], STATUS_BAD_VERSION);
    } else if (head[1] == CMD_INFO) {
        reply_info(info);
    } else if (head[1] == CMD_RUN) {
        reply_run(info);
    } else if (head[1] == CMD_BENCH && arg >= 1u && arg <= EDGEC_BENCH_MAX) {
        reply_bench(arg);
    } else {
        reply_empty(head[1], head[1] == CMD_BENCH ? STATUS_BAD_LENGTH : STATUS_BAD_COMMAND);
    }
}

int main(void) {
    const edgec_model_info *info = edgec_model_describe();
    int placed = place_tensors(info);
    edgec_uart_init();
    edgec_timer_init();
    for (;;) {
        serve(info, placed);
    }
}
