/*
 * ls -- list the pcfs directory: names, one a line; with -l, each with its
 * size in bytes.  (Plain ls prints nothing that depends on the compiler
 * that built the programs on the disk: scripted transcripts use it.)
 */
#include "user.h"

int main(int argc, char *argv[])
{
    int sizes = argc > 1 && !strcmp(argv[1], "-l");
    if (argc > 2 || (argc == 2 && !sizes)) {
        printf("usage: ls [-l]\n");
        return 2;
    }
    struct stat st;
    for (int i = 0; readdir(i, &st) == 0; i++)
        if (sizes)
            printf("%-10s %6u\n", st.name, st.size);
        else
            printf("%s\n", st.name);
    return 0;
}
