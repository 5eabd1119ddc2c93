/*
 * iret -- IRET at the same privilege level (to constructed frames, with
 * changed flags and a different code segment), IRET from ring 0 to ring 3,
 * and IRET executed at ring 3.
 *
 * IRET is how a kernel enters user mode and restores EFLAGS wholesale: at
 * CPL 0 it may change IOPL, IF, AC, ID, NT and sets RF; at CPL 3 it may not
 * change IOPL and changes IF only if CPL <= IOPL.  On a return to an outer
 * level the processor nulls DS/ES/FS/GS that hold data or non-conforming
 * code segments with DPL < new CPL.  A monitor running the kernel at ring
 * 1 must reproduce all of it (including which registers are nulled,
 * computed for a ring-0 kernel).  SDM vol. 2 IRET/IRETD ("RETURN-TO-
 * OUTER-PRIVILEGE-LEVEL"), PUSHF (RF/VM read as 0); vol. 3 6.12.1,
 * 5.8.6 (returning from a called procedure).
 *
 * Ring 0 -> ring 0:
 *  - iret to a frame with EFLAGS = CF ZF SF DF OF IOPL=2 AC ID RF IF: all
 *    of them load (RF is then invisible to PUSHF), ESP pops 12 bytes;
 *  - iret to CS 0x30 (ring-0 code, base 0x1000) and back to 0x08.
 * Ring 0 -> ring 3 (user code reports through int 0x80, passing what it
 * reads with mov sreg / pushf in registers):
 *  - run 1: DS=0x10 (data DPL 0) -> null, ES=0x23 kept, FS=0x08 (code DPL
 *    0) -> null, GS=0x38 (conforming code DPL 0) kept; EFLAGS as in the
 *    frame (IOPL 0); CLI -> #GP(0); a ring-3 iret asking for IOPL 3 / IF 0
 *    changes neither; an iret to CS 0x08 -> #GP(0x08).
 *  - run 2: IOPL 3 in the frame: CLI allowed; a ring-3 iret changes IF but
 *    not IOPL.
 */
#include "lib.h"

extern char seg30_target[], user1[], user1_cli[], user1_iret_gp[],
    user1_iret_gp_resume[], user2[];
extern uint32_t iret_back, seg30_cs;

static uint8_t ustack[4096] __attribute__((aligned(16)));
#define UTOP ((uint32_t)ustack + sizeof ustack)

struct rep {
    uint32_t ds, es, fs, gs, eflags, esp, cs, ss;
    uint32_t fr_ds, fr_es, fr_fs, fr_gs;    /* as saved by the interrupt stub */
};
static struct rep reps[4];
static volatile uint32_t gp_n, gp_err[4], gp_eip[4];

static void on_syscall(struct regs *r)
{
    if (r->eax == 0)
        user_return(0);
    if (r->eax < 4) {
        struct rep *p = &reps[r->eax];
        p->ds = r->ebx;
        p->es = r->ecx;
        p->fs = r->edx;
        p->gs = r->esi;
        p->eflags = r->edi;
        p->esp = r->ebp;
        p->cs = r->cs;
        p->ss = r->user_ss;
        p->fr_ds = r->ds;
        p->fr_es = r->es;
        p->fr_fs = r->fs;
        p->fr_gs = r->gs;
    }
}

static void on_gp(struct regs *r)
{
    if (gp_n < 4) {
        gp_err[gp_n] = r->error;
        gp_eip[gp_n] = r->eip;
    }
    gp_n++;
    if (r->eip == (uint32_t)user1_iret_gp)
        r->eip = (uint32_t)user1_iret_gp_resume;
    else
        r->eip += 1;        /* cli */
}

