/*
 * corpus/os/user/wc.c -- count lines, words and bytes of files (or of the
 * console input).
 */
#include "ulib.h"

static int count(int fd, const char *name)
{
    static char buf[1024];
    uint32_t lines = 0, words = 0, bytes = 0;
    int n, inword = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        bytes += (uint32_t)n;
        for (int i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n')
                lines++;
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
                inword = 0;
            } else if (!inword) {
                inword = 1;
                words++;
            }
        }
    }
    if (n < 0) {
        fprintf(2, "wc: %s: %s\n", name, strerror(-n));
        return 1;
    }
    printf("%7u %7u %7u %s\n", lines, words, bytes, name);
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc == 1)
        return count(0, "");
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            fprintf(2, "wc: %s: %s\n", argv[i], strerror(-fd));
            status = 1;
            continue;
        }
        status |= count(fd, argv[i]);
        close(fd);
    }
    return status;
}
