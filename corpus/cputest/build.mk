# cputest/build.mk -- included by corpus/Makefile.  cputest has its own
# start-up code (cstart.S) and link script, so it is linked without lib/.
CPUTEST_SRC := $(wildcard cputest/*.c cputest/*.S)
CPUTEST_OBJ := $(patsubst %,$(B)/obj/%.o,$(CPUTEST_SRC))

.PHONY: cputest
cputest: $(B)/cputest.elf

$(B)/cputest.elf: $(CPUTEST_OBJ) cputest/link.ld
	$(LD) -m elf_i386 -nostdlib -z max-page-size=0x1000 -z noexecstack -T cputest/link.ld -o $@ $(CPUTEST_OBJ)
