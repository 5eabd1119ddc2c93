/* file.c -- open files and the descriptor table: host files (read only, read
 * through the channel), host directories, pipes, the console streams, and the
 * character devices a program expects (/dev/null, zero, full, random, urandom).
 * A file is shared (reference counted) between descriptors and processes, so
 * its offset is too, as in Unix.
 */
#include "kernel.h"

#define PIPE_SIZE 65536u
#define POLLIN 1
#define POLLOUT 4
#define POLLERR 8
#define POLLHUP 0x10
#define SIGPIPE 13

struct file *file_new(int type)
{
    struct file *f = kalloc(sizeof *f);
    if (!f)
        return NULL;
    f->type = type;
    f->refs = 1;
    return f;
}

struct file *file_get(struct file *f)
{
    f->refs++;
    return f;
}

void file_put(struct file *f)
{
    if (--f->refs)
        return;
    if (f->type == F_HOST || f->type == F_DIR) {
        struct hostreq *r = host_begin(H_CLOSE);
        r->a[0] = f->host;
        host_go(r);
    }
    if (f->type == F_PIPE) {
        struct pipe *p = f->pipe;
        if (f->pipe_write)
            p->writers--;
        else
            p->readers--;
        wakeup(p);
        wakeup(stdin_chan());
        if (!p->readers && !p->writers) {
            kfree(p->buf);
            kfree(p);
        }
    }
    kfree(f->path);
    kfree(f);
}

struct file *fd_file(int fd)
{
    if (fd < 0 || fd >= NFD)
        return NULL;
    return cur->fd[fd];
}

int fd_install(struct file *f, int min, int cloexec)
{
    for (int i = min; i < NFD; i++)
        if (!cur->fd[i]) {
            cur->fd[i] = f;
            cur->cloexec[i] = cloexec;
            return i;
        }
    return -EMFILE;
}

s32 pipe_create(int *rfd, int *wfd, u32 flags)
{
    struct pipe *p = kalloc(sizeof *p);
    u8 *buf = kalloc(PIPE_SIZE);
    struct file *r = file_new(F_PIPE), *w = file_new(F_PIPE);
    if (!p || !buf || !r || !w)
        return -ENFILE;
    p->buf = buf;
    p->readers = p->writers = 1;
    r->pipe = w->pipe = p;
    w->pipe_write = 1;
    r->flags = O_RDONLY | (flags & O_NONBLOCK);
    w->flags = O_WRONLY | (flags & O_NONBLOCK);
    int a = fd_install(r, 0, !!(flags & O_CLOEXEC));
    if (a < 0) {
        file_put(r);
        file_put(w);
        return a;
    }
    int b = fd_install(w, 0, !!(flags & O_CLOEXEC));
    if (b < 0) {
        cur->fd[a] = NULL;
        file_put(r);
        file_put(w);
        return b;
    }
    *rfd = a;
    *wfd = b;
    return 0;
}

static int interrupted(void) { return (cur->sigpending & ~cur->sigmask) != 0; }

static s32 pipe_read(struct file *f, u32 ubuf, u32 len)
{
    struct pipe *p = f->pipe;
    while (!p->count) {
        if (!p->writers)
            return 0;
        if (f->flags & O_NONBLOCK)
            return -EAGAIN;
        sleep_on(p);
        if (interrupted() && !p->count)
            return -EINTR;
    }
    u32 n = len < p->count ? len : p->count;
    u32 first = PIPE_SIZE - p->head;
    if (first > n)
        first = n;
    if (copy_to_user(ubuf, p->buf + p->head, first) < 0
        || copy_to_user(ubuf + first, p->buf, n - first) < 0)
        return -EFAULT;
    p->head = (p->head + n) % PIPE_SIZE;
    p->count -= n;
    wakeup(p);
    wakeup(stdin_chan());
    return n;
}

static s32 pipe_write(struct file *f, u32 ubuf, u32 len)
{
    struct pipe *p = f->pipe;
    u32 done = 0;
    while (done < len) {
        if (!p->readers) {
            signal_send(cur, SIGPIPE);
            return done ? (s32)done : -EPIPE;
        }
        u32 space = PIPE_SIZE - p->count;
        /* writes of up to PIPE_BUF (4096) bytes are atomic */
        if (!space || (len - done <= 4096 && space < len - done)) {
            if (f->flags & O_NONBLOCK)
                return done ? (s32)done : -EAGAIN;
            sleep_on(p);
            if (interrupted())
                return done ? (s32)done : -EINTR;
            continue;
        }
        u32 n = len - done < space ? len - done : space;
        u32 tail = (p->head + p->count) % PIPE_SIZE;
        u32 first = PIPE_SIZE - tail;
        if (first > n)
            first = n;
        if (copy_from_user(p->buf + tail, ubuf + done, first) < 0
            || copy_from_user(p->buf, ubuf + done + first, n - first) < 0)
            return done ? (s32)done : -EFAULT;
        p->count += n;
        done += n;
        wakeup(p);
        wakeup(stdin_chan());
    }
    return done;
}

