/*
 * corpus/exceptions/exceptions.S -- the faulting instructions of the
 * exceptions guest.  Each probe is bracketed by labels p_NAME (start) and
 * p_NAME_end; a table entry (appended to probe_table in execution order)
 * holds the expected vector, error code and saved-EIP offset.  The C
 * handler takes the entries in order, checks them and resumes at the end
 * label.
 */
/* struct probe { start, end, name, vector, error, eip_off, kind } */
#define K_EIP   0       /* saved EIP must be start + eip_off */
#define K_ANY   1       /* saved EIP undefined (#DF): not checked */
#define K_CR2   2       /* saved EIP must equal CR2 (instruction fetch) */
#define PROBE(n, vec, err, off, kind) \
        .pushsection .data; .long p_##n, p_##n##_end, s_##n, vec, err, off, kind; \
        .pushsection .rodata; s_##n: .asciz #n; .popsection; .popsection

        .section .data
        .align 4
        .globl probe_table
probe_table:

        .text
/* ------------------------------------------------------------ #DE #UD */
        .globl probes_de_ud
probes_de_ud:
        pushl %ebx
        PROBE(div_by_zero, 0, 0, 0, K_EIP)
        xorl %ecx, %ecx
        movl $1, %eax
        xorl %edx, %edx
p_div_by_zero: divl %ecx
p_div_by_zero_end:
        PROBE(div_quotient_ovf, 0, 0, 0, K_EIP)
        movl $1, %edx                   /* 2^32 / 1 does not fit */
        xorl %eax, %eax
        movl $1, %ecx
p_div_quotient_ovf: divl %ecx
p_div_quotient_ovf_end:
        PROBE(idiv_min_by_m1, 0, 0, 0, K_EIP)
        movl $0x80000000, %eax
        cltd
        movl $-1, %ecx
p_idiv_min_by_m1: idivl %ecx
p_idiv_min_by_m1_end:
        PROBE(idiv8_m128_by_m1, 0, 0, 0, K_EIP)
        movw $0xff80, %ax
        movb $0xff, %cl
p_idiv8_m128_by_m1: idivb %cl
p_idiv8_m128_by_m1_end:
        PROBE(aam_0, 0, 0, 0, K_EIP)
p_aam_0: .byte 0xd4, 0x00               /* aam $0 */
p_aam_0_end:
        PROBE(ud2, 6, 0, 0, K_EIP)
p_ud2:  ud2
p_ud2_end:
        PROBE(ud1, 6, 0, 0, K_EIP)
p_ud1:  .byte 0x0f, 0xb9, 0xc0          /* ud1 %eax, %eax */
p_ud1_end:
        PROBE(lock_nop, 6, 0, 0, K_EIP)
p_lock_nop: .byte 0xf0, 0x90            /* LOCK on a non-memory op */
p_lock_nop_end:
        PROBE(lea_reg, 6, 0, 0, K_EIP)
p_lea_reg: .byte 0x8d, 0xc0             /* lea with a register operand */
p_lea_reg_end:
        PROBE(mov_to_cs, 6, 0, 0, K_EIP)
p_mov_to_cs: .byte 0x8e, 0xc8           /* movw %ax, %cs */
p_mov_to_cs_end:
        PROBE(mov_to_cr5, 6, 0, 0, K_EIP)
p_mov_to_cr5: .byte 0x0f, 0x22, 0xe8    /* movl %eax, %cr5 */
p_mov_to_cr5_end:
        popl %ebx
        ret

/* ------------------------------------------------------------ #GP #NP #SS */
        .globl probes_seg
probes_seg:
        PROBE(ds_beyond_gdt_limit, 13, 0xfff8, 0, K_EIP)
        movw $0xfff8, %ax
p_ds_beyond_gdt_limit: movw %ax, %ds
p_ds_beyond_gdt_limit_end:
        PROBE(es_tss_selector, 13, 0x28, 0, K_EIP)
        movw $0x28, %ax
p_es_tss_selector: movw %ax, %es
p_es_tss_selector_end:
        PROBE(ss_null, 13, 0, 0, K_EIP)
        xorl %eax, %eax
p_ss_null: movw %ax, %ss
p_ss_null_end:
        PROBE(ss_code_segment, 13, 0x08, 0, K_EIP)
        movw $0x08, %ax
