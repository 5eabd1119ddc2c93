/* A C program statically linked against glibc: stdio, malloc, thread-local storage,
 * the environment, files and directories of the host, fork/exec/pipe/wait, a
 * signal handler, time, and floating point.  It prints only what is the same on
 * every run, so the host CPU's output is the reference. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static __thread int tls_counter = 40;
static volatile sig_atomic_t got;
static sigjmp_buf jump;

static void on_usr1(int sig) { got = sig; }
static void on_segv(int sig) { siglongjmp(jump, sig); }

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(int argc, char **argv)
{
    printf("argc %d, argv[1] %s\n", argc, argc > 1 ? argv[1] : "(none)");
    tls_counter += 2;
    printf("tls %d\n", tls_counter);
    printf("env BT_TEST=%s\n", getenv("BT_TEST") ? getenv("BT_TEST") : "(unset)");

    /* malloc: small, large (mmap), realloc */
    char *small = malloc(100), *big = malloc(4 << 20);
    memset(big, 7, 4 << 20);
    big = realloc(big, 8 << 20);
    printf("malloc %d %d\n", small != NULL, big[(4 << 20) - 1]);
    free(small);
    free(big);

    /* floating point, x87 and SSE alike */
    volatile double x = 2.0;
    printf("sqrt %.6f sin %.6f %g\n", sqrt(x), sin(x), 1e300 * 10);

    /* a directory of the host: sorted names */
    DIR *d = opendir(argc > 2 ? argv[2] : "/");
    char *names[512];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 512)
        names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("dir entries %d, first %s, last %s\n", n, n ? names[0] : "-", n ? names[n - 1] : "-");

    /* a file of the host: stat, read, and the refusal to write */
    struct stat st;
    int fd = open(argv[0], O_RDONLY);
    fstat(fd, &st);
    char magic[4];
    read(fd, magic, 4);
    printf("self: regular %d, elf %d, size>0 %d\n", S_ISREG(st.st_mode), !memcmp(magic, "\177ELF", 4),
           st.st_size > 0);
    close(fd);
    errno = 0;
    printf("open missing: %d %s\n", open("/nonexistent", O_RDONLY), strerror(errno));

    /* uname and time */
    struct utsname u;
    uname(&u);
    printf("uname %s %s\n", u.sysname, u.machine);
    time_t t0 = time(NULL);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    printf("time moves %d\n", time(NULL) >= t0);

    /* signals: a handler, and a fault caught by siglongjmp */
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    printf("signal %d\n", got);
    signal(SIGSEGV, on_segv);
    int s = sigsetjmp(jump, 1);
    if (!s)
        *(volatile int *)(long)argc = 1;  /* address 1..4: unmapped */
    printf("segv caught %d\n", s);

    /* fork, a pipe, exec of a shell command, wait */
    int p[2];
    pipe(p);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        printf("from the child, tls %d\n", tls_counter);
        fflush(stdout);
        _exit(9);
    }
    close(p[1]);
    char buf[128];
    ssize_t r = read(p[0], buf, sizeof buf - 1);
    buf[r > 0 ? r : 0] = 0;
    int status;
    waitpid(pid, &status, 0);
    printf("child said: %sexit %d\n", buf, WEXITSTATUS(status));

    /* an anonymous shared mapping survives into the child (MAP_SHARED is copied) */
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *shared = 5;
    fflush(stdout);
    if (fork() == 0) {
        *shared = 6;
        _exit(*shared);
    }
    wait(&status);
    printf("private mapping %d, child %d\n", *shared, WEXITSTATUS(status));

    if (argc > 3) {
        fflush(stdout);
        execl(argv[3], argv[3], "-c", "echo exec of a shell; exit 4", (char *)NULL);
        perror("execl");
    }
    fprintf(stderr, "done on stderr\n");
    return 3;
}
