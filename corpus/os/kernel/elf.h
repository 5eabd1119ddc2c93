/*
 * corpus/os/kernel/elf.h -- the parts of an ELF32 executable exec() reads
 * (System V ABI, "ELF Header" and "Program Header"; i386 supplement).
 */
#ifndef BTOS_ELF_H
#define BTOS_ELF_H

#include <stdint.h>

#define ELF_MAGIC 0x464C457Fu           /* "\x7fELF" */
#define ELFCLASS32  1
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define EM_386  3
#define PT_LOAD 1
#define PF_W    2

struct elfhdr {
    uint32_t magic;
    uint8_t class, data, version, osabi;
    uint8_t pad[8];
    uint16_t type, machine;
    uint32_t version2, entry, phoff, shoff, flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct proghdr {
    uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};

#endif
