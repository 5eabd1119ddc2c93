/* sys_fs.c -- the file system calls: names resolved against the process's cwd
 * (or a directory descriptor) and passed to the host file system view, which is
 * read only (every call that would change it fails with EROFS). */
#include "kernel.h"

#define S_IFMT 0170000
#define S_IFDIR 0040000

struct iovec { u32 base, len; };

static s32 user_path(u32 upath, int dirfd, char *abs)
{
    char path[1024];
    s32 n = strncpy_from_user(path, upath, sizeof path);
    if (n < 0)
        return n;
    if (!n)
        return -ENOENT;
    return path_absolute(path, abs, dirfd);
}

s32 sys_openat(s32 dirfd, u32 upath, u32 flags, u32 mode)
{
    char abs[1024];
    (void)mode;
    s32 e = user_path(upath, dirfd, abs);
    if (e < 0)
        return e;
    struct file *f;
    e = path_open(abs, flags, &f);
    if (e < 0)
        return e;
    if ((flags & O_DIRECTORY) && f->type != F_DIR) {
        file_put(f);
        return -ENOTDIR;
    }
    int fd = fd_install(f, 0, !!(flags & O_CLOEXEC));
    if (fd < 0)
        file_put(f);
    return fd;
}

s32 sys_open(u32 upath, u32 flags, u32 mode) { return sys_openat(AT_FDCWD, upath, flags, mode); }

s32 sys_close(s32 fd)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    cur->fd[fd] = NULL;
    file_put(f);
    return 0;
}

s32 sys_read(s32 fd, u32 buf, u32 n)
{
    struct file *f = fd_file(fd);
    return f ? file_read(f, buf, n) : -EBADF;
}

s32 sys_write(s32 fd, u32 buf, u32 n)
{
    struct file *f = fd_file(fd);
    return f ? file_write(f, buf, n) : -EBADF;
}

static s32 vector_io(s32 fd, u32 uiov, u32 cnt, int write)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (cnt > 1024)
        return -EINVAL;
    s32 total = 0;
    for (u32 i = 0; i < cnt; i++) {
        struct iovec v;
        if (copy_from_user(&v, uiov + 8 * i, 8) < 0)
            return -EFAULT;
        if (!v.len)
            continue;
        s32 n = write ? file_write(f, v.base, v.len) : file_read(f, v.base, v.len);
        if (n < 0)
            return total ? total : n;
        total += n;
        if ((u32)n < v.len)
            break;
    }
    return total;
}

s32 sys_readv(s32 fd, u32 iov, u32 cnt) { return vector_io(fd, iov, cnt, 0); }
s32 sys_writev(s32 fd, u32 iov, u32 cnt) { return vector_io(fd, iov, cnt, 1); }

s32 sys_pread64(s32 fd, u32 buf, u32 n, u32 lo, u32 hi)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (user_ok(buf, n, 1) < 0)
        return -EFAULT;
    return file_pread(f, buf, n, (u64)hi << 32 | lo);
}

static s32 do_lseek(s32 fd, s64 off, u32 whence, s64 *result)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (f->type == F_PIPE || f->type == F_CONSOLE)
        return -ESPIPE;
    if (f->type == F_DIR) {
        struct hostreq *r = host_begin(H_GETDENTS);
        r->a[0] = f->host;
        r->a[1] = 1;        /* seek */
        r->a[2] = (u32)off;
        r->a[3] = (u32)(off >> 32);
        r->a[4] = whence;
        s32 e = host_go(r);
        *result = (s64)((u64)r->a[3] << 32 | r->a[2]);
        return e;
    }
    s64 base = 0;
    if (whence == 1)
        base = f->pos;
    else if (whence == 2) {
        struct kstat st;
        s32 e = file_stat(f, &st);
        if (e < 0)
            return e;
        base = st.size;
    } else if (whence != 0)
        return -EINVAL;
    if (base + off < 0)
        return -EINVAL;
    f->pos = base + off;
    *result = f->pos;
    return 0;
}

s32 sys_lseek(s32 fd, s32 off, u32 whence)
{
    s64 r;
    s32 e = do_lseek(fd, off, whence, &r);
    if (e < 0)
        return e;
    return r > 0x7FFFFFFF ? -EOVERFLOW : (s32)r;
}