static s32 host_rw(u32 op, int handle, u32 ubuf, u32 len, u64 off, int write)
{
    u32 done = 0;
    while (done < len) {
        struct hostreq *r = host_begin(op);
        r->a[0] = handle;
        r->a[1] = (u32)(off + done);
        r->a[2] = (u32)((off + done) >> 32);
        int n = host_user_segs(r, ubuf + done, len - done, !write);
        if (n < 0)
            return done ? (s32)done : n;
        s32 got = host_go(r);
        if (got < 0)
            return done ? (s32)done : got;
        done += got;
        if (got < n)
            break;
    }
    return done;
}

static s32 console_read(struct file *f, u32 ubuf, u32 len)
{
    for (;;) {
        struct hostreq *r = host_begin(H_READ);
        r->a[0] = f->host;
        int n = host_user_segs(r, ubuf, len, 1);
        if (n < 0)
            return n;
        s32 got = host_go(r);
        if (got != -EAGAIN || (f->flags & O_NONBLOCK))
            return got;
        sleep_on(stdin_chan());
        if (interrupted())
            return -EINTR;
    }
}

s32 file_pread(struct file *f, u32 ubuf, u32 len, u64 off)
{
    if (f->type != F_HOST)
        return f->type == F_PIPE || f->type == F_CONSOLE ? -ESPIPE : -EINVAL;
    return host_rw(H_PREAD, f->host, ubuf, len, off, 0);
}

s32 file_read(struct file *f, u32 ubuf, u32 len)
{
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (user_ok(ubuf, len, 1) < 0)
        return -EFAULT;
    switch (f->type) {
    case F_HOST: {
        s32 n = host_rw(H_PREAD, f->host, ubuf, len, f->pos, 0);
        if (n > 0)
            f->pos += n;
        return n;
    }
    case F_DIR:
        return -EISDIR;
    case F_PIPE:
        return pipe_read(f, ubuf, len);
    case F_CONSOLE:
        return console_read(f, ubuf, len);
    case F_ZERO:
    case F_FULL:
        return clear_user(ubuf, len) < 0 ? -EFAULT : (s32)len;
    case F_RANDOM: {
        struct hostreq *r = host_begin(H_RANDOM);
        int n = host_user_segs(r, ubuf, len, 1);
        if (n < 0)
            return n;
        host_go(r);
        return n;
    }
    default:
        return 0;
    }
}

s32 file_kread(struct file *f, void *kbuf, u32 len, u64 off)
{
    struct hostreq *r = host_begin(H_PREAD);
    r->a[0] = f->host;
    r->a[1] = (u32)off;
    r->a[2] = (u32)(off >> 32);
    host_seg(r, kbuf, len);
    return host_go(r);
}

s32 file_write(struct file *f, u32 ubuf, u32 len)
{
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (user_ok(ubuf, len, 0) < 0)
        return -EFAULT;
    switch (f->type) {
    case F_PIPE:
        return pipe_write(f, ubuf, len);
    case F_CONSOLE:
        return host_rw(H_WRITE, f->host, ubuf, len, 0, 1);
    case F_FULL:
        return -ENOSPC;
    case F_NULL:
    case F_ZERO:
    case F_RANDOM:
        return len;
    default:
        return -EBADF;
    }
}

int file_poll(struct file *f, int events)
{
    int rev = 0;
    if (f->type == F_PIPE) {
        struct pipe *p = f->pipe;
        if (!f->pipe_write) {
            if (p->count)
                rev |= POLLIN;
            if (!p->writers)
                rev |= POLLHUP;
        } else {
            if (p->count < PIPE_SIZE)
                rev |= POLLOUT;
            if (!p->readers)
                rev |= POLLERR;
        }
    } else if (f->type == F_CONSOLE && f->host == 0) {
        struct hostreq *r = host_begin(H_WAIT);
        r->a[0] = 0;
        if (host_go(r) > 0)
            rev |= POLLIN;
    } else {
        rev = POLLIN | POLLOUT;
    }
    return rev & (events | POLLERR | POLLHUP);
}