p_ss_code_segment: movw %ax, %ss
p_ss_code_segment_end:
        PROBE(ss_rpl3_at_cpl0, 13, 0x20, 0, K_EIP)
        movw $0x23, %ax
p_ss_rpl3_at_cpl0: movw %ax, %ss
p_ss_rpl3_at_cpl0_end:
        PROBE(ljmp_data_segment, 13, 0x10, 0, K_EIP)
p_ljmp_data_segment: ljmp $0x10, $p_ljmp_data_segment_end
p_ljmp_data_segment_end:
        PROBE(insn_16_bytes, 13, 0, 0, K_EIP)
p_insn_16_bytes: .fill 15, 1, 0x3e      /* 15 DS prefixes + nop */
        nop
p_insn_16_bytes_end:
        .fill 14, 1, 0x3e               /* 15 bytes is legal */
        nop
        PROBE(es_not_present, 11, 0x30, 0, K_EIP)
        movw $0x30, %ax
p_es_not_present: movw %ax, %es
p_es_not_present_end:
        PROBE(ss_not_present, 12, 0x30, 0, K_EIP)
        movw $0x30, %ax
p_ss_not_present: movw %ax, %ss
p_ss_not_present_end:
        PROBE(int_gate_not_present, 11, 0x212, 0, K_EIP)
p_int_gate_not_present: int $0x42
p_int_gate_not_present_end:
        PROBE(int_beyond_idt_limit, 13, 0x202, 0, K_EIP)
        sidt saved_idtr
        lidt small_idtr
p_int_beyond_idt_limit: int $0x40
p_int_beyond_idt_limit_end:
        lidt saved_idtr
        movw $0x10, %ax                 /* selector loads that faulted */
        movw %ax, %ds                   /* left these unchanged; reload */
        movw %ax, %es                   /* anyway */
        movw %ax, %ss
        ret

/* ------------------------------------------------------------ traps, #BR, #NM, #MF */
        .globl probes_misc
probes_misc:
        PROBE(int3, 3, 0, 1, K_EIP)
p_int3: int3
p_int3_end:
        PROBE(int_3, 3, 0, 2, K_EIP)
p_int_3: .byte 0xcd, 0x03               /* int $3 (gas would emit 0xcc) */
p_int_3_end:
        movl $0x7ffffffe, %eax
        addl $1, %eax                   /* OF=0: into does nothing */
        into
        PROBE(into_of1, 4, 0, 1, K_EIP)
        addl $1, %eax                   /* OF=1 */
p_into_of1: into
p_into_of1_end:
        PROBE(bound_above, 5, 0, 0, K_EIP)
        movl $10, %eax                  /* bounds are [0, 5] */
p_bound_above: boundl %eax, bounds
p_bound_above_end:
        movl $5, %eax
        boundl %eax, bounds             /* in range: no #BR */
        /* #NM: CR0.TS=1 makes x87 instructions fault; WAIT faults only
         * when MP=1 too (SDM vol 3 2.5, 6.15 "Interrupt 7") */
        movl %cr0, %eax
        andl $~0x6, %eax                /* MP=0 EM=0 */
        orl $0x28, %eax                 /* TS=1 NE=1 */
        movl %eax, %cr0
        PROBE(fnop_ts, 7, 0, 0, K_EIP)
p_fnop_ts: fnop
p_fnop_ts_end:
        fwait                           /* MP=0: no #NM */
        orl $0x2, %eax                  /* MP=1 */
        movl %eax, %cr0
        PROBE(fwait_ts_mp, 7, 0, 0, K_EIP)
p_fwait_ts_mp: fwait
p_fwait_ts_mp_end:
        clts
        /* #MF: an unmasked x87 zero-divide is reported at the next waiting
         * x87 instruction (CR0.NE=1; SDM vol 1 8.7, vol 3 6.15 Int 16) */
        fninit
        fldcw fpu_cw
        fld1
        fldz
        fdivrp
        PROBE(x87_zero_divide, 16, 0, 0, K_EIP)
p_x87_zero_divide: fwait
p_x87_zero_divide_end:
        fnstsw %ax
        movw %ax, fpu_sw
        fnclex
        fninit
        movl %cr0, %eax
        andl $~0x2, %eax                /* MP=0 */
        movl %eax, %cr0
        ret

/* ------------------------------------------------------------ #PF */
        .globl probes_pf