s32 sys_llseek(s32 fd, u32 hi, u32 lo, u32 uresult, u32 whence)
{
    s64 r;
    s32 e = do_lseek(fd, (s64)((u64)hi << 32 | lo), whence, &r);
    if (e < 0)
        return e;
    return copy_to_user(uresult, &r, 8) < 0 ? -EFAULT : 0;
}

/* struct stat64 (arch/x86/include/uapi/asm/stat.h, i386) */
static s32 put_stat64(u32 ubuf, struct kstat *s)
{
    u8 b[96];
    memset(b, 0, sizeof b);
    *(u64 *)(b + 0) = s->dev;
    *(u32 *)(b + 12) = (u32)s->ino;
    *(u32 *)(b + 16) = s->mode;
    *(u32 *)(b + 20) = s->nlink;
    *(u32 *)(b + 24) = s->uid;
    *(u32 *)(b + 28) = s->gid;
    *(u64 *)(b + 32) = s->rdev;
    *(u64 *)(b + 44) = s->size;
    *(u32 *)(b + 52) = s->blksize;
    *(u64 *)(b + 56) = s->blocks;
    *(u32 *)(b + 64) = (u32)s->atime;
    *(u32 *)(b + 68) = s->atime_ns;
    *(u32 *)(b + 72) = (u32)s->mtime;
    *(u32 *)(b + 76) = s->mtime_ns;
    *(u32 *)(b + 80) = (u32)s->ctime;
    *(u32 *)(b + 84) = s->ctime_ns;
    *(u64 *)(b + 88) = s->ino;
    return copy_to_user(ubuf, b, sizeof b) < 0 ? -EFAULT : 0;
}

static s32 stat_at(s32 dirfd, u32 upath, u32 flags, struct kstat *st)
{
    char path[1024], abs[1024];
    s32 n = strncpy_from_user(path, upath, sizeof path);
    if (n < 0)
        return n;
    if (!n) {
        if (!(flags & AT_EMPTY_PATH))
            return -ENOENT;
        struct file *f = dirfd == AT_FDCWD ? NULL : fd_file(dirfd);
        if (dirfd == AT_FDCWD)
            return host_path_stat(cur->cwd, st, 1);
        return f ? file_stat(f, st) : -EBADF;
    }
    s32 e = path_absolute(path, abs, dirfd);
    if (e < 0)
        return e;
    return host_path_stat(abs, st, !(flags & AT_SYMLINK_NOFOLLOW));
}

s32 sys_stat64(u32 path, u32 buf)
{
    struct kstat st;
    s32 e = stat_at(AT_FDCWD, path, 0, &st);
    return e < 0 ? e : put_stat64(buf, &st);
}

s32 sys_lstat64(u32 path, u32 buf)
{
    struct kstat st;
    s32 e = stat_at(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &st);
    return e < 0 ? e : put_stat64(buf, &st);
}

s32 sys_fstat64(s32 fd, u32 buf)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    struct kstat st;
    s32 e = file_stat(f, &st);
    return e < 0 ? e : put_stat64(buf, &st);
}

s32 sys_fstatat64(s32 dirfd, u32 path, u32 buf, u32 flags)
{
    struct kstat st;
    s32 e = stat_at(dirfd, path, flags, &st);
    return e < 0 ? e : put_stat64(buf, &st);
}

/* struct statx (include/uapi/linux/stat.h) */
s32 sys_statx(s32 dirfd, u32 path, u32 flags, u32 mask, u32 buf)
{
    (void)mask;
    struct kstat s;
    s32 e = stat_at(dirfd, path, flags, &s);
    if (e < 0)
        return e;
    u8 b[256];
    memset(b, 0, sizeof b);
    *(u32 *)(b + 0) = 0x7ff;        /* STATX_BASIC_STATS */
    *(u32 *)(b + 4) = s.blksize;
    *(u32 *)(b + 16) = s.nlink;
    *(u32 *)(b + 20) = s.uid;
    *(u32 *)(b + 24) = s.gid;
    *(u16 *)(b + 28) = s.mode;
    *(u64 *)(b + 32) = s.ino;
    *(u64 *)(b + 40) = s.size;
    *(u64 *)(b + 48) = s.blocks;
    *(s64 *)(b + 64) = s.atime;
    *(u32 *)(b + 72) = s.atime_ns;
    *(s64 *)(b + 96) = s.ctime;
    *(u32 *)(b + 104) = s.ctime_ns;
    *(s64 *)(b + 112) = s.mtime;
    *(u32 *)(b + 120) = s.mtime_ns;
    u64 rdev = s.rdev, dev = s.dev;
    *(u32 *)(b + 128) = (u32)(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffu));
    *(u32 *)(b + 132) = (u32)((rdev & 0xff) | ((rdev >> 12) & ~0xffu));
    *(u32 *)(b + 136) = (u32)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffu));
    *(u32 *)(b + 140) = (u32)((dev & 0xff) | ((dev >> 12) & ~0xffu));
    return copy_to_user(buf, b, sizeof b) < 0 ? -EFAULT : 0;
}

