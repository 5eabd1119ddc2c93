/*
 * corpus/usermode/usermode.S -- ring-3 side of the usermode guest:
 * the user entry point (entered by the library's run_user_eflags), the
 * instruction-exact probes, and the table the kernel's fault handler uses
 * to recognise and skip each faulting instruction.
 *
 * Every probe is bracketed by two labels (start, end).  A fault reports
 * EIP == start (SDM vol 3 6.5 "faults ... the return address points to the
 * faulting instruction"), a trap reports EIP == end; the kernel resumes at
 * end in both cases.
 */
#define SYS_EXIT     0
#define SYS_WRITE    1
#define SYS_PUTHEX   2
#define SYS_GETVAL   3
#define SYS_FRAME    4
#define SYS_SETIOPL  5
#define SYS_NULLDS   6
#define SYS_BPDPL3   7

        .text
/* ------------------------------------------------------------ ring 3 */
        .globl user_entry
user_entry:
        /* the very first user instruction: EFLAGS exactly as iret set them */
        pushfl
        popl u_eflags_entry
        /* push %cs: the RPL of CS is the CPL (SDM vol 3 5.5). A 32-bit push
         * of a segment register may write only 16 bits (SDM vol 2 PUSH), so
         * pre-clear the slot. */
        pushl $0
        addl $4, %esp
        pushl %cs
        popl u_push_cs
        movl %cs, %eax
        movl %eax, u_mov_cs
        movl %ss, %eax
        movl %eax, u_mov_ss
        movl %ds, %eax
        movl %eax, u_mov_ds
        /* POPF at CPL 3 with IOPL 0 may change neither IF nor IOPL, silently
         * (SDM vol 2 POPF; vol 1 3.4.3): try IF=0 IOPL=3 + CF PF AF ZF SF */
        pushl $0x000030d5
        popfl
        pushfl
        popl u_popf_result
        pushl $0x00000202
        popfl
        /* sensitive but unprivileged instructions (SDM vol 3 2.8: SGDT, SIDT,
         * SLDT, STR, SMSW are not privileged when CR4.UMIP=0) */
        sgdt u_sgdt
        sidt u_sidt
        xorl %eax, %eax
        sldt %eax
        movl %eax, u_sldt
        movl $0xffffffff, %eax
        str %eax
        movl %eax, u_str
        movl $0, %eax
        smsw %eax
        movl %eax, u_smsw
        /* LAR/LSL/VERR/VERW obey CPL vs DPL (SDM vol 2): results and ZF */
        movl $0x1b, %ecx
        xorl %eax, %eax
        lsl %ecx, %eax
        setz %dl
        movl %eax, u_lsl_ucode
        movb %dl, u_lsl_ucode_zf
        movl $0x08, %ecx
        movl $0x12345678, %eax
        lsl %ecx, %eax
        setz %dl
        movl %eax, u_lsl_kcode          /* unchanged when ZF=0 */
        movb %dl, u_lsl_kcode_zf
        movl $0x28, %ecx
        lsl %ecx, %eax
        setz u_lsl_tss_zf
        movl $0x23, %ecx
        xorl %eax, %eax
        lar %ecx, %eax
        setz u_lar_udata_zf
        movl %eax, u_lar_udata
        movw $0x08, %cx
        verr %cx
        setz u_verr_kcode
        movw $0x1b, %cx
        verr %cx
        setz u_verr_ucode
        verw %cx
        setz u_verw_ucode
        movw $0x23, %cx
        verw %cx
        setz u_verw_udata
        /* a readable code segment may be loaded into DS (SDM vol 3 5.6) */
        movl $0x1b, %eax
        movw %ax, %ds
        movl %ds, %eax
        movl u_magic, %edx              /* a read through DS=0x1b */
        movl $0x23, %ebx
        movw %bx, %ds
        movl %eax, u_ds_code
        movl %edx, u_ds_code_read

        call user_main                  /* C: computations + syscalls */
        call user_faults                /* privileged instructions */
        call user_iopl3
        call user_nullds

        movl %eax, %ebx
        movl $SYS_EXIT, %eax
        int $0x80
        ud2                             /* never reached */

