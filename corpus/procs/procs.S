/*
 * corpus/procs/procs.S -- assembly side of the procs guest (the kernel
 * enters its first process with the library's run_frame):
 *   uimg .. uimg_end            the ring-3 program image.  The kernel copies
 *                               it into each process's own code frames,
 *                               mapped read-only at UVA = 0x40000000 in
 *                               every address space, so every absolute
 *                               address in it is U(label).  Each process
 *                               starts at its own entry (p0_main, p1_main,
 *                               p2_main); the kernel passes nothing else.
 *
 * Per-process user memory (same virtual addresses in every process, own
 * physical frames):
 *   0x40000000  code (this image, read-only)
 *   0x40010000  data page: +0 marker (written by the kernel), +4 pid,
 *               +8 scratch word, +0xfc line length, +0x100 line buffer
 *   0x40011000  two work pages (sieve / crc data)
 *   0x40020000  a read-only page (kernel-initialised)
 *   0x40100000  heap: 8 pages, not present until touched (demand paging)
 *   0x403fe000  stack, two pages, top 0x40400000
 */
#define SYS_EXIT   0
#define SYS_WRITE  1
#define SYS_YIELD  2
#define SYS_GETPID 3
#define SYS_TICKS  4
#define SYS_SUM    5

#define UVA     0x40000000
#define UDATA   0x40010000
#define UBIG    0x40011000
#define URO     0x40020000
#define UHEAP   0x40100000
#define MARKER  (UDATA + 0)
#define PID     (UDATA + 4)
#define SCRATCH (UDATA + 8)
#define LBLEN   (UDATA + 0xfc)
#define LB      (UDATA + 0x100)

        .text
/* ===================================================================== *
 * The ring-3 image.  CS = 0x1b, DS = ES = SS = 0x23 (flat); it only
 * touches its own pages at 0x40000000.. (the kernel is supervisor-only).
 * ===================================================================== */
#define U(x) (UVA + ((x) - uimg))

        .macro SYS nr
        movl $\nr, %eax
        int $0x80
        .endm

        .macro STR label
        movl $U(\label), %esi
        call u_str
        .endm

        .section .rodata.uimg, "a"
        .p2align 4
        .globl uimg, uimg_end, p0_main, p1_main, p2_main
uimg:

/* ---- line output: append to LB, u_nl writes it with SYS_WRITE */
u_str:                                  /* append NUL-terminated string %esi */
        pushl %eax
        pushl %edi
        movl LBLEN, %edi
1:      lodsb
        testb %al, %al
        jz 2f
        movb %al, LB(%edi)
        incl %edi
        jmp 1b
2:      movl %edi, LBLEN
        popl %edi
        popl %eax
        ret

u_dec:                                  /* append %eax in decimal */
        pushal
        movl $10, %ecx
        xorl %ebx, %ebx
1:      xorl %edx, %edx
        divl %ecx
        addl $'0', %edx
        pushl %edx
        incl %ebx
        testl %eax, %eax
        jnz 1b
        movl LBLEN, %edi
2:      popl %eax
        movb %al, LB(%edi)
        incl %edi
        decl %ebx
        jnz 2b
        movl %edi, LBLEN
        popal
        ret

u_hex:                                  /* append %eax as 0x%08x */
        pushal
        movl LBLEN, %edi
        movb $'0', LB(%edi)
        movb $'x', LB+1(%edi)
        addl $2, %edi
        movl $8, %ecx
1:      roll $4, %eax
        movl %eax, %edx
        andl $15, %edx
        movb U(hexdig)(%edx), %dl
        movb %dl, LB(%edi)
        incl %edi
        loop 1b
        movl %edi, LBLEN
        popal
        ret

u_nl:                                   /* append '\n', write the line */
        pushal
        movl LBLEN, %ecx
        movb $10, LB(%ecx)
        incl %ecx
        movl $LB, %ebx
        SYS SYS_WRITE
        movl $0, LBLEN
        popal
        ret

u_prefix:                               /* "pN: " */
        pushl %eax
        STR s_p
        movl PID, %eax
        call u_dec
        STR s_colon
        popl %eax
        ret

u_yesno:                                /* ZF=1: "yes" else "NO" */
        movl $U(s_yes), %esi
        jz 1f
        movl $U(s_no), %esi
1:      jmp u_str

/* ---- common start: pid, marker, scratch word kept across a yield */
u_intro:
        SYS SYS_GETPID
        movl %eax, PID
        call u_prefix
        STR s_intro1
        movl PID, %eax
        call u_dec
        STR s_intro2
        movl MARKER, %eax
        call u_hex
        STR s_intro3
        movl URO, %eax
        call u_hex
        call u_nl
        /* same virtual address in every process, different frames */
        movl PID, %eax
        imull $0x01110111, %eax, %eax
        orl $0xa5000000, %eax
        movl %eax, SCRATCH
        movl %eax, %ebx
        SYS SYS_YIELD
        call u_prefix
        STR s_scratch
        movl SCRATCH, %eax
        call u_hex
        cmpl %ebx, SCRATCH
        pushfl
        STR s_kept
        popfl
        call u_yesno
        call u_nl
        ret

