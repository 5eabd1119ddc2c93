/*
 * corpus/minios/minios.S -- assembly side of the minios guest (the kernel
 * enters its first task with the library's run_frame):
 *   gate_ticks             ring-0 target of the DPL-3 call gate 0x40
 *                          ("get ticks"), entered with a stack switch;
 *   t2_image .. t2_image_end
 *                          the program of task 2, position independent
 *                          with respect to its segments: the kernel copies
 *                          it to linear 0x200000 and runs it with CS/DS/SS
 *                          based at 0x200000 (EIP 0, ESP 0x10000), so every
 *                          absolute address in it is an offset O(label).
 */
#define SYS_EXIT   0
#define SYS_WRITE  1
#define SYS_YIELD  2
#define SYS_GETID  3
#define SYS_SLEEP  4
#define GATE_SEL   0x43                 /* GDT index 8, RPL 3 */

        .text
/* Call-gate target (0x08:gate_ticks, 0 parameters).  Entered at CPL 0 on
 * TSS.SS0:ESP0 - 16 holding [EIP, CS, ESP, SS] of the caller; IF is as the
 * caller had it (1), so the timer may interrupt here at ring 0.  DS still
 * holds the caller's (possibly based) data selector: switch to 0x10 to
 * read the kernel variables, restore it before lret.  Returns ticks in
 * EAX; every other register is preserved. */
        .globl gate_ticks
        .type gate_ticks, @function
gate_ticks:
        pushl %ds
        pushl %ecx
        movw $0x10, %cx
        movw %cx, %ds
        movl tss+4, %ecx                /* TSS.esp0 */
        subl $24, %ecx
        cmpl %esp, %ecx
        je 1f
        incl gate_bad_stack
1:      movl 12(%esp), %ecx             /* caller CS */
        andl $3, %ecx
        cmpl $3, %ecx
        je 2f
        incl gate_bad_cs
2:      movl 20(%esp), %ecx             /* caller SS */
        andl $3, %ecx
        cmpl $3, %ecx
        je 3f
        incl gate_bad_cs
3:      lock incl gate_calls
        movl ticks, %eax
        popl %ecx
        popl %ds
        lret

/* ===================================================================== *
 * Task 2: runs at CPL 3 with CS = 0x33, DS = ES = SS = 0x3b (base
 * 0x200000, limit 0xffff), FS = GS = 0 (null).  Results go through
 * int 0x80 system calls whose pointers are offsets in DS.
 * ===================================================================== */
#define O(x) ((x) - t2_image)

        .section .rodata.t2, "a"
        .p2align 4
        .globl t2_image, t2_image_end
t2_image:
        /* ---- who am I */
        movl $SYS_GETID, %eax
        int $0x80
        movl %eax, O(t2_id)
        addb $'0', %al
        movb %al, O(t2_hello_digit)
        movl $O(t2_hello), %ebx
        call t2_puts

        /* ---- my segments as seen from ring 3 */
        movl $O(t2_s_seg), %ebx
        call t2_puts
        movl %cs, %eax
        call t2_puthex
        movl $O(t2_s_lsl), %ebx
        call t2_puts
        movl %cs, %eax
        lsl %eax, %eax
        call t2_puthex
        movl $O(t2_s_sslar), %ebx
        call t2_puts
        movl %ss, %eax
        lar %eax, %eax
        andl $0x00f0fe00, %eax          /* accessed bit masked */
        call t2_puthex
        movl $O(t2_s_fs), %ebx
        call t2_puts
        movl %fs, %eax
        call t2_puthex
        movl $O(t2_nl), %ebx
        call t2_puts

        /* ---- string reversal: length by repne scasb (ES based),
         * reverse in place with two pointers, copy by rep movsb,
         * reverse the copy back, compare by repe cmpsb */
        cld
        movl $O(t2_str), %edi
        xorl %eax, %eax
        movl $-1, %ecx
        repne scasb
        notl %ecx
        decl %ecx                       /* strlen */
        movl %ecx, O(t2_len)
        movl $O(t2_str), %esi
        leal -1(%esi,%ecx), %edi
