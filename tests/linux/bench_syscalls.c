/* The linux-syscalls benchmark: N system calls (default 100,000; argv[1] sets N) of
 * getppid, the cheapest round trip through the guest kernel, then one line.
 * bench/linux.py times it on the host CPU, natively and under the monitor. */
#include "sys.h"

START(entry)

void entry(int *sp)
{
    int argc = sp[0];
    char **argv = (char **)(sp + 1);
    int n = argc > 1 ? atoi1(argv[1]) : 100000;
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += sys0(NR_getppid) >= 0;
    putnum("getppid calls: ", sum);
    sys1(NR_exit_group, 0);
}
