/* Polled driver for the Arm CMSDK APB UART (MPS2/MPS3 boards, and QEMU's models of them). */
#include "board.h"

typedef struct {
    volatile uint32_t data;     /* 0x00: received byte / byte to send */
    volatile uint32_t state;    /* 0x04: bit 0 TX buffer full, bit 1 RX buffer full */
    volatile uint32_t ctrl;     /* 0x08: bit 0 TX enable, bit 1 RX enable */
    volatile uint32_t intstatus;
    volatile uint32_t bauddiv;  /* 0x10: clock / baud, at least 16 */
} cmsdk_uart;

#define UART ((cmsdk_uart *)(uintptr_t)(EDGEC_UART_BASE))
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

void edgec_uart_init(void) {
    UART->ctrl = 0;
    UART->bauddiv = (uint32_t)(EDGEC_CLOCK_HZ) / (uint32_t)(EDGEC_BAUD);
    UART->ctrl = 3u; /* TX and RX enabled, no interrupts */
}

uint8_t edgec_uart_getc(void) {
    while (!(UART->state & STATE_RX_FULL)) {
    }
    return (uint8_t)UART->data;
}

void edgec_uart_write(const void *data, size_t size) {
    const uint8_t *bytes = (const uint8_t *)data;
    size_t i;
    for (i = 0; i < size; ++i) {
        while (UART->state & STATE_TX_FULL) {
        }
        UART->data = bytes[i];
    }
}
