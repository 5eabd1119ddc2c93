/*
 * descriptors -- SGDT, SIDT, SLDT, STR, LGDT/LIDT/LLDT/LTR read-back.
 *
 * What it probes (Intel SDM vol. 2 SGDT/SIDT/SLDT/STR/LLDT/LTR, vol. 3
 * 2.4 "Memory-management registers", 3.4.2/3.4.3 segment selectors and
 * descriptor caches, 7.2.2 TSS descriptor busy flag):
 *  - sgdt/sidt store the 16-bit limit and the full 32-bit base (32-bit
 *    operand size), exactly the values given to lgdt/lidt.  A monitor
 *    that runs the guest on its own tables must show the guest's values.
 *  - sldt/str into memory write only 16 bits (the rest of the dword is
 *    untouched); into a 32-bit register the upper half is zeroed (P6+).
 *  - sldt reads 0 after lldt with a null selector, the selector after
 *    lldt of an LDT descriptor; str reads 0x28 after ltr 0x28.
 *  - ltr sets the busy bit in the TSS descriptor in memory (type 9 -> B);
 *    mov to a data segment register sets the accessed bit of the
 *    descriptor in memory (SDM 3.4.5.1).  (Far transfers do too on real
 *    CPUs but not in qemu 7.2, so that is not probed.)
 *  - an LDT data segment with its own base is usable through a TI=1
 *    selector and reads back with TI and RPL bits intact.
 * The library's GDT and IDT live at fixed addresses (0x101000, 0x101800;
 * see lib/link.ld), so their bases are printed in full and also checked
 * against the symbols.
 */
#include "lib.h"

static uint64_t ldt[4] __attribute__((aligned(8)));
static uint32_t ldt_target[4] = { 0x11111111, 0x22222222, 0x33333333, 0x44444444 };
/* lgdt/lidt only load the register: nothing reads these tables while they
 * are loaded (no segment loads, IF=0, no exceptions), so any base works;
 * constants keep the output independent of the build. */
#define ALT_GDT 0x00200000u
#define ALT_IDT 0x00201000u

static void print_dtr(const char *what, const struct dtr *d)
{
    printf("%s base %p limit 0x%04x\n", what, d->base, d->limit);
}

static uint32_t desc_hi(uint64_t d) { return (uint32_t)(d >> 32); }

