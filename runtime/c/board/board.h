/* edgec board support: the few things the device main loop needs from a Cortex-M board.
 *
 * Plain C99, no library calls. Board parameters come from board_config.h, which edgec writes:
 *   EDGEC_UART_BASE  address of the board's CMSDK APB UART (the host link)
 *   EDGEC_CLOCK_HZ   CPU clock in Hz (SysTick counts it; the UART baud divider derives from it)
 *   EDGEC_BAUD       UART baud rate (default 115200; ignored by QEMU)
 */
#ifndef EDGEC_BOARD_H
#define EDGEC_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "board_config.h"

#ifndef EDGEC_UART_BASE
#error "EDGEC_UART_BASE must be defined (the board's UART address)"
#endif
#ifndef EDGEC_CLOCK_HZ
#error "EDGEC_CLOCK_HZ must be defined (the board's CPU clock)"
#endif
#ifndef EDGEC_BAUD
#define EDGEC_BAUD 115200u
#endif

/* UART (cmsdk_uart.c): blocking, polled; no interrupts. */
void edgec_uart_init(void);
uint8_t edgec_uart_getc(void);
void edgec_uart_write(const void *data, size_t size);

/* Timing (systick.c): SysTick on the CPU clock, 24 bits, overflows counted in its interrupt, so
 * edgec_ticks() is a 64-bit count of CPU clock ticks since edgec_timer_init(). On a real board a
 * tick is a cycle; under QEMU with -icount shift=0 a tick is 1e9 / EDGEC_CLOCK_HZ instructions. */
void edgec_timer_init(void);
uint64_t edgec_ticks(void);

/* Startup (startup.c): the stack's size and its deepest use since reset (the reset handler paints
 * the stack; the deepest word no longer painted marks the high-water point). */
uint32_t edgec_stack_size(void);
uint32_t edgec_stack_used(void);

/* Startup (startup.c): stop the program; under QEMU with semihosting this exits QEMU with `code`. */
void edgec_exit(int code);

#endif /* EDGEC_BOARD_H */
