/*
 * corpus/paging/paging.S -- the faulting accesses of the paging guest.
 * Each probe is bracketed by p_NAME / p_NAME_end and has a table entry
 * {start, end, name, error code, CR2, mask}
 * (the error code is compared and printed under mask); the #PF handler takes the entries
 * in order, checks them and resumes at the end label.
 */
#define PROBE_M(n, err, cr2, mask) \
        .pushsection .data; .long p_##n, p_##n##_end, s_##n, err, cr2, mask; \
        .pushsection .rodata; s_##n: .asciz #n; .popsection; .popsection
#define PROBE(n, err, cr2) PROBE_M(n, err, cr2, 0xffffffff)

        .section .data
        .align 4
        .globl probe_table
probe_table:

        .text
/* ring 0, CR0.WP=1: a read-only PTE, and a read-only PDE over a writable
 * PTE (the stricter of the two applies, SDM vol 3 4.6) */
        .globl k_wp_probes
k_wp_probes:
        PROBE(k_write_ro_pte_wp1, 3, 0x00804000)
p_k_write_ro_pte_wp1: movl $0x5a5a5a5a, 0x00804000
p_k_write_ro_pte_wp1_end:
        PROBE(k_write_ro_pde_wp1, 3, 0x01400010)
p_k_write_ro_pde_wp1: movl $0x5a5a5a5a, 0x01400010
p_k_write_ro_pde_wp1_end:
        ret

/* a 4 MiB PDE with reserved bit 21 set: #PF with RSVD (bit 3).  Hardware
 * also sets P (the entry is present); QEMU 7.x reports RSVD alone, so P is
 * masked out of this one comparison.
 * a not-present PTE whose other bits are all ones: plain not-present */
        .globl k_misc_probes
k_misc_probes:
        PROBE_M(k_read_pde_rsvd_bit21, 8, 0x01800020, 0xfffffffe)
p_k_read_pde_rsvd_bit21: movl 0x01800020, %eax
p_k_read_pde_rsvd_bit21_end:
        PROBE(k_read_np_pte_junk, 0, 0x00809abc)
p_k_read_np_pte_junk: movl 0x00809abc, %eax
p_k_read_np_pte_junk_end:
        ret

/* ring 3 (run via run_user): U/S and R/W of PDE and PTE combined */
        .globl user_probes
user_probes:
        PROBE(u_read_supervisor_pte, 5, 0x00805000)
p_u_read_supervisor_pte: movl 0x00805000, %eax
p_u_read_supervisor_pte_end:
        PROBE(u_write_supervisor_pte, 7, 0x00805004)
p_u_write_supervisor_pte: movl %eax, 0x00805004
p_u_write_supervisor_pte_end:
        PROBE(u_read_supervisor_pde, 5, 0x00c00008)
p_u_read_supervisor_pde: movl 0x00c00008, %eax
p_u_read_supervisor_pde_end:
        PROBE(u_write_ro_pde, 7, 0x0140000c)
p_u_write_ro_pde: movl %eax, 0x0140000c
p_u_write_ro_pde_end:
        PROBE(u_write_ro_pte, 7, 0x00806010)
p_u_write_ro_pte: movl %eax, 0x00806010
p_u_write_ro_pte_end:
        movl 0x00806010, %eax           /* user read-only page: readable */
        movl %eax, u_ro_value
        movl $0x75757575, 0x00807020    /* user read/write page */
        PROBE(u_read_not_present, 4, 0x00830000)
p_u_read_not_present: movl 0x00830000, %eax
p_u_read_not_present_end:
        PROBE(u_write_not_present, 6, 0x00830004)
p_u_write_not_present: movl %eax, 0x00830004
p_u_write_not_present_end:
        PROBE(u_read_kernel_4m_page, 5, 0x01000000)
p_u_read_kernel_4m_page: movl 0x01000000, %eax
p_u_read_kernel_4m_page_end:
        int $0x80                       /* back to the kernel */
        ud2

        .section .data
        .long 0, 0, 0, 0, 0, 0          /* probe_table terminator */

        .section .bss
        .align 4
        .globl u_ro_value
u_ro_value: .long 0

        .section .note.GNU-stack, "", @progbits