/* ------------------------------------------------------------ probes */
/* struct probe { start, end, name, kind }; kind 0 = fault, 1 = trap */
#define PROBE(n, kind) .pushsection .data; .long p_##n, p_##n##_end, s_##n, kind; \
        .pushsection .rodata; s_##n: .asciz #n; .popsection; .popsection

        .section .data
        .align 4
        .globl probe_table
probe_table:
        .text

        .globl user_faults
user_faults:
        pushl %ebx
        /* each of these raises #GP at CPL 3 with IOPL 0 */
        PROBE(cli, 0)
p_cli:  cli
p_cli_end:
        PROBE(sti, 0)
p_sti:  sti
p_sti_end:
        PROBE(hlt, 0)
p_hlt:  hlt
p_hlt_end:
        PROBE(in_imm, 0)
p_in_imm: inb $0x21, %al
p_in_imm_end:
        PROBE(out_dx, 0)
        movw $0x80, %dx
p_out_dx: outb %al, %dx
p_out_dx_end:
        PROBE(mov_from_cr0, 0)
p_mov_from_cr0: movl %cr0, %eax
p_mov_from_cr0_end:
        PROBE(mov_from_dr7, 0)
p_mov_from_dr7: movl %dr7, %eax
p_mov_from_dr7_end:
        PROBE(clts, 0)
p_clts: clts
p_clts_end:
        PROBE(lidt, 0)
p_lidt: lidt u_sidt
p_lidt_end:
        PROBE(rdmsr, 0)
        movl $0x10, %ecx
p_rdmsr: rdmsr
p_rdmsr_end:
        /* software interrupts through a DPL-0 gate: #GP(vector*8+2)
         * (SDM vol 3 6.12.1.1; INT3 and INTO are checked too) */
        PROBE(int_0x81, 0)
p_int_0x81: int $0x81
p_int_0x81_end:
        PROBE(int3_dpl0, 0)
p_int3_dpl0: int3
p_int3_dpl0_end:
        PROBE(into_dpl0, 0)
        movl $0x7fffffff, %eax
        addl $1, %eax                   /* OF=1 */
p_into_dpl0: into
p_into_dpl0_end:
        /* selector loads: DS with a DPL-0 segment -> #GP(sel); SS with
         * RPL != CPL -> #GP(sel) (SDM vol 3 5.6, vol 2 MOV) */
        PROBE(mov_ds_kdata, 0)
        movl $0x10, %eax
p_mov_ds_kdata: movw %ax, %ds
p_mov_ds_kdata_end:
        PROBE(mov_ss_rpl0, 0)
        movl $0x20, %eax
p_mov_ss_rpl0: movw %ax, %ss
p_mov_ss_rpl0_end:
        /* far jump to a non-conforming DPL-0 code segment -> #GP(sel) */
        PROBE(ljmp_kcode, 0)
p_ljmp_kcode: ljmp $0x08, $p_ljmp_kcode_end
p_ljmp_kcode_end:
        /* iret to an inner privilege level -> #GP(return CS) */
        PROBE(iret_ring0, 0)
        pushl $0x202
        pushl $0x08
        pushl $p_iret_ring0_end
p_iret_ring0: iretl
p_iret_ring0_end:
        addl $12, %esp
        popl %ebx
        ret

/* user_iopl3: the kernel raises IOPL to 3 (SYS_SETIOPL); now CLI/STI/IN
 * are allowed at CPL 3, POPF may change IF but still not IOPL, HLT is
 * still CPL-0 only (SDM vol 3 2.8, vol 1 3.4.3.3). */
        .globl user_iopl3
user_iopl3:
        pushl %ebx
        movl $SYS_SETIOPL, %eax
        movl $3, %ebx
        int $0x80
        pushfl
        popl u_fl_iopl3
        cli
        pushfl
        popl u_fl_iopl3_cli
        inb $0x21, %al                  /* PIC master IMR, kernel wrote 0xff */
        movb %al, u_in21_iopl3
        sti
        pushfl
        popl u_fl_iopl3_sti
        pushl $0x00000000               /* IF=0, IOPL=0 */
        popfl
        pushfl
        popl u_fl_iopl3_popf0
        pushl $0x00000202
        popfl
        pushfl
        popl u_fl_iopl3_popf1
        PROBE(hlt_iopl3, 0)
