/*
 * smsw -- SMSW / LMSW / CLTS against MOV from/to CR0.
 *
 * SMSW is the classic "sensitive but unprivileged" instruction: it reads
 * CR0[15:0] at any CPL without faulting, so a monitor that runs the guest
 * kernel outside ring 0 with a different real CR0 (e.g. TS or MP forced on
 * for lazy FPU switching, or ET/NE differences) leaks unless it rewrites
 * every SMSW.  SDM vol. 2 SMSW, LMSW, CLTS, MOV CRn; vol. 3 2.5 (CR0).
 *
 *  - smsw r16 writes only bits 15:0 (bits 31:16 of the register keep
 *    their value); smsw m16 stores 16 bits; smsw r32: bits 15:0 = CR0,
 *    bits 31:16 are documented as undefined, so only the low half is
 *    printed for that form.
 *  - CR0 is first normalised to PE|ET (ET is hardwired to 1 on P6+; the
 *    multiboot spec leaves the other bits undefined).
 *  - mov to CR0 toggling TS and MP, clts clearing TS, lmsw loading
 *    PE/MP/EM/TS only (bits 15:4 of its operand ignored, PE cannot be
 *    cleared by lmsw).  No FPU instruction is executed, so EM/TS never
 *    fault here.
 *  - smsw at ring 3 (via run_user + int 0x80 back) returns the same value.
 */
#include "lib.h"

struct msw {
    uint32_t cr0, r32, r16, m16;
};

static void read_msw(struct msw *s)
{
    uint32_t r32 = 0xdeadbeef, r16 = 0xdeadbeef, m16 = 0xdeadbeef;
    __asm__ volatile("smsw %0" : "+r"(r32));
    __asm__ volatile("smsw %w0" : "+r"(r16));
    __asm__ volatile("smsw %0" : "+m"(m16));
    s->cr0 = read_cr0();
    s->r32 = r32;
    s->r16 = r16;
    s->m16 = m16;
}

static void show(const char *what)
{
    struct msw s;
    read_msw(&s);
    printf("%-10s cr0 %p  smsw r32(lo) 0x%04x  r16 %p  m16 %p\n",
           what, s.cr0, s.r32 & 0xffff, s.r16, s.m16);
    uint32_t lo = s.cr0 & 0xffff;
    int ok = (s.r32 & 0xffff) == lo && s.r16 == (0xdead0000 | lo) &&
             s.m16 == (0xdead0000 | lo);
    checkf(ok, "smsw == cr0[15:0] (%s)", what);
}

/* ---- ring 3: smsw is not privileged (CR4.UMIP is left clear) */
static volatile uint32_t user_msw;
static uint8_t ustack[1024] __attribute__((aligned(16)));

static void sys_exit(struct regs *r)
{
    user_return(r->eax);
}

void user_smsw(void);
__asm__(
    ".text\n"
    "user_smsw:\n"
    "  movl $0xdeadbeef, %eax\n"
    "  smsw %ax\n"
    "  movl %eax, user_msw\n"
    "  movl $0, %eax\n"
    "  int $0x80\n"
    "  jmp .\n");

static void user_probe(const char *what)
{
    user_msw = 0;
    run_user((uint32_t)user_smsw, (uint32_t)ustack + sizeof ustack);
    printf("ring 3 smsw r16 (%s) %p\n", what, user_msw);
    check_eq("ring-3 smsw == cr0[15:0]", user_msw, 0xdead0000 | (read_cr0() & 0xffff));
}

static void lmsw(uint16_t v)
{
    __asm__ volatile("lmsw %0" :: "r"(v) : "memory");
}

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    putln("smsw: smsw/lmsw/clts vs cr0");

    write_cr0(CR0_PE | CR0_ET);
    show("initial");
    check_eq("cr0 normalised to PE|ET", read_cr0(), CR0_PE | CR0_ET);

    write_cr0(read_cr0() | CR0_TS);
    show("TS=1");
    check(read_cr0() & CR0_TS, "mov cr0 sets TS");

    clts();
    show("clts");
    check(!(read_cr0() & CR0_TS), "clts clears TS");

    write_cr0(read_cr0() | CR0_MP);
    show("MP=1");
    write_cr0(read_cr0() | CR0_MP | CR0_TS);
    show("MP+TS");
    clts();
    show("clts");
    check_eq("clts leaves MP", read_cr0(), CR0_PE | CR0_ET | CR0_MP);
    write_cr0(read_cr0() & ~CR0_MP);
    show("MP=0");

    /* NE and WP live in CR0 too; NE (bit 5) is within the MSW */
    write_cr0(read_cr0() | CR0_NE);
    show("NE=1");
    write_cr0(read_cr0() & ~CR0_NE);

    /* lmsw: loads bits 3:0 only; cannot clear PE */
    lmsw(0xfffe);   /* PE=0 (ignored), MP=1 EM=1 TS=1, bits 15:4 ignored */
    show("lmsw fffe");
    check_eq("lmsw sets MP|EM|TS, keeps PE/ET", read_cr0(),
             CR0_PE | CR0_ET | CR0_MP | CR0_EM | CR0_TS);
    lmsw(0x0000);
    show("lmsw 0");
    check_eq("lmsw 0 cannot clear PE", read_cr0(), CR0_PE | CR0_ET);
    lmsw(0x0008);
    show("lmsw 8");
    check_eq("lmsw 8 sets TS", read_cr0(), CR0_PE | CR0_ET | CR0_TS);
    /* ring 3 sees the same MSW (TS set and clear) */
    idt_init();
    tss_init(0);
    idt_set_gate(0x80, isr_stub_table[0x80], SEL_KCODE, 0xe, 3);
    set_handler(0x80, sys_exit);
    user_probe("TS=1");
    clts();
    user_probe("TS=0");
    write_cr0(read_cr0() | CR0_MP);
    user_probe("MP=1");
    write_cr0(read_cr0() & ~CR0_MP);

    show("final");
    check_eq("final cr0", read_cr0(), CR0_PE | CR0_ET);

    done();
}
