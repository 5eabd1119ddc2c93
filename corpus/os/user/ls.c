/*
 * corpus/os/user/ls.c -- list the disk's directory.
 *
 *   ls            the names, one a line
 *   ls -l         sizes (bytes) and names
 *   ls NAME...    sizes and names of those files
 */
#include "ulib.h"

static int list(int sizes)
{
    int fd = open("/", O_RDONLY);
    if (fd < 0) {
        fprintf(2, "ls: /: %s\n", strerror(-fd));
        return 1;
    }
    struct dirent de[8];
    int n;
    while ((n = read(fd, de, sizeof de)) > 0) {
        for (int i = 0; i < n / (int)sizeof de[0]; i++) {
            if (sizes)
                printf("%7u %s\n", de[i].size, de[i].name);
            else
                printf("%s\n", de[i].name);
        }
    }
    close(fd);
    if (n < 0) {
        fprintf(2, "ls: /: %s\n", strerror(-n));
        return 1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc == 1)
        return list(0);
    if (argc == 2 && strcmp(argv[1], "-l") == 0)
        return list(1);
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        struct stat st;
        int err = fd < 0 ? fd : fstat(fd, &st);
        if (fd >= 0)
            close(fd);
        if (err < 0) {
            fprintf(2, "ls: %s: %s\n", argv[i], strerror(-err));
            status = 1;
        } else {
            printf("%7u %s\n", st.size, argv[i]);
        }
    }
    return status;
}
