/* A freestanding Linux program: write(2) and exit(2) through int 0x80, nothing else. */
static int sys3(int nr, int a, int b, int c)
{
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

void _start(void)
{
    static const char msg[] = "hello from int 0x80\n";
    sys3(4, 1, (int)msg, sizeof msg - 1);
    sys3(4, 2, (int)"to stderr\n", 10);
    sys3(1, 7, 0, 0);
    for (;;)
        ;
}