static void show_rep(int n, const struct rep *p)
{
    printf("  report %d: cs 0x%04x ss 0x%04x ds 0x%04x es 0x%04x fs 0x%04x gs 0x%04x eflags %p esp top-%u\n",
           n, p->cs, p->ss, p->ds, p->es, p->fs, p->gs, p->eflags, UTOP - p->esp);
    checkf(p->fr_ds == p->ds && p->fr_es == p->es && p->fr_fs == p->fs && p->fr_gs == p->gs,
           "report %d: int 0x80 frame holds the same ds/es/fs/gs", n);
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    putln("iret: same-level and outer-level iret");
    pic_mask_all();
    idt_init();
    tss_init(0);
    set_handler(13, on_gp);
    set_handler(0x80, on_syscall);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    gdt_set(6, 0x1000, 0xfffff, 0x9b, GDT_F_32);    /* 0x30: code, base 0x1000 */
    gdt_set(7, 0, 0xfffff, 0x9f, GDT_F_32);         /* 0x38: conforming code DPL 0 */

    /* ---- ring 0 -> ring 0, flags */
    {
        uint32_t want = 0x2 | EFL_CF | EFL_ZF | EFL_SF | EFL_DF | EFL_OF | EFL_IF |
                        (2u << 12) | EFL_AC | EFL_ID;
        uint32_t frame = want | EFL_RF;
        uint32_t got, esp_before, esp_after;
        __asm__ volatile(
            "pushfl\n\t"
            "movl %%esp, %1\n\t"
            "pushl %3\n\t"
            "pushl $0x08\n\t"
            "pushl $1f\n\t"
            "iretl\n\t"
            "1: pushfl\n\t"
            "popl %0\n\t"
            "movl %%esp, %2\n\t"
            "popfl\n\t"
            : "=&r"(got), "=&r"(esp_before), "=&r"(esp_after) : "r"(frame) : "memory", "cc");
        printf("iret 0x08 with eflags %p -> pushf %p, esp %+d\n", frame, got,
               (int)(esp_after - esp_before));
        check(got == want && esp_after == esp_before,
              "iret at CPL 0 loads IOPL IF AC ID DF and arith flags; RF not visible to pushf");
    }

    /* ---- ring 0 -> ring 0, other code segment */
    {
        seg30_cs = 0;
        __asm__ volatile(
            "movl $1f, iret_back\n\t"
            "pushfl\n\t"
            "pushl $0x30\n\t"
            "pushl $seg30_target - 0x1000\n\t"
            "iretl\n\t"
            "1:\n\t"
            ::: "eax", "memory", "cc");
        printf("iret to 0x30:seg30_target-0x1000 -> cs there %p, back in cs %p\n",
               seg30_cs, read_cs());
        check(seg30_cs == 0x30 && read_cs() == 0x08, "iret to another ring-0 code segment and back");
    }

    /* ---- ring 0 -> ring 3, IOPL 0 */
    putln("iret to ring 3 (eflags 0x283, ds 0x10 es 0x23 fs 0x08 gs 0x38):");
    memset(reps, 0, sizeof reps);
    gp_n = 0;
    run_user_segs((uint32_t)user1, UTOP, 0x283, 0x10, 0x23, 0x08, 0x38);
    show_rep(1, &reps[1]);
    check(reps[1].cs == 0x1b && reps[1].ss == 0x23 && reps[1].esp == UTOP &&
          reps[1].eflags == 0x283, "ring 3 entered with the frame's cs/ss/esp/eflags");
    check(reps[1].ds == 0 && reps[1].fs == 0, "ds (data DPL 0) and fs (code DPL 0) nulled");
    check(reps[1].es == 0x23 && reps[1].gs == 0x38, "es (DPL 3) and gs (conforming) kept");
    printf("  cli at IOPL 0: #GP err 0x%04x at %s\n", gp_err[0],
           gp_eip[0] == (uint32_t)user1_cli ? "the cli" : "WRONG EIP");
    show_rep(2, &reps[2]);
    check(reps[2].eflags == 0x203 && reps[2].esp == UTOP,
          "ring-3 iret cannot change IOPL or IF (IOPL 0), pops 12 bytes");
    printf("  iret to cs 0x08 from ring 3: #GP err 0x%04x at %s\n", gp_err[1],
           gp_eip[1] == (uint32_t)user1_iret_gp ? "the iret" : "WRONG EIP");
    check(gp_n == 2 && gp_err[0] == 0 && gp_eip[0] == (uint32_t)user1_cli &&
          gp_err[1] == 0x08 && gp_eip[1] == (uint32_t)user1_iret_gp,
          "cli -> #GP(0), iret to ring 0 -> #GP(0x08)");
    show_rep(3, &reps[3]);
    check(reps[3].ds == 0x23 && reps[3].eflags == 0x203, "ring 3 can reload ds");

    /* ---- ring 0 -> ring 3, IOPL 3 */
    putln("iret to ring 3 (eflags 0x3202, ds 0x23 es 0x10 fs 0x23 gs 0x00):");
    memset(reps, 0, sizeof reps);
    gp_n = 0;
    run_user_segs((uint32_t)user2, UTOP, 0x3202, 0x23, 0x10, 0x23, 0x00);
    show_rep(1, &reps[1]);
    check(reps[1].eflags == 0x3202 && reps[1].ds == 0x23 && reps[1].es == 0 &&
          reps[1].fs == 0x23 && reps[1].gs == 0, "IOPL 3 frame; es nulled");
    show_rep(2, &reps[2]);
    check(reps[2].eflags == 0x3002 && gp_n == 0, "cli allowed at IOPL 3");
    show_rep(3, &reps[3]);
    check(reps[3].eflags == 0x3203, "ring-3 iret at IOPL 3 changes IF, not IOPL");

    printf("back at ring 0: cs %p ds %p ss %p eflags (arith masked) %p\n",
           read_cs(), read_ds(), read_ss(), read_eflags() & ~0x8d5u);
    done();
}
