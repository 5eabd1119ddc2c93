/* A program killed by SIGSEGV (no handler): a line on stdout, then a store to address 16.
 * The host CPU's run ends with status 128 + 11, as a shell reports it; so must ours. */
#include "sys.h"

void _start(void)
{
    puts1("before the fault\n");
    int *volatile p = (int *)16;
    *p = 1;
    puts1("after the fault\n");
    sys1(NR_exit, 0);
}