void kmain(uint32_t magic, struct multiboot_info *mbi)
{
    struct dtr d;
    uint32_t m, r;

    putln("descriptors: sgdt/sidt/sldt/str");

    /* ---- GDT as loaded by boot.S */
    sgdt(&d);
    print_dtr("sgdt", &d);
    check_eq("sgdt base == &gdt", d.base, (uint32_t)gdt);
    check_eq("sgdt limit == 0x5f", d.limit, 0x5f);

    /* sgdt writes exactly 6 bytes: the 2 bytes after it stay intact */
    {
        uint8_t buf[8];
        memset(buf, 0xa5, sizeof buf);
        __asm__ volatile("sgdt %0" : "=m"(*(struct dtr *)buf) :: "memory");
        printf("sgdt bytes 6,7 after store: 0x%02x 0x%02x\n", buf[6], buf[7]);
        check(buf[6] == 0xa5 && buf[7] == 0xa5, "sgdt stores 6 bytes");
    }

    /* the library GDT as seen in memory (accessed bits are preset in
     * boot.S because qemu does not set them on far transfers) */
    for (int i = 1; i <= 4; i++)
        printf("gdt[%d] (0x%02x) %08x:%08x\n", i, i * 8, desc_hi(gdt[i]), (uint32_t)gdt[i]);

    /* ---- lgdt of another table, read back, restore */
    {
        struct dtr n = { .limit = 0x2f, .base = ALT_GDT };
        lgdt(&n);
        sgdt(&d);
        lgdt(&gdt_ptr);
        print_dtr("sgdt after lgdt(alt)", &d);
        check(d.base == ALT_GDT && d.limit == 0x2f, "sgdt returns lgdt operand");
        /* odd base and limit are stored unchanged too */
        n.limit = 0x1234;
        n.base = 0x00abcdef;
        lgdt(&n);
        sgdt(&d);
        lgdt(&gdt_ptr);
        print_dtr("sgdt after lgdt(odd)", &d);
        check(d.base == 0x00abcdef && d.limit == 0x1234, "odd gdtr values preserved");
    }
    sgdt(&d);
    check(d.base == (uint32_t)gdt && d.limit == 0x5f, "gdtr restored");

    /* ---- IDT */
    idt_init();
    sidt(&d);
    print_dtr("sidt", &d);
    check_eq("sidt base == &idt", d.base, (uint32_t)idt);
    check_eq("sidt limit == 0x7ff", d.limit, 0x7ff);
    {
        struct dtr n = { .limit = 0x3f, .base = ALT_IDT };
        struct dtr save;
        sidt(&save);
        lidt(&n);
        sidt(&d);
        lidt(&save);
        print_dtr("sidt after lidt(alt)", &d);
        check(d.base == ALT_IDT && d.limit == 0x3f, "sidt returns lidt operand");
        n.base = 0xfedcba98;
        n.limit = 0x0001;
        lidt(&n);
        sidt(&d);
        lidt(&save);
        print_dtr("sidt after lidt(odd)", &d);
        check(d.base == 0xfedcba98 && d.limit == 0x0001, "odd idtr values preserved");
    }

    /* ---- LDTR: null first */
    lldt(0);
    r = 0xdeadbeef;
    __asm__ volatile("sldt %0" : "+r"(r));
    m = 0xdeadbeef;
    __asm__ volatile("sldt %0" : "+m"(m));
    printf("sldt (null) reg %p mem %p\n", r, m);
    check_eq("sldt r32 after lldt 0", r, 0);
    check_eq("sldt m16 after lldt 0 (16-bit store)", m, 0xdead0000);

    /* an LDT with a data segment whose base points at ldt_target[1] */
    ldt[0] = make_desc(0, 0xfffff, ACC_DATA_R0, GDT_F_32);
    ldt[1] = make_desc((uint32_t)&ldt_target[1], 0xb, ACC_DATA_R0, GDT_F_DB);
    ldt[2] = make_desc(0, 0xfffff, ACC_DATA_R3, GDT_F_32);
    gdt_set(6, (uint32_t)ldt, sizeof ldt - 1, ACC_LDT, 0);
    lldt(0x30);
    r = 0xdeadbeef;
    __asm__ volatile("sldt %0" : "+r"(r));
    m = 0xffffffff;
    __asm__ volatile("sldt %0" : "+m"(m));
    printf("sldt (ldt) reg %p mem %p\n", r, m);
    check_eq("sldt r32 after lldt 0x30", r, 0x30);
    check_eq("sldt m16 after lldt 0x30", m, 0xffff0030);
    {
        /* sldt with a 16-bit register operand leaves bits 31:16 alone */
        uint32_t x = 0xcafe1234;
        __asm__ volatile("sldt %w0" : "+r"(x));
        printf("sldt r16 %p\n", x);
        check_eq("sldt r16 preserves upper half", x, 0xcafe0030);
    }

    /* use LDT selector 0x0c (index 1, TI=1, RPL 0) and 0x17 (index 2, RPL 3) */
    {
        uint32_t val0, val1, sel, sel3, acc_before, acc_after;
        acc_before = (desc_hi(ldt[1]) >> 8) & 0xff;
        __asm__ volatile(
            "movw %%fs, %%cx\n\t"
            "movw $0x0c, %%ax\n\t"
            "movw %%ax, %%fs\n\t"
            "movl %%fs:0, %0\n\t"
            "movl %%fs:4, %1\n\t"
            "movl %%fs, %2\n\t"
            "movw %%cx, %%fs\n\t"
            : "=r"(val0), "=r"(val1), "=r"(sel) :: "eax", "ecx", "memory");
        acc_after = (desc_hi(ldt[1]) >> 8) & 0xff;
        __asm__ volatile(
            "movw %%gs, %%cx\n\t"
            "movw $0x17, %%ax\n\t"
            "movw %%ax, %%gs\n\t"
            "movl %%gs, %0\n\t"
            "movw %%cx, %%gs\n\t"
            : "=r"(sel3) :: "eax", "ecx", "memory");
        printf("fs=0x0c: fs:0 %p fs:4 %p, mov fs -> %p\n", val0, val1, sel);
        printf("gs=0x17 reads back %p\n", sel3);
        printf("ldt[1] access before 0x%02x after 0x%02x\n", acc_before, acc_after);
        check(val0 == 0x22222222 && val1 == 0x33333333, "LDT segment base applied");
        check_eq("LDT selector reads back with TI", sel, 0x0c);
        check_eq("LDT selector reads back with RPL 3", sel3, 0x17);
        check(acc_before == 0x92 && acc_after == 0x93, "segment load sets accessed bit");
    }

    /* ---- TR */
    {
        uint32_t before = (desc_hi(gdt[5]) >> 8) & 0xff;  /* 0 at boot */
        tss_init(0);
        uint32_t after = (desc_hi(gdt[5]) >> 8) & 0xff;
        r = 0xdeadbeef;
        __asm__ volatile("str %0" : "+r"(r));
        m = 0x77777777;
        __asm__ volatile("str %0" : "+m"(m));
        printf("str reg %p mem %p\n", r, m);
        printf("tss descriptor access before tss_init 0x%02x, after ltr 0x%02x\n",
               before, after);
        printf("gdt[5] (0x28) limit 0x%04x\n", (uint32_t)gdt[5] & 0xffff);
        check_eq("str r32 after ltr 0x28", r, 0x28);
        check_eq("str m16 after ltr 0x28", m, 0x77770028);
        check_eq("ltr marks TSS busy (type 0xb)", after, 0x8b);
    }

    /* ---- sldt again after lldt 0 (null selector with RPL bits) */
    lldt(0);
    r = 0x12345678;
    __asm__ volatile("sldt %0" : "+r"(r));
    printf("sldt after lldt 0 again %p\n", r);
    check_eq("sldt after second lldt 0", r, 0);

    done();
}
