/* host.c -- the guest end of the paravirtual channel.
 *
 * A request is a block in guest physical memory (struct hostreq): the
 * operation, six arguments, and a list of buffer segments given by guest
 * physical address.  The kernel writes the block's physical address to
 * port 0x500 with one 32-bit OUT; the host handles the whole request
 * inside that OUT (reading and writing the buffers directly) and leaves
 * the result in ret (>= 0, or -errno) and, for some operations, in a[].
 * One exit per request, whatever its size.  runtime/linux/channel.py
 * documents every operation.
 */
#include "kernel.h"

#define HOST_PORT 0x500

static struct hostreq req __attribute__((aligned(64)));

struct hostreq *host_begin(u32 op)
{
    req.op = op;
    req.ret = -ENOSYS;
    for (int i = 0; i < 6; i++)
        req.a[i] = 0;
    req.nseg = 0;
    return &req;
}

/* a buffer of kernel memory (direct-mapped: physically contiguous within one
 * allocation of kalloc or a static object) */
int host_seg(struct hostreq *r, const void *kbuf, u32 len)
{
    if (r->nseg >= HOST_SEGS)
        return -E2BIG;
    r->seg[r->nseg].phys = V2P(kbuf);
    r->seg[r->nseg].len = len;
    r->nseg++;
    return 0;
}

/* a buffer of user memory: one segment per page run (pages faulted in first,
 * so the host writes straight into the process's frames); the length is cut
 * where the segments run out */
int host_user_segs(struct hostreq *r, u32 uaddr, u32 len, int write)
{
    u32 done = 0;
    while (done < len && r->nseg < HOST_SEGS) {
        u32 va = uaddr + done, phys;
        u32 n = PAGE - (va & (PAGE - 1));
        if (n > len - done)
            n = len - done;
        if (user_phys(va, write, &phys) < 0)
            return done ? (int)done : -EFAULT;
        struct hostseg *last = r->nseg ? &r->seg[r->nseg - 1] : NULL;
        if (last && last->phys + last->len == phys) {
            last->len += n;
        } else {
            r->seg[r->nseg].phys = phys;
            r->seg[r->nseg].len = n;
            r->nseg++;
        }
        done += n;
    }
    return (int)done;
}

s32 host_go(struct hostreq *r)
{
    outl(HOST_PORT, V2P(r));
    return r->ret;
}