/* getdents and getdents64 differ only in the record layout the host writes:
 * 0 = struct linux_dirent64, 2 = the old struct linux_dirent
 * {ulong ino, off; u16 reclen; char name[]; pad; type} */
static s32 getdents(s32 fd, u32 ubuf, u32 len, u32 layout)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (f->type != F_DIR)
        return -ENOTDIR;
    struct hostreq *r = host_begin(H_GETDENTS);
    r->a[0] = f->host;
    r->a[1] = layout;
    int n = host_user_segs(r, ubuf, len, 1);
    if (n < 0)
        return n;
    r->a[5] = n;
    return host_go(r);
}

s32 sys_getdents64(s32 fd, u32 ubuf, u32 len)
{
    return getdents(fd, ubuf, len, 0);
}

s32 sys_getdents(s32 fd, u32 ubuf, u32 len)
{
    return getdents(fd, ubuf, len, 2);
}

s32 sys_faccessat(s32 dirfd, u32 upath, u32 mode, u32 flags)
{
    char abs[1024];
    (void)flags;
    s32 e = user_path(upath, dirfd, abs);
    if (e < 0)
        return e;
    struct kstat st;
    if (host_path_stat(abs, &st, 1) == 0 && (st.mode & S_IFMT) == 0020000)
        return 0;       /* the kernel's own devices */
    const char *name = proc_alias(abs);
    struct hostreq *r = host_begin(H_ACCESS);
    r->a[0] = mode;
    host_seg(r, name, strlen(name));
    return host_go(r);
}

s32 sys_access(u32 path, u32 mode) { return sys_faccessat(AT_FDCWD, path, mode, 0); }

s32 sys_readlinkat(s32 dirfd, u32 upath, u32 ubuf, u32 len)
{
    char abs[1024];
    s32 e = user_path(upath, dirfd, abs);
    if (e < 0)
        return e;
    if ((s32)len <= 0)
        return -EINVAL;
    if (!strcmp(abs, "/proc/self/exe")) {
        u32 n = strlen(cur->exe);
        if (n > len)
            n = len;
        return copy_to_user(ubuf, cur->exe, n) < 0 ? -EFAULT : (s32)n;
    }
    static char out[1024];
    struct hostreq *r = host_begin(H_READLINK);
    host_seg(r, abs, strlen(abs));
    host_seg(r, out, sizeof out);
    s32 n = host_go(r);
    if (n < 0)
        return n;
    if ((u32)n > len)
        n = len;
    return copy_to_user(ubuf, out, n) < 0 ? -EFAULT : n;
}

s32 sys_readlink(u32 path, u32 buf, u32 len) { return sys_readlinkat(AT_FDCWD, path, buf, len); }

s32 sys_getcwd(u32 ubuf, u32 size)
{
    u32 n = strlen(cur->cwd) + 1;
    if (size < n)
        return -ERANGE;
    return copy_to_user(ubuf, cur->cwd, n) < 0 ? -EFAULT : (s32)n;
}

static s32 set_cwd(const char *abs)
{
    static char canon[1024];
    struct hostreq *r = host_begin(H_GETCWD);
    host_seg(r, canon, sizeof canon - 1);
    host_seg(r, abs, strlen(abs));
    s32 n = host_go(r);
    if (n < 0)
        return n;
    if (n > 255)
        return -ENAMETOOLONG;
    memcpy(cur->cwd, canon, n);
    cur->cwd[n] = 0;
    return 0;
}

s32 sys_chdir(u32 upath)
{
    char abs[1024];
    s32 e = user_path(upath, AT_FDCWD, abs);
    return e < 0 ? e : set_cwd(abs);
}

s32 sys_fchdir(s32 fd)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (f->type != F_DIR)
        return -ENOTDIR;
    return set_cwd(f->path);
}

s32 sys_dup(s32 fd)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    int n = fd_install(file_get(f), 0, 0);
    if (n < 0)
        file_put(f);
    return n;
}

