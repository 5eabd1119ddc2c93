/* The smallest Linux program: write(2) to stdout and stderr, exit(2) with status 7. */
#include "sys.h"

void _start(void)
{
    puts1("hello from int 0x80\n");
    sys3(NR_write, 2, "to stderr\n", 10);
    sys1(NR_exit, 7);
    for (;;)
        ;
}