/* ---- names */
int path_absolute(const char *path, char *out, int dirfd)
{
    int n = strlen(path);
    if (path[0] == '/') {
        if (n >= 1024)
            return -ENAMETOOLONG;
        strcpy(out, path);
        return 0;
    }
    const char *base = cur->cwd;
    if (dirfd != AT_FDCWD) {
        struct file *d = fd_file(dirfd);
        if (!d)
            return -EBADF;
        if (d->type != F_DIR || !d->path)
            return -ENOTDIR;
        base = d->path;
    }
    int b = strlen(base);
    if (b + n + 2 >= 1024)
        return -ENAMETOOLONG;
    strcpy(out, base);
    if (b == 0 || out[b - 1] != '/')
        out[b++] = '/';
    strcpy(out + b, path);
    return 0;
}

static const struct { const char *path; int type; } devices[] = {
    {"/dev/null", F_NULL}, {"/dev/zero", F_ZERO}, {"/dev/full", F_FULL},
    {"/dev/random", F_RANDOM}, {"/dev/urandom", F_RANDOM},
};

static int parse_fd_path(const char *p)
{
    const char *tails[] = {"/dev/fd/", "/proc/self/fd/"};
    const char *std[] = {"/dev/stdin", "/dev/stdout", "/dev/stderr"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(p, std[i]))
            return i;
    for (int i = 0; i < 2; i++) {
        int n = strlen(tails[i]);
        if (!strncmp(p, tails[i], n) && p[n]) {
            int fd = 0;
            for (p += n; *p; p++) {
                if (*p < '0' || *p > '9')
                    return -1;
                fd = fd * 10 + *p - '0';
            }
            return fd;
        }
    }
    return -1;
}

/* /proc/self/exe names the running program's image (the host's names bt itself) */
const char *proc_alias(const char *abs)
{
    return !strcmp(abs, "/proc/self/exe") && cur->exe[0] ? cur->exe : abs;
}

s32 path_open(const char *abs, u32 flags, struct file **out)
{
    abs = proc_alias(abs);
    for (u32 i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (!strcmp(abs, devices[i].path)) {
            struct file *f = file_new(devices[i].type);
            f->flags = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
            *out = f;
            return 0;
        }
    int fd = parse_fd_path(abs);
    if (fd >= 0) {
        struct file *f = fd_file(fd);
        if (!f)
            return -ENOENT;
        *out = file_get(f);
        return 0;
    }
    if (!strcmp(abs, "/dev/tty"))
        return -ENXIO;
    struct hostreq *r = host_begin(H_OPEN);
    r->a[0] = flags;
    host_seg(r, abs, strlen(abs));
    s32 h = host_go(r);
    if (h < 0)
        return h;
    struct file *f = file_new(r->a[1] ? F_DIR : F_HOST);
    f->host = h;
    f->flags = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
    f->path = kalloc(strlen(abs) + 1);
    strcpy(f->path, abs);
    *out = f;
    return 0;
}

s32 host_path_stat(const char *abs, struct kstat *st, int follow)
{
    if (follow)
        abs = proc_alias(abs);
    for (u32 i = 0; i < sizeof devices / sizeof devices[0]; i++)
        if (!strcmp(abs, devices[i].path)) {
            struct file f = {.type = devices[i].type};
            return file_stat(&f, st);
        }
    int fd = parse_fd_path(abs);
    if (fd >= 0 && follow) {
        struct file *f = fd_file(fd);
        return f ? file_stat(f, st) : -ENOENT;
    }
    struct hostreq *r = host_begin(H_STAT);
    r->a[0] = follow;
    host_seg(r, abs, strlen(abs));
    host_seg(r, st, sizeof *st);
    return host_go(r);
}

s32 file_stat(struct file *f, struct kstat *st)
{
    static const u32 rdev[] = {[F_NULL] = 0x103, [F_ZERO] = 0x105, [F_FULL] = 0x107,
                               [F_RANDOM] = 0x109};
    memset(st, 0, sizeof *st);
    switch (f->type) {
    case F_HOST:
    case F_DIR:
    case F_CONSOLE: {
        struct hostreq *r = host_begin(H_FSTAT);
        r->a[0] = f->host;
        r->a[1] = f->type == F_CONSOLE;
        host_seg(r, st, sizeof *st);
        return host_go(r);
    }
    case F_PIPE:
        st->mode = 0010600;
        st->dev = 0xc;
        st->ino = V2P(f->pipe);
        st->nlink = 1;
        st->blksize = 4096;
        return 0;
    default:
        st->mode = 0020666;
        st->rdev = rdev[f->type];
        st->dev = 5;
        st->ino = f->type;
        st->nlink = 1;
        st->blksize = 4096;
        return 0;
    }
}
