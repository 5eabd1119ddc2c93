/*
 * corpus/os/user/cat.c -- copy files (or, with no arguments, the console
 * up to ^D) to the output.
 */
#include "ulib.h"

static int copy(int fd, const char *name)
{
    static char buf[1024];
    int n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        write(1, buf, n);
    if (n < 0) {
        fprintf(2, "cat: %s: %s\n", name, strerror(-n));
        return 1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc == 1)
        return copy(0, "stdin");
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            fprintf(2, "cat: %s: %s\n", argv[i], strerror(-fd));
            status = 1;
            continue;
        }
        status |= copy(fd, argv[i]);
        close(fd);
    }
    return status;
}