s32 sys_dup3(s32 old, s32 new, u32 flags)
{
    struct file *f = fd_file(old);
    if (!f)
        return -EBADF;
    if (new < 0 || new >= NFD)
        return -EBADF;
    if (old == new)
        return -EINVAL;
    if (cur->fd[new])
        file_put(cur->fd[new]);
    cur->fd[new] = file_get(f);
    cur->cloexec[new] = !!(flags & O_CLOEXEC);
    return new;
}

s32 sys_dup2(s32 old, s32 new)
{
    if (old == new)
        return fd_file(old) ? new : -EBADF;
    return sys_dup3(old, new, 0);
}

#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#define F_DUPFD_CLOEXEC 1030
s32 sys_fcntl64(s32 fd, u32 cmd, u32 arg)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        if (arg >= NFD)
            return -EINVAL;
        int n = fd_install(file_get(f), arg, cmd == F_DUPFD_CLOEXEC);
        if (n < 0)
            file_put(f);
        return n;
    }
    case F_GETFD:
        return cur->cloexec[fd];
    case F_SETFD:
        cur->cloexec[fd] = arg & 1;
        return 0;
    case F_GETFL:
        return f->flags | (f->type == F_DIR ? O_DIRECTORY : 0) | 0100000 /* O_LARGEFILE */;
    case F_SETFL:
        f->flags = (f->flags & ~(O_APPEND | O_NONBLOCK)) | (arg & (O_APPEND | O_NONBLOCK));
        return 0;
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case 12: case 13: case 14:  /* the 64-bit lock commands */
        return 0;
    default:
        return -EINVAL;
    }
}

s32 sys_pipe2(u32 ufds, u32 flags)
{
    int fds[2];
    s32 e = pipe_create(&fds[0], &fds[1], flags);
    if (e < 0)
        return e;
    if (copy_to_user(ufds, fds, 8) < 0) {
        sys_close(fds[0]);
        sys_close(fds[1]);
        return -EFAULT;
    }
    return 0;
}

s32 sys_pipe(u32 ufds) { return sys_pipe2(ufds, 0); }

#define TCGETS 0x5401
#define TIOCGPGRP 0x540F
#define TIOCSPGRP 0x5410
#define TIOCGWINSZ 0x5413
#define FIONREAD 0x541B
#define FIONBIO 0x5421
s32 sys_ioctl(s32 fd, u32 req, u32 arg)
{
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (req == FIONREAD) {
        u32 n = 0;
        if (f->type == F_PIPE)
            n = f->pipe->count;
        else if (f->type == F_HOST) {
            struct kstat st;
            if (file_stat(f, &st) == 0 && st.size > f->pos)
                n = (u32)(st.size - f->pos);
        } else if (f->type != F_CONSOLE)
            return -ENOTTY;
        return copy_to_user(arg, &n, 4) < 0 ? -EFAULT : 0;
    }
    if (req == FIONBIO) {
        u32 on;
        if (copy_from_user(&on, arg, 4) < 0)
            return -EFAULT;
        f->flags = on ? f->flags | O_NONBLOCK : f->flags & ~O_NONBLOCK;
        return 0;
    }
    if (f->type != F_CONSOLE)
        return -ENOTTY;
    static u8 buf[64];
    struct hostreq *r = host_begin(H_TTY);
    r->a[0] = f->host;
    r->a[1] = req;
    host_seg(r, buf, sizeof buf);
    s32 n = host_go(r);
    if (n < 0)
        return n;
    if (req == TIOCGPGRP)
        return copy_to_user(arg, &cur->pgid, 4) < 0 ? -EFAULT : 0;
    if (req == TIOCSPGRP)
        return 0;
    if (req == TCGETS || req == TIOCGWINSZ)
        return copy_to_user(arg, buf, n) < 0 ? -EFAULT : 0;
    return 0;
}

/* ---- poll and select */
struct pollfd { s32 fd; u16 events, revents; };

