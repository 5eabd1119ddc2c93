/*
 * corpus/os/user/sh.c -- the shell.
 *
 *   sh            read commands from the console (fd 0), a "$ " prompt each
 *   sh FILE       read them from FILE, echoing each after the prompt, so the
 *                 output reads like a typed session (the kernel runs
 *                 `sh autorun` when the command line says "autorun")
 *
 * A command line is words separated by blanks; '#' starts a comment.  The
 * first word names a program on the disk, run with fork + exec, the shell
 * waiting for it; or one of the built-ins:
 *   exit [STATUS]       leave the shell (as process 1: the system powers off)
 *   poweroff [CODE]     power off now (QEMU's isa-debug-exit: status CODE*2+1)
 *   help                list them
 */
#include "ulib.h"

#define MAXWORDS 16
#define LINEMAX 256

static struct {
    int fd;
    char buf[512];
    int pos, len;
} in;

/* One line (without its newline) from the input; 0 at its end. */
static int read_line(char *line, int max)
{
    int n = 0;
    for (;;) {
        if (in.pos == in.len) {
            in.len = read(in.fd, in.buf, sizeof in.buf);
            in.pos = 0;
            if (in.len <= 0) {
                in.len = 0;
                line[n] = 0;
                return n > 0;
            }
        }
        char c = in.buf[in.pos++];
        if (c == '\n')
            break;
        if (n < max - 1)
            line[n++] = c;
    }
    line[n] = 0;
    return 1;
}

static int split(char *line, char *words[])
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            break;
        if (n == MAXWORDS) {
            fprintf(2, "sh: more than %d words\n", MAXWORDS);
            return -1;
        }
        words[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '#')
            p++;
        if (*p == '#') {
            *p = 0;
            break;
        }
        if (*p)
            *p++ = 0;
    }
    words[n] = 0;
    return n;
}

/* Run a program and wait for it (and for any orphan handed to us meanwhile:
 * as process 1 the shell is every orphan's parent). */
static void run(char *words[])
{
    int pid = fork();
    if (pid < 0) {
        fprintf(2, "sh: fork: %s\n", strerror(-pid));
        return;
    }
    if (pid == 0) {
        int err = exec(words[0], words);
        fprintf(2, "sh: %s: %s\n", words[0], strerror(-err));
        exit(127);
    }
    int status, got;
    while ((got = wait(&status)) != pid && got > 0)
        ;
    if (got == pid && status == -1)
        printf("sh: %s: killed\n", words[0]);
    else if (got == pid && status != 0 && status != 127)
        printf("sh: %s: exit status %d\n", words[0], status);
}

static int builtin(char *words[], int n)
{
    int code = n > 1 ? atoi(words[1]) : 0;
    if (strcmp(words[0], "exit") == 0)
        exit(code);
    if (strcmp(words[0], "poweroff") == 0)
        poweroff(code);
    if (strcmp(words[0], "help") == 0) {
        printf("built-ins: exit [status], poweroff [code], help; "
               "programs: ls, cat, echo, wc, primes, preempt, fault\n");
        return 1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    static char line[LINEMAX];
    char *words[MAXWORDS + 1];
    int script = argc > 1;
    if (script && (in.fd = open(argv[1], O_RDONLY)) < 0) {
        fprintf(2, "sh: %s: %s\n", argv[1], strerror(-in.fd));
        return 1;
    }
    for (;;) {
        if (!script)
            printf("$ ");
        if (!read_line(line, sizeof line)) {
            if (!script)
                printf("\n");
            return 0;
        }
        if (script)
            printf("$ %s\n", line);
        int n = split(line, words);
        if (n > 0 && !builtin(words, n))
            run(words);
    }
}
