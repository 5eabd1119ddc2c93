/*
 * corpus/smc/smc.S -- code that the smc guest rewrites.
 */
        .text
/* uint32_t smc_same_block(uint32_t v): store v into the imm32 of a MOV a
 * few instructions further on in the same basic block, then execute it. */
        .globl smc_same_block
smc_same_block:
        movl 4(%esp), %ecx
        movl %ecx, sb_mov + 1
        nop
        addl $0, %edx
        nop
sb_mov: movl $0x11111111, %eax
        ret

/* uint32_t smc_next_insn(uint32_t v): the patched MOV is the very next
 * instruction after the store. */
        .globl smc_next_insn
smc_next_insn:
        movl 4(%esp), %ecx
        movl %ecx, nx_mov + 1
nx_mov: movl $0x22222222, %eax
        ret

/* uint32_t smc_loop(uint32_t n): every pass increments the imm32 of the
 * ADD below it in the same block; returns 1 + 2 + ... + n. */
        .globl smc_loop
smc_loop:
        movl 4(%esp), %ecx
        movl $0, lp_imm
        xorl %eax, %eax
1:      incl lp_imm
        .byte 0x05                      /* addl $imm32, %eax */
lp_imm: .long 0
        decl %ecx
        jnz 1b
        ret

/* uint32_t data_in_code_page(uint32_t n): a loop that stores to a variable
 * living next to it in the same page (no code bytes change). */
        .globl data_in_code_page
data_in_code_page:
        movl 4(%esp), %ecx
        movl $0, text_counter
1:      addl $3, text_counter
        decl %ecx
        jnz 1b
        movl text_counter, %eax
        ret
        .align 4
text_counter: .long 0

/* uint32_t patch_target(void): rewritten from C (immediate, then whole). */
        .globl patch_target
patch_target:
        movl $1, %eax
        ret
        .skip 26, 0x90

/* uint32_t jmp_site(void): a near JMP rel32 whose target is patched */
        .globl jmp_site, jmp_rel32, jt_a, jt_b
jmp_site:
        .byte 0xe9
jmp_rel32:
        .long jt_a - (jmp_rel32 + 4)
jt_a:   movl $0xa, %eax
        ret
jt_b:   movl $0xb, %eax
        ret

/* uint32_t short_site(void): JMP rel8, patched */
        .globl short_site, short_rel8, st_a, st_b
short_site:
        .byte 0xeb
short_rel8:
        .byte st_a - (short_rel8 + 1)
st_a:   movl $0xc, %eax
        ret
st_b:   movl $0xd, %eax
        ret

/* uint32_t cond_site(uint32_t x): JZ whose opcode is patched to JNZ */
        .globl cond_site, cond_jcc
cond_site:
        movl 4(%esp), %eax
        testl %eax, %eax
cond_jcc:
        jz 1f
        movl $0x10, %eax
        ret
1:      movl $0x20, %eax
        ret

/* a MOV whose imm32 straddles a page boundary: bytes 0xffd..0x1001 */
        .section .text.xpage, "ax"
        .balign 4096
        .skip 4096 - 3
        .globl xpage_fn
xpage_fn:
        movl $0x44332211, %eax
        ret

/* alias_fn: alone in its page, mapped a second time by the guest */
        .section .text.alias, "ax"
        .balign 4096
        .globl alias_fn
alias_fn:
        movl $0x0a0a0a0a, %eax
        ret
        .balign 4096

        .section .note.GNU-stack, "", @progbits