1:      cmpl %edi, %esi
        jae 2f
        movb (%esi), %al
        movb (%edi), %dl
        movb %dl, (%esi)
        movb %al, (%edi)
        incl %esi
        decl %edi
        jmp 1b
2:      movl $O(t2_s_rev), %ebx
        call t2_puts
        movl $O(t2_str), %ebx
        call t2_puts
        movl $O(t2_s_quote_nl), %ebx
        call t2_puts

        movl $O(t2_str), %esi
        movl $O(t2_copy), %edi
        movl O(t2_len), %ecx
        incl %ecx                       /* with the NUL */
        rep movsb
        movl $O(t2_copy), %esi          /* reverse the copy back */
        movl O(t2_len), %ecx
        leal -1(%esi,%ecx), %edi
3:      cmpl %edi, %esi
        jae 4f
        movb (%esi), %al
        xchgb %al, (%edi)
        movb %al, (%esi)
        incl %esi
        decl %edi
        jmp 3b
4:      movl $O(t2_copy), %esi
        movl $O(t2_orig), %edi
        movl O(t2_len), %ecx
        incl %ecx
        repe cmpsb
        movl $O(t2_s_no), %ebx
        jne 5f
        movl $O(t2_s_yes), %ebx
5:      pushl %ebx
        movl $O(t2_s_twice), %ebx
        call t2_puts
        popl %ebx
        call t2_puts

        movl $SYS_YIELD, %eax
        int $0x80

        /* ---- jump-table switch over i & 7, 100 rounds */
        xorl %ecx, %ecx
        movl $0x12345678, %esi
t2_jt_loop:
        movl %ecx, %edx
        andl $7, %edx
        jmp *O(t2_jt)(,%edx,4)
t2_c0:  imull $33, %esi, %esi
        addl %ecx, %esi
        jmp t2_jt_next
t2_c1:  movl %esi, %eax
        shrl $7, %eax
        xorl %eax, %esi
        jmp t2_jt_next
t2_c2:  roll $5, %esi
        jmp t2_jt_next
t2_c3:  addl $0x9e3779b9, %esi
        jmp t2_jt_next
t2_c4:  notl %esi
        jmp t2_jt_next
t2_c5:  leal (%esi,%ecx,8), %esi
        jmp t2_jt_next
t2_c6:  movl %esi, %eax
        shll $3, %eax
        subl %eax, %esi
        jmp t2_jt_next
t2_c7:  bswap %esi
t2_jt_next:
        incl %ecx
        cmpl $100, %ecx
        jb t2_jt_loop
        movl %esi, O(t2_acc)
        movl $O(t2_s_jt), %ebx
        call t2_puts
        movl %esi, %eax
        call t2_puthex
        movl $O(t2_nl), %ebx
        call t2_puts

        /* ---- recursion through a function-pointer table: tri(100) */
        movl $100, %eax
        call t2_tri
        movl %eax, O(t2_trival)
        movl $O(t2_s_tri), %ebx
        call t2_puts
        movl O(t2_trival), %eax
        call t2_puthex
        movl $O(t2_nl), %ebx
        call t2_puts

        /* ---- registers and selectors across preemption: spin a while */
        movl $0xb0b0b0b0, %ebx
        movl $0x51515151, %esi
        movl $0xd1d1d1d1, %edi
        movl $0xbebebebe, %ebp
        movl $400000, %ecx
6:      loop 6b
        xorl %edx, %edx
        cmpl $0xb0b0b0b0, %ebx
        setne %dl
        cmpl $0x51515151, %esi
        setne %al
        orb %al, %dl
        cmpl $0xd1d1d1d1, %edi
        setne %al
        orb %al, %dl
        cmpl $0xbebebebe, %ebp
        setne %al
        orb %al, %dl
        movl %ds, %eax
        cmpl $0x3b, %eax
        setne %al
        orb %al, %dl
        movl %es, %eax
        cmpl $0x3b, %eax
        setne %al
        orb %al, %dl
        movl %ss, %eax
        cmpl $0x3b, %eax
        setne %al
        orb %al, %dl
        movl %gs, %eax
        testl %eax, %eax
        setne %al
        orb %al, %dl
        movl $O(t2_s_regs), %ebx
        call t2_puts
        movl $O(t2_s_yes), %ebx
        testb %dl, %dl
        je 7f
        movl $O(t2_s_no), %ebx
