/* kernel.h -- the guest kernel that runs static i386 Linux programs (see ../README
 * section in the top-level README.md and runtime/linux/channel.py for the host side). */
#ifndef KERNEL_H
#define KERNEL_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;
typedef u32 size_t;
#define NULL ((void *)0)

#define KBASE 0xC0000000u
#define P2V(p) ((void *)((u32)(p) + KBASE))
#define V2P(v) ((u32)(v) - KBASE)
#define PAGE 4096u
#define PGDOWN(a) ((u32)(a) & ~(PAGE - 1))
#define PGUP(a) (((u32)(a) + PAGE - 1) & ~(PAGE - 1))
#define USER_TOP 0xC0000000u
#define STACK_SIZE (8u << 20)
#define MMAP_BASE 0x40000000u
#define PIE_BASE 0x56555000u

#define KCODE 0x60
#define KDATA 0x68
#define UCODE 0x73
#define UDATA 0x7b
#define TSS_SEL 0x80
#define GDT_TLS 6

/* page table entry bits; PTE_COW is one of the bits the processor leaves to software */
#define PTE_P 1u
#define PTE_W 2u
#define PTE_U 4u
#define PTE_PS 0x80u
#define PTE_COW 0x200u

struct regs {
    u32 gs, fs, es, ds;
    u32 edi, esi, ebp, esp0, ebx, edx, ecx, eax;
    u32 vector, err;
    u32 eip, cs, eflags, esp, ss;
};

/* errno values (Linux include/uapi/asm-generic/errno-base.h, errno.h): one table */
enum {
    EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, ENOEXEC = 8,
    EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16,
    EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENFILE = 23,
    EMFILE = 24, ENOTTY = 25, EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30, EMLINK = 31,
    EPIPE = 32, EDOM = 33, ERANGE = 34, EDEADLK = 35, ENAMETOOLONG = 36, ENOSYS = 38,
    ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61, EOVERFLOW = 75, ENOTSOCK = 88, EOPNOTSUPP = 95,
    EAFNOSUPPORT = 97,
};

/* ---- lib.c */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strcpy(char *d, const char *s);
void kprintf(const char *fmt, ...);
void panic(const char *fmt, ...) __attribute__((noreturn));
int ksnprintf(char *buf, int size, const char *fmt, ...);
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port) : "memory"); }
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port) : "memory"); }
static inline void invlpg(u32 va) { __asm__ volatile("invlpg (%0)" :: "r"(va) : "memory"); }
static inline void load_cr3(u32 pd) { __asm__ volatile("mov %0, %%cr3" :: "r"(pd) : "memory"); }
static inline u32 read_cr2(void) { u32 v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }

/* ---- host.c: the paravirtual channel (runtime/linux/channel.py has the other side) */
enum {
    H_LOG = 1, H_ARGS, H_EXIT, H_OPEN, H_CLOSE, H_PREAD, H_STAT, H_FSTAT, H_GETDENTS,
    H_READLINK, H_ACCESS, H_WRITE, H_READ, H_CLOCK, H_RANDOM, H_WAIT, H_TTY, H_STATS, H_GETCWD, H_UNAME,
};
#define HOST_SEGS 64
struct hostseg { u32 phys, len; };
struct hostreq {
    u32 op;
    s32 ret;
    u32 a[6];
    u32 nseg;
    struct hostseg seg[HOST_SEGS];
};
struct hostreq *host_begin(u32 op);
int host_seg(struct hostreq *r, const void *kbuf, u32 len);
int host_user_segs(struct hostreq *r, u32 uaddr, u32 len, int write);
s32 host_go(struct hostreq *r);

/* ---- mm.c */
struct vma {
    u32 start, end, prot, flags;
    struct vma *next;
};
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_GROWSDOWN 0x100
#define MAP_FIXED_NOREPLACE 0x100000
#define VMA_STACK 0x1000

struct mm {
    u32 *pd;
    struct vma *vmas;
    u32 brk_start, brk;
    int refs;
};
void mm_init(u32 ram_bytes, u32 kernel_end_phys);
u32 frame_alloc(void);
void frame_put(u32 phys);
void *kalloc(u32 size);
void kfree(void *p);
u32 frames_free(void);
u32 frames_total(void);
struct mm *mm_new(void);
struct mm *mm_fork(struct mm *mm);
void mm_put(struct mm *mm);
void mm_switch(struct mm *mm);
int mm_fault(struct mm *mm, u32 addr, int write);
struct vma *vma_find(struct mm *mm, u32 addr);
int vma_map(struct mm *mm, u32 start, u32 end, u32 prot, u32 flags);
int vma_unmap(struct mm *mm, u32 start, u32 end);
int vma_protect(struct mm *mm, u32 start, u32 end, u32 prot);
u32 vma_gap(struct mm *mm, u32 len, u32 hint);
int user_ok(u32 addr, u32 len, int write);
int user_phys(u32 va, int write, u32 *phys);
int copy_from_user(void *dst, u32 src, u32 n);
int copy_to_user(u32 dst, const void *src, u32 n);
int clear_user(u32 dst, u32 n);
int strncpy_from_user(char *dst, u32 src, u32 max);
s32 sys_brk(u32 addr);
s32 sys_mmap(u32 addr, u32 len, u32 prot, u32 flags, s32 fd, u64 off);
s32 sys_munmap(u32 addr, u32 len);
s32 sys_mprotect(u32 addr, u32 len, u32 prot);
s32 sys_mremap(u32 old, u32 oldlen, u32 newlen, u32 flags, u32 newaddr);

