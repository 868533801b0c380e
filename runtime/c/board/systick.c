/* 64-bit tick counter from the 24-bit SysTick: the interrupt counts wraps, edgec_ticks() joins them. */
#include "board.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_PERIOD 0x01000000u /* 2^24 ticks between wraps */

static volatile uint32_t wraps;

void SysTick_Handler(void) { wraps++; }

void edgec_timer_init(void) {
    SYST_CSR = 0;
    SYST_RVR = SYST_PERIOD - 1u;
    SYST_CVR = 0;
    wraps = 0;
    SYST_CSR = 7u; /* CLKSOURCE = CPU clock, TICKINT, ENABLE */
}

uint64_t edgec_ticks(void) {
    uint32_t high, value;
    do { /* a wrap between the two reads changes `wraps`: read again */
        high = wraps;
        value = SYST_CVR;
    } while (high != wraps);
    return (uint64_t)high * SYST_PERIOD + (uint64_t)(SYST_PERIOD - 1u - value);
}
