/*
 * corpus/os/kernel/firmware.h -- helpers for the firmware tables (firmware.c).
 */
#ifndef BTOS_FIRMWARE_H
#define BTOS_FIRMWARE_H

#include <stdint.h>

struct platform;

uint8_t fw_sum(const void *p, uint32_t n);
const void *fw_scan(uint32_t pa, uint32_t len, const char *sig, uint32_t sumlen);
uint32_t fw_ebda(void);
uint32_t fw_base_memory(void);
void fw_isa_route(struct platform *pf, int irq, int pin, uint16_t flags);

#endif
