/* edgec startup code for Cortex-M: vector table, reset handler, fault handler, exit.
 *
 * QEMU (like the hardware) ignores the ELF entry point on M-profile cores: on reset it loads the
 * stack pointer and the reset handler's address from the vector table at address 0, which the
 * linker script puts first in flash. The reset handler enables the FPU/MVE (before any code that
 * might use them: GCC may vectorise the copy loops below), paints the free stack with a pattern
 * (edgec_stack_used() later finds the deepest point it reached), copies .data from flash to RAM,
 * zeroes .bss and calls main. A fault ends the program with exit code 128 + exception number (through
 * semihosting when EDGEC_SEMIHOSTING is 1, as under QEMU; a real board without a debugger stops).
 */
#include <stdint.h>

#include "board.h"

#ifndef EDGEC_SEMIHOSTING
#define EDGEC_SEMIHOSTING 0
#endif

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_limit, __stack_top;

int main(void);
void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

#define CPACR (*(volatile uint32_t *)0xE000ED88u)
#define STACK_PAINT 0x5AFEC0DEu
#define PAINT_MARGIN 32u /* words below the current stack pointer left alone (this function's callees) */

void Reset_Handler(void) {
    const uint32_t *src = &__data_load;
    uint32_t *dst;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    CPACR |= 0xFu << 20; /* full access to coprocessors 10 and 11: the FPU and MVE */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    __asm__ volatile("mov %0, sp" : "=r"(dst));
    for (dst -= PAINT_MARGIN; dst > &__stack_limit;) {
        *--dst = STACK_PAINT;
    }
    for (dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    edgec_exit(main());
}

uint32_t edgec_stack_size(void) { return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)&__stack_limit); }

/* Deepest stack use since reset: the first word from the bottom that no longer holds the paint. */
uint32_t edgec_stack_used(void) {
    const volatile uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with `code` as its own exit status. */
void edgec_exit(int code) {
#if EDGEC_SEMIHOSTING
    uint32_t block[2];
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t *r1 __asm__("r1") = block;
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
#else
    (void)code;
#endif
    for (;;) {
    }
}

void Default_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    edgec_exit(128 + (int)(ipsr & 0x1FFu));
}

/* The 16 system exceptions; edgec polls its UART, so no device interrupts are used. */
__attribute__((section(".vectors"), used)) const uintptr_t edgec_vectors[16] = {
    (uintptr_t)&__stack_top,
    (uintptr_t)&Reset_Handler,
    (uintptr_t)&Default_Handler, /* NMI */
    (uintptr_t)&Default_Handler, /* HardFault */
    (uintptr_t)&Default_Handler, /* MemManage */
    (uintptr_t)&Default_Handler, /* BusFault */
    (uintptr_t)&Default_Handler, /* UsageFault */
    (uintptr_t)&Default_Handler, /* SecureFault (Armv8-M) */
    0, 0, 0,
    (uintptr_t)&Default_Handler, /* SVCall */
    (uintptr_t)&Default_Handler, /* DebugMonitor */
    0,
    (uintptr_t)&Default_Handler, /* PendSV */
    (uintptr_t)&SysTick_Handler,
};
