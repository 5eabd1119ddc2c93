# pcunix/build.mk -- included by corpus/Makefile.
#
#   build/pcunix.elf          the kernel (kernel/*.{c,S}, linked by kernel.ld at 0xC0100000, loaded at 1 MiB)
#   build/pcunix/bin/NAME     user programs (user/NAME.c + ulib.c + usys.S, linked by user/user.ld)
#   build/pcunix-disk.img     the pcfs image mkfs.py makes of them and files/*
PCUNIX_KSRC  := $(wildcard pcunix/kernel/*.c pcunix/kernel/*.S)
PCUNIX_KOBJ  := $(patsubst %,$(B)/obj/%.o,$(PCUNIX_KSRC))
PCUNIX_ULIB  := $(B)/obj/pcunix/user/ulib.c.o $(B)/obj/pcunix/user/usys.S.o
PCUNIX_PROGS := $(filter-out ulib,$(basename $(notdir $(wildcard pcunix/user/*.c))))
PCUNIX_BINS  := $(patsubst %,$(B)/pcunix/bin/%,$(PCUNIX_PROGS))
PCUNIX_FILES := $(wildcard pcunix/files/*)
PCUNIX_LD    := $(LD) -m elf_i386 -nostdlib -z max-page-size=0x1000 -z noexecstack

.PHONY: pcunix
pcunix: $(B)/pcunix.elf $(B)/pcunix-disk.img

$(B)/pcunix.elf: $(PCUNIX_KOBJ) pcunix/kernel.ld
	$(PCUNIX_LD) -T pcunix/kernel.ld -o $@ $(PCUNIX_KOBJ)

# stripped (-s): no symbol table, smaller files on the disk
$(B)/pcunix/bin/%: $(B)/obj/pcunix/user/%.c.o $(PCUNIX_ULIB) pcunix/user/user.ld
	@mkdir -p $(dir $@)
	$(PCUNIX_LD) -s -T pcunix/user/user.ld -o $@ $< $(PCUNIX_ULIB)

$(B)/pcunix-disk.img: pcunix/mkfs.py $(PCUNIX_BINS) $(PCUNIX_FILES)
	python3 pcunix/mkfs.py $@ $(PCUNIX_FILES) $(PCUNIX_BINS)