7:      call t2_puts

        /* ---- sleep 40 ticks using the call gate for the time */
        lcall $GATE_SEL, $0
        addl $40, %eax
        movl %eax, O(t2_target)
        movl %eax, %ebx
        movl $SYS_SLEEP, %eax
        int $0x80
        lcall $GATE_SEL, $0
        movl $O(t2_s_sleep), %ebx
        call t2_puts
        movl $O(t2_s_yes), %ebx
        cmpl O(t2_target), %eax
        jae 8f
        movl $O(t2_s_no), %ebx
8:      call t2_puts

        movl $O(t2_s_bye), %ebx
        call t2_puts
        movl $SYS_EXIT, %eax
        movl O(t2_acc), %ebx
        int $0x80
        ud2                             /* exit never returns */

/* eax = n -> eax = n + (n-1) + ... + 0, dispatching through t2_ftab */
t2_tri:
        xorl %edx, %edx
        testl %eax, %eax
        setnz %dl
        call *O(t2_ftab)(,%edx,4)
        ret
t2_tri_zero:
        xorl %eax, %eax
        ret
t2_tri_rec:
        pushl %eax
        decl %eax
        call t2_tri
        popl %edx
        addl %edx, %eax
        ret

/* ebx = offset of a NUL-terminated string in DS: write it */
t2_puts:
        pushl %eax
        pushl %ecx
        xorl %ecx, %ecx
1:      cmpb $0, (%ebx,%ecx)
        je 2f
        incl %ecx
        jmp 1b
2:      movl $SYS_WRITE, %eax
        int $0x80
        popl %ecx
        popl %eax
        ret

/* eax: write "0x%08x" */
t2_puthex:
        pushal
        movl $O(t2_hexbuf)+2, %edi
        movl $8, %ecx
1:      roll $4, %eax
        movl %eax, %edx
        andl $15, %edx
        movb O(t2_hexdig)(%edx), %dl
        movb %dl, (%edi)
        incl %edi
        loop 1b
        movl $O(t2_hexbuf), %ebx
        movl $10, %ecx
        movl $SYS_WRITE, %eax
        int $0x80
        popal
        ret

        .p2align 2
t2_jt:  .long O(t2_c0), O(t2_c1), O(t2_c2), O(t2_c3)
        .long O(t2_c4), O(t2_c5), O(t2_c6), O(t2_c7)
t2_ftab:
        .long O(t2_tri_zero), O(t2_tri_rec)
t2_id:      .long 0
t2_len:     .long 0
t2_acc:     .long 0
t2_trival:  .long 0
t2_target:  .long 0
t2_hexdig:  .ascii "0123456789abcdef"
t2_hexbuf:  .ascii "0x00000000"
t2_hello:   .ascii "task2: id "
t2_hello_digit:
            .asciz "?, code and data based at 0x200000\n"
t2_s_seg:   .asciz "task2: cs "
t2_s_lsl:   .asciz " lsl "
t2_s_sslar: .asciz ", ss lar "
t2_s_fs:    .asciz ", fs "
t2_nl:      .asciz "\n"
t2_s_rev:   .asciz "task2: reversed '"
t2_s_quote_nl: .asciz "'\n"
t2_s_twice: .asciz "task2: reversed twice equals the original: "
t2_s_jt:    .asciz "task2: jump table accumulator "
t2_s_tri:   .asciz "task2: tri(100) through a function table "
t2_s_regs:  .asciz "task2: registers and selectors survive preemption: "
t2_s_sleep: .asciz "task2: gate ticks after sleep_until(gate ticks + 40) >= target: "
t2_s_yes:   .asciz "yes\n"
t2_s_no:    .asciz "NO\n"
t2_s_bye:   .asciz "task2: exit\n"
t2_str:     .asciz "segment base 0x200000, ring 3, preemptive"
t2_orig:    .asciz "segment base 0x200000, ring 3, preemptive"
t2_copy:    .skip 64
            .p2align 2
t2_image_end:

        .section .note.GNU-stack, "", @progbits
