/*
 * corpus/lib/lib.c -- serial output, printf subset, exit, GDT/TSS/IDT
 * helpers and the C side of the interrupt dispatcher.
 */
#include "lib.h"

/* ---------------------------------------------------------------- strings */
void *memset(void *d, int c, uint32_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, uint32_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, uint32_t n)
{
    const uint8_t *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p < *q ? -1 : 1;
    return 0;
}

uint32_t strlen(const char *s)
{
    uint32_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* ---------------------------------------------------------------- serial */
#define COM1 0x3f8

void serial_init(void)
{
    outb(COM1 + 1, 0x00);       /* IER: no interrupts */
    outb(COM1 + 3, 0x80);       /* LCR: DLAB */
    outb(COM1 + 0, 0x01);       /* divisor 1 = 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);       /* 8N1 */
    outb(COM1 + 2, 0xc7);       /* FIFO on, cleared, 14-byte threshold */
    outb(COM1 + 4, 0x03);       /* DTR | RTS */
}

void putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20))     /* LSR.THRE */
        ;
    outb(COM1, (uint8_t)c);
}

void puts(const char *s)
{
    while (*s)
        putc(*s++);
}

void putln(const char *s)
{
    puts(s);
    putc('\n');
}

static const char hexdig[] = "0123456789abcdef";

void puthex_n(uint32_t v, int digits)
{
    putc('0');
    putc('x');
    for (int i = digits - 1; i >= 0; i--)
        putc(hexdig[(v >> (i * 4)) & 0xf]);
}

void puthex(uint32_t v)
{
    puthex_n(v, 8);
}

void putdec(uint32_t v)
{
    char buf[12];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);    /* 32-bit division only */
        v /= 10;
    } while (v);
    while (i)
        putc(buf[--i]);
}

static void pad(int n, char c)
{
    while (n-- > 0)
        putc(c);
}

void vprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putc(*fmt);
            continue;
        }
        fmt++;
        int left = 0, zero = 0, width = 0, plus = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '+')
                plus = 1;
            else if (*fmt == '0')
                zero = 1;
            else
                break;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'h')
            fmt++;
        char buf[16];
        const char *s = buf;
        int len = 0, neg = 0;
        uint32_t v;
        switch (*fmt) {
        case 0:
            return;
        case '%':
            putc('%');
            continue;
        case 'c':
            buf[0] = (char)va_arg(ap, int);
            len = 1;
            break;
        case 's':
            s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            len = (int)strlen(s);
            break;
        case 'p':
            puthex(va_arg(ap, uint32_t));
            continue;
        case 'd':
        case 'i': {
            int32_t x = va_arg(ap, int32_t);
            v = x < 0 ? (uint32_t)-x : (uint32_t)x;
            neg = x < 0;
            goto dec;
        }
        case 'u':
            v = va_arg(ap, uint32_t);
        dec: {
            char tmp[12];
            int n = 0;
            do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
            if (neg)
                buf[len++] = '-';
            else if (plus && (*fmt == 'd' || *fmt == 'i'))
                buf[len++] = '+';
            while (n)
                buf[len++] = tmp[--n];
            break;
        }
        case 'x':
        case 'X': {
            v = va_arg(ap, uint32_t);
            const char *dig = *fmt == 'x' ? "0123456789abcdef" : "0123456789ABCDEF";
            char tmp[8];
            int n = 0;
            do {
                tmp[n++] = dig[v & 0xf];
                v >>= 4;
            } while (v);
            while (n)
                buf[len++] = tmp[--n];
            break;
        }
        default:
            putc('%');
            putc(*fmt);
            continue;
        }
        if (!left) {
            if (zero && s == buf && len && (buf[0] == '-' || buf[0] == '+') &&
                (*fmt == 'd' || *fmt == 'i')) {  /* "-0005" */
                putc('-');
                s++;
                len--;
                width--;
            }
            pad(width - len, zero ? '0' : ' ');
        }
        for (int i = 0; i < len; i++)
            putc(s[i]);
        if (left)
            pad(width - len, ' ');
    }
}

void printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- exit */
void exit(uint32_t v)
{
    outl(0xf4, v);
    for (;;)
        __asm__ volatile("cli; hlt");
}

