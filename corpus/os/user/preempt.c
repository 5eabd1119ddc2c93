/*
 * corpus/os/user/preempt.c -- show that the scheduler preempts: a child
 * spins without ever entering the kernel while its parent sleeps for a
 * few timer ticks.  Only a timer interrupt can take the CPU from the
 * child, so the parent waking up (and killing the child) is the proof.
 * Only the parent prints, so the output does not depend on the timing.
 */
#include "ulib.h"

int main(int argc, char *argv[])
{
    int ticks = argc > 1 ? atoi(argv[1]) : 5;
    int pid = fork();
    if (pid == 0) {
        volatile uint32_t spins = 0;
        for (;;)
            spins++;
    }
    if (pid < 0) {
        fprintf(2, "preempt: fork: %s\n", strerror(-pid));
        return 1;
    }
    printf("preempt: pid %d forked child %d, which spins; sleeping %d ticks\n",
           getpid(), pid, ticks);
    sleep(ticks);
    int err = kill(pid), status = 0;
    int got = wait(&status);
    if (err < 0 || got != pid) {
        fprintf(2, "preempt: kill %d: %s\n", pid, strerror(-err));
        return 1;
    }
    printf("preempt: woke up while the child spun; killed it (exit status %d)\n", status);
    return 0;
}
