/* sum FILE -- its size and CRC-32 (IEEE 802.3, reflected, as zlib's crc32). */
#include "user.h"

int main(int argc, char **argv)
{
    static unsigned table[256];
    for (unsigned i = 0; i < 256; i++) {
        unsigned c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    if (argc != 2) {
        printf("usage: sum FILE\n");
        return 2;
    }
    int fd = open(argv[1]);
    if (fd < 0) {
        printf("sum: %s: no such file\n", argv[1]);
        return 1;
    }
    unsigned crc = 0xFFFFFFFFu, size = 0;
    unsigned char buf[512];
    int n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (int i = 0; i < n; i++)
            crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
        size += (unsigned)n;
    }
    printf("%s: %u bytes, crc32 0x%08x\n", argv[1], size, crc ^ 0xFFFFFFFFu);
    return 0;
}