int check_failures;

void check(int cond, const char *what)
{
    if (cond) {
        puts("ok: ");
    } else {
        puts("FAIL: ");
        check_failures++;
    }
    putln(what);
}

void checkf(int cond, const char *fmt, ...)
{
    va_list ap;
    if (cond) {
        puts("ok: ");
    } else {
        puts("FAIL: ");
        check_failures++;
    }
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putc('\n');
}

void check_eq(const char *what, uint32_t got, uint32_t expected)
{
    if (got == expected) {
        puts("ok: ");
        putln(what);
    } else {
        check_failures++;
        printf("FAIL: %s: got 0x%08x expected 0x%08x\n", what, got, expected);
    }
}

void done(void)
{
    if (check_failures)
        printf("%d checks failed\n", check_failures);
    putln("done");
    exit(check_failures ? 1 : 0);
}

/* ---------------------------------------------------------------- GDT/TSS */
uint64_t make_desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    if (flags > 0xf)
        flags >>= 4;
    uint32_t lo = (limit & 0xffff) | (base << 16);
    uint32_t hi = ((base >> 16) & 0xff) | ((uint32_t)access << 8) |
                  (limit & 0xf0000) | ((uint32_t)(flags & 0xf) << 20) |
                  (base & 0xff000000);
    return ((uint64_t)hi << 32) | lo;
}

void gdt_set(int index, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
    gdt[index] = make_desc(base, limit, access, flags);
}

void gdt_set_gate(int index, uint16_t selector, uint32_t offset,
                  uint8_t type, uint8_t dpl, uint8_t param_count)
{
    uint32_t lo = (offset & 0xffff) | ((uint32_t)selector << 16);
    uint32_t hi = (offset & 0xffff0000) | 0x8000 | ((uint32_t)(dpl & 3) << 13) |
                  ((uint32_t)(type & 0xf) << 8) | (param_count & 0x1f);
    gdt[index] = ((uint64_t)hi << 32) | lo;
}

/* fixed address 0x101080 (see link.ld) */
struct tss32 tss __attribute__((section(".tables.tss"), aligned(16)));

void tss_init(uint32_t esp0)
{
    memset(&tss, 0, sizeof tss);
    tss.esp0 = esp0 ? esp0 : (uint32_t)istack_top;
    tss.ss0 = SEL_KDATA;
    tss.iomap_base = sizeof tss;    /* beyond the limit: no I/O bitmap */
    gdt_set(SEL_TSS >> 3, (uint32_t)&tss, sizeof tss - 1, ACC_TSS32, 0);
    ltr(SEL_TSS);
}

/* ---------------------------------------------------------------- IDT */
/* fixed address 0x101800 (see link.ld) */
uint64_t idt[256] __attribute__((section(".tables.idt"), aligned(8)));
static handler_t handlers[256];

void idt_set_gate(int vec, uint32_t handler_addr, uint16_t selector,
                  uint8_t type, uint8_t dpl)
{
    uint32_t lo = (handler_addr & 0xffff) | ((uint32_t)selector << 16);
    uint32_t hi = (handler_addr & 0xffff0000) | 0x8000 |
                  ((uint32_t)(dpl & 3) << 13) | ((uint32_t)(type & 0xf) << 8);
    idt[vec] = ((uint64_t)hi << 32) | lo;
}

void idt_init(void)
{
    static struct dtr idtr;
    for (int i = 0; i < 256; i++)
        idt_set_gate(i, isr_stub_table[i], SEL_KCODE, 0xe, 0);
    idtr.limit = sizeof idt - 1;
    idtr.base = (uint32_t)idt;
    lidt(&idtr);
}

void set_handler(int vec, handler_t fn)
{
    handlers[vec & 0xff] = fn;
}

void isr_dispatch(struct regs *r);
void isr_dispatch(struct regs *r)
{
    handler_t h = handlers[r->vector & 0xff];
    if (h) {
        h(r);
        return;
    }
    printf("unhandled vector %u err 0x%08x eip 0x%08x\n", r->vector, r->error, r->eip);
    exit(0x7f);
}
