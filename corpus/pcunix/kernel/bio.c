/*
 * pcunix/kernel/bio.c -- a cache of NBUF file-system blocks, least recently
 * used reused first.  A block is B_BUSY while one process uses it; others
 * sleep on it.  The kernel runs with interrupts off and one CPU, so the
 * flags need no lock.
 */
#include "defs.h"

static struct buf bufs[NBUF];
static uint32_t clock;

void binit(void)
{
    for (int i = 0; i < NBUF; i++)
        bufs[i].blockno = 0xFFFFFFFF;
}

struct buf *bread(uint32_t blockno)
{
    for (;;) {
        struct buf *b = 0, *victim = 0;
        for (int i = 0; i < NBUF; i++) {
            if (bufs[i].blockno == blockno)
                b = &bufs[i];
            else if (!(bufs[i].flags & B_BUSY) && (!victim || bufs[i].lru < victim->lru))
                victim = &bufs[i];
        }
        if (b && (b->flags & B_BUSY)) {
            sleep(b);
            continue;
        }
        if (!b) {
            if (!victim) {
                sleep(bufs);            /* every buffer busy */
                continue;
            }
            b = victim;
            b->blockno = blockno;
            b->flags = 0;
        }
        b->flags |= B_BUSY;
        b->lru = ++clock;
        if (!(b->flags & B_VALID)) {
            if (ide_read(b) < 0) {
                b->blockno = 0xFFFFFFFF;
                b->flags = 0;
                wakeup(b);
                wakeup(bufs);
                return 0;
            }
            b->flags |= B_VALID;
        }
        return b;
    }
}

void brelse(struct buf *b)
{
    b->flags &= ~B_BUSY;
    wakeup(b);
    wakeup(bufs);
}
