/*
 * corpus/vmstress/vmstress.S -- fault probes of the vmstress guest.
 *
 * uint32_t probe_read(uint32_t addr): returns the word at addr, or
 *   0xdeadf00d if the load faulted (the #PF handler resumes at
 *   probe_read_end when EIP is probe_read_insn);
 * void probe_write(uint32_t addr, uint32_t v): likewise for a store.
 * Both live in the identity-mapped, user-accessible kernel image, so ring 3
 * may call them too.
 */
        .text
        .globl probe_read, probe_read_insn, probe_read_end
        .type probe_read, @function
probe_read:
        movl 4(%esp), %ecx
        movl $0xdeadf00d, %eax
probe_read_insn:
        movl (%ecx), %eax
probe_read_end:
        ret

        .globl probe_write, probe_write_insn, probe_write_end
        .type probe_write, @function
probe_write:
        movl 4(%esp), %ecx
        movl 8(%esp), %eax
probe_write_insn:
        movl %eax, (%ecx)
probe_write_end:
        ret

        .section .note.GNU-stack, "", @progbits