/* ---- file.c */
enum { F_HOST = 1, F_DIR, F_PIPE, F_CONSOLE, F_NULL, F_ZERO, F_FULL, F_RANDOM };
struct pipe {
    u8 *buf;
    u32 head, count;
    int readers, writers;
};
struct file {
    int type, refs;
    u32 flags;      /* O_ flags: access mode, O_APPEND, O_NONBLOCK */
    int host;       /* host handle (F_HOST, F_DIR) or console stream (F_CONSOLE) */
    u64 pos;
    struct pipe *pipe;
    int pipe_write;
    char *path;
};
#define O_ACCMODE 3
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_NONBLOCK 04000
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define NFD 256

struct file *file_new(int type);
struct file *file_get(struct file *f);
void file_put(struct file *f);
s32 file_read(struct file *f, u32 ubuf, u32 len);
s32 file_write(struct file *f, u32 ubuf, u32 len);
s32 file_pread(struct file *f, u32 ubuf, u32 len, u64 off);
s32 file_kread(struct file *f, void *kbuf, u32 len, u64 off);
int file_poll(struct file *f, int events);
struct file *fd_file(int fd);
int fd_install(struct file *f, int min, int cloexec);
s32 pipe_create(int *rfd, int *wfd, u32 flags);
s32 path_open(const char *path, u32 flags, struct file **out);
int path_absolute(const char *path, char *out, int dirfd);
struct kstat;
s32 sys_read(s32 fd, u32 buf, u32 n);
s32 file_stat(struct file *f, struct kstat *st);
s32 host_path_stat(const char *abs, struct kstat *st, int follow);
const char *proc_alias(const char *abs);
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_EMPTY_PATH 0x1000
s32 sys_write(s32 fd, u32 buf, u32 n);

/* ---- proc.c */
#define NPROC 64
#define NSIG 65
enum { P_FREE, P_RUN, P_SLEEP, P_ZOMBIE };
struct sigaction_k { u32 handler, flags, restorer; u64 mask; };
struct proc {
    int pid, ppid, pgid, sid, state;
    s32 wstatus;                 /* wait status once a zombie */
    u32 kesp;
    u8 *kstack;
    struct regs *tf;
    struct mm *mm;
    struct file *fd[NFD];
    u8 cloexec[NFD];
    char cwd[256];
    char exe[256];
    u32 tls[3][2];               /* GDT entries 6..8 */
    u8 fpu[512] __attribute__((aligned(16)));
    struct sigaction_k sa[NSIG];
    u64 sigmask, sigpending;
    void *wchan;
    u64 wake_ns;                 /* nanosleep/poll deadline, 0 none */
    u32 umask;
    u32 clear_tid;
    int vfork_done;
    struct proc *vfork_parent;
    u32 altstack[3];
    u64 start_ns;
};
extern struct proc *cur;
extern struct proc procs[NPROC];
void proc_init(void);
struct proc *proc_alloc(void);
void sched(void);
void sleep_on(void *chan);
void wakeup(void *chan);
void proc_exit(s32 wstatus) __attribute__((noreturn));
void signal_send(struct proc *p, int sig);
void signal_deliver(struct regs *tf);
void start_first(void) __attribute__((noreturn));
void load_tls(struct proc *p);
u64 now_ns(void);
int stdin_waiters(void);
s32 sys_fork(struct regs *tf, u32 flags, u32 newsp, u32 ptid, u32 tls, u32 ctid);
s32 sys_wait4(s32 pid, u32 status, u32 options, u32 rusage);
s32 sys_kill(s32 pid, s32 sig);
s32 sys_rt_sigaction(s32 sig, u32 act, u32 old, u32 size);
s32 sys_rt_sigprocmask(s32 how, u32 set, u32 old, u32 size);
s32 sys_rt_sigreturn(struct regs *tf);
s32 sys_sigreturn(struct regs *tf);
s32 sys_set_thread_area(u32 uinfo);
s32 sys_get_thread_area(u32 uinfo);

void switch_stack(u32 *save_esp, u32 new_esp);
void *stdin_chan(void);

/* ---- exec.c */
s32 do_execve(const char *path, char *const *argv, int argc, char *const *envp, int envc, struct regs *tf);
s32 sys_execve(u32 path, u32 argv, u32 envp, struct regs *tf);

/* ---- syscall.c */
void syscall(struct regs *tf);
void syscall_report(void);
extern u32 hwcap;
extern struct tss { u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags, eax, ecx, edx,
    ebx, esp, ebp, esi, edi, es, cs, ss, ds, fs, gs, ldt; u16 trap, iomap; } tss;
extern u64 gdt[];

/* kernel stat, as the host fills it (runtime/linux/hostfs.py KSTAT) */
struct kstat {
    u64 dev, ino;
    u32 mode, nlink, uid, gid;
    u64 rdev, size;
    u32 blksize, pad;
    u64 blocks;
    s64 atime, mtime, ctime;
    u32 atime_ns, mtime_ns, ctime_ns, pad2;
};
#endif
