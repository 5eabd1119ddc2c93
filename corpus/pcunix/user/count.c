/*
 * count N -- CPU-bound work in two processes at once.
 *
 * "count N" starts two workers ("count -w N SEED"), each running N million
 * steps of a xorshift32 generator and exiting with the final state.  The
 * parent polls for them without sleeping (wait with nohang), so it too is
 * always runnable: all three finish only because the timer preempts ring 3
 * and the scheduler goes round.  The results do not depend on how the
 * slices fall, so neither does the output.
 */
#include "user.h"

static unsigned work(int millions, unsigned x)
{
    for (int m = 0; m < millions; m++)
        for (int i = 0; i < 1000000; i++) {
            x ^= x << 13;       /* Marsaglia, "Xorshift RNGs", 2003 */
            x ^= x >> 17;
            x ^= x << 5;
        }
    return x;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "-w"))
        exit((int)work(atoi(argv[2]), (unsigned)atoi(argv[3])));

    int n = argc > 1 ? atoi(argv[1]) : 1;
    char *seeds[2] = { "1", "2" };
    int pid[2], status[2], done[2] = { 0, 0 };
    for (int w = 0; w < 2; w++) {
        char *wargv[] = { "count", "-w", argc > 1 ? argv[1] : "1", seeds[w], NULL };
        if ((pid[w] = spawn("count", wargv)) < 0) {
            printf("count: cannot start a worker\n");
            return 1;
        }
    }
    while (!done[0] || !done[1])
        for (int w = 0; w < 2; w++)
            if (!done[w] && wait(pid[w], &status[w], 1) == pid[w])
                done[w] = 1;
    printf("count: 2 workers x %d million xorshift32 steps\n", n);
    for (int w = 0; w < 2; w++)
        printf("count: worker seed %s -> 0x%08x\n", seeds[w], (unsigned)status[w]);
    return 0;
}