p_hlt_iopl3: hlt
p_hlt_iopl3_end:
        movl $SYS_SETIOPL, %eax
        movl $0, %ebx
        int $0x80
        pushfl
        popl u_fl_iopl0
        /* int3 through a DPL-3 gate: #BP is a trap, EIP after the int3 */
        movl $SYS_BPDPL3, %eax
        int $0x80
        PROBE(int3_dpl3, 1)
p_int3_dpl3: int3
p_int3_dpl3_end:
        /* user_esp in the syscall frame is ESP at the INT */
        movl $SYS_FRAME, %eax
        movl %esp, u_esp_at_int
        int $0x80
        popl %ebx
        ret

/* user_nullds: the kernel returns with a DPL-0 selector in the frame's DS;
 * IRET to an outer level loads it (at CPL 0) and then nulls DS because
 * DPL < CPL (SDM vol 2 IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL).  (A data
 * access through the null DS would raise #GP(0) on hardware, but QEMU's
 * TCG does not check it, so there is no reference for that: not probed.) */
        .globl user_nullds
user_nullds:
        pushl %ebx
        movl $SYS_NULLDS, %eax
        int $0x80
        movl %ds, %ecx
        movl %es, %edx
        movl $0x23, %eax
        movw %ax, %ds
        movl %ecx, u_ds_after_null
        movl %edx, u_es_after_null
        movl $0x55aa, %eax              /* value for SYS_EXIT */
        popl %ebx
        ret

        .section .data
        .long 0, 0, 0, 0                /* probe_table terminator */

        .section .rodata
        .align 4
        .globl u_magic
u_magic: .long 0xc0dec0de

        .section .bss
        .align 4
        .globl u_eflags_entry, u_push_cs, u_mov_cs, u_mov_ss, u_mov_ds
        .globl u_popf_result, u_sgdt, u_sidt, u_sldt, u_str, u_smsw
        .globl u_lsl_ucode, u_lsl_ucode_zf, u_lsl_kcode, u_lsl_kcode_zf
        .globl u_lsl_tss_zf, u_lar_udata, u_lar_udata_zf
        .globl u_verr_kcode, u_verr_ucode, u_verw_ucode, u_verw_udata
        .globl u_ds_code, u_ds_code_read
        .globl u_fl_iopl3, u_fl_iopl3_cli, u_in21_iopl3, u_fl_iopl3_sti
        .globl u_fl_iopl3_popf0, u_fl_iopl3_popf1, u_fl_iopl0
        .globl u_esp_at_int, u_ds_after_null, u_es_after_null
u_eflags_entry: .long 0
u_push_cs: .long 0
u_mov_cs: .long 0
u_mov_ss: .long 0
u_mov_ds: .long 0
u_popf_result: .long 0
u_sgdt: .long 0, 0
u_sidt: .long 0, 0
u_sldt: .long 0
u_str: .long 0
u_smsw: .long 0
u_lsl_ucode: .long 0
u_lsl_kcode: .long 0
u_lar_udata: .long 0
u_ds_code: .long 0
u_ds_code_read: .long 0
u_fl_iopl3: .long 0
u_fl_iopl3_cli: .long 0
u_fl_iopl3_sti: .long 0
u_fl_iopl3_popf0: .long 0
u_fl_iopl3_popf1: .long 0
u_fl_iopl0: .long 0
u_esp_at_int: .long 0
u_ds_after_null: .long 0
u_es_after_null: .long 0
u_lsl_ucode_zf: .byte 0
u_lsl_kcode_zf: .byte 0
u_lsl_tss_zf: .byte 0
u_lar_udata_zf: .byte 0
u_verr_kcode: .byte 0
u_verr_ucode: .byte 0
u_verw_ucode: .byte 0
u_verw_udata: .byte 0
u_in21_iopl3: .byte 0

        .section .note.GNU-stack, "", @progbits
