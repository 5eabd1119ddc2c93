/* pcunix/kernel/x86.h -- the few instructions C cannot say. */
#ifndef PCUNIX_X86_H
#define PCUNIX_X86_H

#include <stdint.h>

static inline uint8_t inb(uint16_t port) { uint8_t v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }

/* 16-bit string input: the ATA data register is 16 bits wide (ATA/ATAPI-6 7.7) */
static inline void insw(uint16_t port, void *dst, uint32_t count)
{
    asm volatile("cld; rep insw" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
}

static inline void lcr3(uint32_t pa) { asm volatile("movl %0, %%cr3" :: "r"(pa) : "memory"); }
static inline uint32_t rcr2(void) { uint32_t v; asm volatile("movl %%cr2, %0" : "=r"(v)); return v; }
static inline uint32_t rcr4(void) { uint32_t v; asm volatile("movl %%cr4, %0" : "=r"(v)); return v; }
static inline void lcr4(uint32_t v) { asm volatile("movl %0, %%cr4" :: "r"(v) : "memory"); }
static inline void ltr(uint16_t sel) { asm volatile("ltr %0" :: "r"(sel)); }
static inline void cli(void) { asm volatile("cli" ::: "memory"); }

/* Wait for an interrupt with interrupts disabled around the check: STI
 * takes effect after the next instruction, so no interrupt slips in
 * between the caller's test and the HLT (SDM 2B, STI). */
static inline void idle_wait(void) { asm volatile("sti; hlt; cli" ::: "memory"); }

#endif