/* crc32 (reflected 0xedb88320, bitwise) of %ecx bytes at %esi -> %eax */
u_crc32:
        pushl %ebx
        pushl %ecx
        pushl %edx
        pushl %esi
        movl $0xffffffff, %eax
        testl %ecx, %ecx
        jz 4f
1:      movzbl (%esi), %edx
        xorl %edx, %eax
        movl $8, %ebx
2:      shrl $1, %eax
        jnc 3f
        xorl $0xedb88320, %eax
3:      decl %ebx
        jnz 2b
        incl %esi
        decl %ecx
        jnz 1b
4:      notl %eax
        popl %esi
        popl %edx
        popl %ecx
        popl %ebx
        ret

u_fib:                                  /* %eax = fib(%eax), recursive */
        cmpl $2, %eax
        jb 1f
        pushl %eax
        decl %eax
        call u_fib
        xchgl %eax, (%esp)
        subl $2, %eax
        call u_fib
        popl %edx
        addl %edx, %eax
1:      ret

/* ---------------------------------------------------------------- p0 */
p0_main:
        call u_intro
        /* spin 4 ticks at ring 3: with a 2-tick quantum the timer preempts
         * p0 here unless it already did (p1 and p2 have not run yet) */
        SYS SYS_TICKS
        movl %eax, %ebp
1:      SYS SYS_TICKS
        subl %ebp, %eax
        cmpl $4, %eax
        jb 1b
        call u_prefix
        STR s_spun
        call u_nl

        /* sieve of Eratosthenes below 8192 in the two work pages */
        movl $UBIG, %edi
        movl $8192, %ecx
        xorl %eax, %eax
        cld
        rep stosb
        xorl %ebx, %ebx                 /* count */
        xorl %ebp, %ebp                 /* sum */
        xorl %edx, %edx                 /* largest */
        movl $2, %esi
1:      cmpb $0, UBIG(%esi)
        jne 3f
        incl %ebx
        addl %esi, %ebp
        movl %esi, %edx
        movl %esi, %edi
        imull %esi, %edi
2:      cmpl $8192, %edi
        jae 3f
        movb $1, UBIG(%edi)
        addl %esi, %edi
        jmp 2b
3:      incl %esi
        cmpl $8192, %esi
        jb 1b
        call u_prefix
        STR s_primes
        movl %ebx, %eax
        call u_dec
        STR s_largest
        movl %edx, %eax
        call u_dec
        STR s_sum
        movl %ebp, %eax
        call u_dec
        call u_nl
        pushl %ebp
        SYS SYS_YIELD

        /* the read-only page: read, write (#PF err 7, the kernel makes the
         * page writable and the store is restarted), read back */
        call u_prefix
        STR s_ro1
        movl URO+4, %eax
        call u_hex
        call u_nl
        movl $0x0dd0c0de, URO+4
        call u_prefix
        STR s_ro2
        movl URO+4, %eax
        call u_hex
        call u_nl
        popl %ebx
        xorl URO+4, %ebx                /* exit code: prime sum ^ new word */
        call u_prefix
        STR s_exit
        call u_nl
        movl $SYS_EXIT, %eax
        int $0x80
        ud2

/* ---------------------------------------------------------------- p1 */
/* heap pages 0..5: word j of page i = ((i << 16) | j) * 0x9e3779b1, written
 * in order (first touch of each page: write at its base, #PF err 6) */
p1_fill:                                /* pages %ebx .. %ecx-1 */
1:      xorl %edx, %edx
2:      movl %ebx, %eax
        shll $16, %eax
        orl %edx, %eax
        imull $0x9e3779b1, %eax, %eax
        movl %ebx, %edi
        shll $10, %edi
        addl %edx, %edi
        movl %eax, UHEAP(,%edi,4)
        incl %edx
        cmpl $1024, %edx
        jb 2b
        incl %ebx
        cmpl %ecx, %ebx
        jb 1b
        ret

p1_main:
        call u_intro
        movl $0, %ebx
        movl $3, %ecx
        call p1_fill
        call u_prefix
        STR s_heap1
        call u_nl
        SYS SYS_YIELD
        movl $3, %ebx
        movl $6, %ecx
        call p1_fill
        call u_prefix
        STR s_heap2
        call u_nl

        /* page 6: first touched by the kernel (SYS_SUM reads it at ring 0:
         * #PF err 0 inside the system call), then read here */
        movl $UHEAP + 6 * 4096, %ebx
        movl $4096, %ecx
        SYS SYS_SUM
        movl %eax, %ebp
        movl $UHEAP + 6 * 4096, %esi
        movl $1024, %ecx
        xorl %edx, %edx
