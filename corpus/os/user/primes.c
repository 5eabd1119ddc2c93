/*
 * corpus/os/user/primes.c -- count the primes below N (default 100000)
 * with the sieve of Eratosthenes, in N bytes of heap from sbrk(), given
 * back at the end.  CPU-bound: it runs until the timer preempts it.
 */
#include "ulib.h"

int main(int argc, char *argv[])
{
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    if (n < 2 || n > 4000000) {
        fprintf(2, "usage: primes [N], 2 <= N <= 4000000\n");
        return 2;
    }
    char *composite = sbrk(n);
    if ((int)composite < 0 && (int)composite > -4096) {
        fprintf(2, "primes: sbrk(%d): %s\n", n, strerror(-(int)composite));
        return 1;
    }
    memset(composite, 0, (uint32_t)n);
    int count = 0, largest = 0;
    for (int i = 2; i < n; i++) {
        if (composite[i])
            continue;
        count++;
        largest = i;
        for (int j = 2 * i; j < n; j += i)
            composite[j] = 1;
    }
    sbrk(-n);
    printf("primes below %d: %d, the largest %d\n", n, count, largest);
    return 0;
}