static s32 do_poll(u32 ufds, u32 n, s64 timeout_ns)
{
    if (n > NFD)
        return -EINVAL;
    struct pollfd p[NFD];
    if (copy_from_user(p, ufds, n * sizeof p[0]) < 0)
        return -EFAULT;
    u64 deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
    for (;;) {
        s32 ready = 0;
        for (u32 i = 0; i < n; i++) {
            p[i].revents = 0;
            if (p[i].fd < 0)
                continue;
            struct file *f = fd_file(p[i].fd);
            p[i].revents = f ? file_poll(f, p[i].events) : 0x20;
            if (p[i].revents)
                ready++;
        }
        if (ready || timeout_ns == 0 || (deadline && now_ns() >= deadline)) {
            if (copy_to_user(ufds, p, n * sizeof p[0]) < 0)
                return -EFAULT;
            return ready;
        }
        cur->wake_ns = deadline;
        sleep_on(stdin_chan());
        cur->wake_ns = 0;
        if (cur->sigpending & ~cur->sigmask)
            return -EINTR;
    }
}

s32 sys_poll(u32 ufds, u32 n, s32 timeout_ms)
{
    return do_poll(ufds, n, timeout_ms < 0 ? -1 : (s64)timeout_ms * 1000000);
}

static s64 ts_ns(u32 uts, int time64)
{
    if (!uts)
        return -1;
    if (time64) {
        s64 t[2];
        if (copy_from_user(t, uts, 16) < 0)
            return -2;
        return t[0] * 1000000000ll + (u32)t[1];
    }
    s32 t[2];
    if (copy_from_user(t, uts, 8) < 0)
        return -2;
    return (s64)t[0] * 1000000000ll + t[1];
}

s32 sys_ppoll(u32 ufds, u32 n, u32 uts, u32 sigmask, u32 size, int time64)
{
    (void)sigmask; (void)size;
    s64 t = ts_ns(uts, time64);
    if (t == -2)
        return -EFAULT;
    return do_poll(ufds, n, t);
}

static s32 do_select(s32 n, u32 rfds, u32 wfds, u32 efds, s64 timeout_ns)
{
    if (n < 0 || n > NFD)
        return -EINVAL;
    u32 r[NFD / 32] = {0}, w[NFD / 32] = {0}, e[NFD / 32] = {0};
    u32 words = (n + 31) / 32;
    if ((rfds && copy_from_user(r, rfds, words * 4) < 0)
        || (wfds && copy_from_user(w, wfds, words * 4) < 0)
        || (efds && copy_from_user(e, efds, words * 4) < 0))
        return -EFAULT;
    u64 deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
    for (;;) {
        u32 ro[NFD / 32] = {0}, wo[NFD / 32] = {0};
        s32 ready = 0;
        for (int fd = 0; fd < n; fd++) {
            u32 bit = 1u << (fd & 31), word = fd / 32;
            if (!((r[word] | w[word] | e[word]) & bit))
                continue;
            struct file *f = fd_file(fd);
            if (!f)
                return -EBADF;
            int rev = file_poll(f, 1 | 4);
            if ((r[word] & bit) && (rev & (1 | 0x10 | 8)))
                ro[word] |= bit, ready++;
            if ((w[word] & bit) && (rev & (4 | 8)))
                wo[word] |= bit, ready++;
        }
        if (ready || timeout_ns == 0 || (deadline && now_ns() >= deadline)) {
            u32 z[NFD / 32] = {0};
            if ((rfds && copy_to_user(rfds, ro, words * 4) < 0)
                || (wfds && copy_to_user(wfds, wo, words * 4) < 0)
                || (efds && copy_to_user(efds, z, words * 4) < 0))
                return -EFAULT;
            return ready;
        }
        cur->wake_ns = deadline;
        sleep_on(stdin_chan());
        cur->wake_ns = 0;
        if (cur->sigpending & ~cur->sigmask)
            return -EINTR;
    }
}

s32 sys_newselect(s32 n, u32 r, u32 w, u32 e, u32 utv)
{
    s64 t = -1;
    if (utv) {
        s32 tv[2];
        if (copy_from_user(tv, utv, 8) < 0)
            return -EFAULT;
        t = (s64)tv[0] * 1000000000ll + (s64)tv[1] * 1000;
    }
    return do_select(n, r, w, e, t);
}

s32 sys_old_select(u32 args)
{
    u32 a[5];
    if (copy_from_user(a, args, 20) < 0)
        return -EFAULT;
    return sys_newselect(a[0], a[1], a[2], a[3], a[4]);
}

s32 sys_pselect6(s32 n, u32 r, u32 w, u32 e, u32 uts, int time64)
{
    s64 t = ts_ns(uts, time64);
    if (t == -2)
        return -EFAULT;
    return do_select(n, r, w, e, t);
}