1:      orl (%esi), %edx
        addl $4, %esi
        loop 1b
        call u_prefix
        STR s_heap3
        movl %ebp, %eax
        call u_hex
        STR s_heap4
        movl %edx, %eax
        call u_hex
        call u_nl

        /* page 7: first touch a store in the middle of the page */
        movl $0x77777777, UHEAP + 7 * 4096 + 0x800
        call u_prefix
        STR s_heap5
        movl UHEAP + 7 * 4096 + 0x800, %eax
        call u_hex
        STR s_heap6
        movl UHEAP + 7 * 4096 + 0x7fc, %eax
        call u_hex
        call u_nl

        /* checksum of pages 0..5: h = rol(h, 5) ^ word */
        xorl %eax, %eax
        movl $UHEAP, %esi
        movl $6 * 1024, %ecx
1:      roll $5, %eax
        xorl (%esi), %eax
        addl $4, %esi
        loop 1b
        movl %eax, %ebx
        call u_prefix
        STR s_heapsum
        movl %ebx, %eax
        call u_hex
        call u_nl
        call u_prefix
        STR s_exit
        call u_nl
        movl $SYS_EXIT, %eax
        int $0x80
        ud2

/* ---------------------------------------------------------------- p2 */
p2_main:
        call u_intro
        /* 8 KiB of LCG bytes (x = x * 1664525 + 1013904223, byte x >> 24) */
        movl $0x2545f491, %eax
        xorl %edi, %edi
1:      imull $1664525, %eax, %eax
        addl $1013904223, %eax
        movl %eax, %edx
        shrl $24, %edx
        movb %dl, UBIG(%edi)
        incl %edi
        cmpl $8192, %edi
        jb 1b
        movl $UBIG, %esi
        movl $8192, %ecx
        call u_crc32
        movl %eax, %ebp
        call u_prefix
        STR s_crc1
        movl %ebp, %eax
        call u_hex
        call u_nl
        movl $U(s_digits), %esi
        movl $9, %ecx
        call u_crc32
        movl %eax, %ebx
        call u_prefix
        STR s_crc2
        movl %ebx, %eax
        call u_hex
        call u_nl
        SYS SYS_YIELD

        movl $25, %eax
        call u_fib
        movl %eax, %ebx
        call u_prefix
        STR s_fib
        movl %ebx, %eax
        call u_dec
        call u_nl
        xorl %ebx, %ebp                 /* exit code: crc ^ fib(25) */

        /* a read of kernel memory at ring 3: #PF err 5 (supervisor page);
         * the kernel resumes at %edx */
        movl $U(2f), %edx
        movl $0x11111111, %eax
        movl 0x00100000, %eax
2:      movl %eax, %ebx
        call u_prefix
        STR s_prot
        movl %ebx, %eax
        call u_hex
        call u_nl
        call u_prefix
        STR s_exit
        call u_nl
        movl %ebp, %ebx
        movl $SYS_EXIT, %eax
        int $0x80
        ud2

/* ---------------------------------------------------------------- strings */
hexdig:    .ascii "0123456789abcdef"
s_p:       .asciz "p"
s_colon:   .asciz ": "
s_yes:     .asciz "yes"
s_no:      .asciz "NO"
s_intro1:  .asciz "pid "
s_intro2:  .asciz ", marker at 0x40010000 = "
s_intro3:  .asciz ", read-only page word 0 = "
s_scratch: .asciz "scratch word 0x40010008 after a yield = "
s_kept:    .asciz ", kept: "
s_spun:    .asciz "spun 4 ticks at ring 3"
s_primes:  .asciz "primes below 8192: "
s_largest: .asciz ", largest "
s_sum:     .asciz ", sum "
s_ro1:     .asciz "read-only page word 1 = "
s_ro2:     .asciz "after the store (kernel made the page writable) word 1 = "
s_exit:    .asciz "exit"
s_heap1:   .asciz "heap pages 0-2 written"
s_heap2:   .asciz "heap pages 3-5 written"
s_heap3:   .asciz "heap page 6: kernel sum "
s_heap4:   .asciz ", or of its words at ring 3 "
s_heap5:   .asciz "heap page 7: word 0x800 = "
s_heap6:   .asciz ", word 0x7fc = "
s_heapsum: .asciz "heap checksum of pages 0-5 = "
s_crc1:    .asciz "crc32 of 8 KiB = "
s_crc2:    .asciz "crc32(\"123456789\") = "
s_digits:  .ascii "123456789"
s_fib:     .asciz "fib(25) = "
s_prot:    .asciz "read of 0x00100000 at ring 3 faulted, eax kept = "
uimg_end:

        .section .note.GNU-stack, "", @progbits