probes_pf:
        PROBE(pf_read, 14, 0, 0, K_EIP)
p_pf_read: movl 0x00800010, %eax
p_pf_read_end:
        PROBE(pf_write, 14, 2, 0, K_EIP)
p_pf_write: movl %eax, 0x00c00ffc
p_pf_write_end:
        PROBE(pf_write_split, 14, 2, 0, K_EIP)
p_pf_write_split: movl %eax, 0x003ffffe  /* last page present, next not */
p_pf_write_split_end:
        PROBE(pf_fetch, 14, 0, 0, K_CR2)
        movl $0x00801000, %eax
p_pf_fetch: jmp *%eax
p_pf_fetch_end:
        ret

/* ------------------------------------------------------------ #DF */
/* IDT[13] made not present: delivering #GP raises #NP, and two
 * contributory exceptions make a double fault, error code 0 (SDM vol 3
 * 6.15 "Interrupt 8", table 6-5). The saved CS:EIP are undefined. */
        .globl probes_df
probes_df:
        PROBE(gp_with_gp_gate_absent, 8, 0, 0, K_ANY)
        movw $0xfff8, %ax
p_gp_with_gp_gate_absent: movw %ax, %ds
p_gp_with_gp_gate_absent_end:
        ret


/* ------------------------------------------------------------ #DB */
/* Single step (SDM vol 3 17.3.1.4): the trap follows the instruction after
 * the POPF that set TF; MOV SS and POP SS suppress the trap after
 * themselves, so it is taken after the next instruction (6.8.3). */
        .globl db_singlestep, db_ss_base, db_ss_stop
db_singlestep:
        pushfl
        orl $0x100, (%esp)
        popfl
db_ss_base:
        nop                             /* -> trap at +1 */
        movl %ss, %ecx                  /* -> +3 */
        movw %cx, %ss                   /* no trap here */
        nop                             /* -> +6 */
        pushl %ss                       /* -> +7 */
        popl %ss                        /* no trap here */
        nop                             /* -> +9 */
        movl $1, %eax                   /* -> +14 = stop */
db_ss_stop:
        ret

/* Instruction breakpoint in DR0 (a fault, 17.3.1.1): the handler sets
 * EFLAGS.RF so the instruction then runs once without a fault; the loop
 * hits the breakpoint again on each pass. */
        .globl db_exec, db_exec_insn, db_exec_count
db_exec:
        movl $db_exec_insn, %eax
        movl %eax, %dr0
        movl $0x00000001, %eax          /* L0, R/W0=00 execute, LEN0=00 */
        movl %eax, %dr7
        xorl %edx, %edx
        movl $3, %ecx
1:
db_exec_insn:
        incl %edx
        decl %ecx
        jnz 1b
        xorl %eax, %eax
        movl %eax, %dr7
        movl %edx, db_exec_count
        ret

/* Data write breakpoint in DR1 over 4 bytes (a trap, 17.3.1.2): reads and
 * writes outside the range do not trigger. */
        .globl db_data, db_data_base, db_dw1, db_dw2, db_dw3, db_var
db_data:
        movl $db_var, %eax
        movl %eax, %dr1
        movl $0x00d00004, %eax          /* L1, R/W1=01 write, LEN1=11 */
        movl %eax, %dr7
db_data_base:
        movl $1, db_var
db_dw1:
        movl db_var, %eax
        movw $2, db_var + 2
db_dw2:
        movl $3, db_var + 4
        movb $4, db_var + 3
db_dw3:
        xorl %eax, %eax
        movl %eax, %dr7
        ret

        .section .bss                   /* not .data: probe_table lives there */
        .align 4
db_var: .long 0, 0
        .globl db_exec_count
db_exec_count: .long 0
        .text

        .section .data
        .long 0, 0, 0, 0, 0, 0, 0       /* probe_table terminator */
        .align 4
bounds: .long 0, 5
        .align 4
        .word 0
small_idtr:
        .word 32 * 8 - 1                /* 32 vectors */
        .long idt
        .align 4
        .word 0
saved_idtr:
        .word 0
        .long 0
fpu_cw: .word 0x037b                    /* all masked but ZE */
        .globl fpu_sw
fpu_sw: .word 0
        .align 4
scratch: .long 0

        .section .note.GNU-stack, "", @progbits
