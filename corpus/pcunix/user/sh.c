/*
 * sh -- the shell, pid 1: prompt "$ ", read a line, split it into words,
 * run the program the first word names (waiting for it), or the builtin
 * "halt".
 */
#include "user.h"

#define MAXARGS 15

static int split(char *p, char *argv[])
{
    int argc = 0;
    while (argc < MAXARGS) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            *p++ = 0;
        if (!*p)
            break;
        argv[argc++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
    argv[argc] = NULL;
    return argc;
}

int main(void)
{
    char line[128], *argv[MAXARGS + 1];
    for (;;) {
        write(1, "$ ", 2);
        int n = read(0, line, sizeof line - 1);
        if (n <= 0)
            continue;
        line[n] = 0;
        if (!split(line, argv))
            continue;
        if (!strcmp(argv[0], "halt"))
            halt(0);
        int pid = spawn(argv[0], argv);
        if (pid < 0) {
            printf("sh: %s: not found\n", argv[0]);
            continue;
        }
        int status;
        if (wait(pid, &status, 0) == pid && status != 0)
            printf("sh: %s: exit status %d\n", argv[0], status);
    }
}
