/*
 * Native unicorn hooks for the machine's clock: instruction counting and
 * getting control back, without Python on the hot path.
 *
 * A Python UC_HOOK_BLOCK callback costs ~0.33 us per block; this one costs a
 * few ns (see ../shared/notes/unicorn.md, "Getting control back"). It is a
 * plain C function that unicorn calls directly; Python registers it through
 * ctypes with uc_hook_add and shares `struct bt_clock` with it.
 *
 *  - bt_block_hook charges each block's guest instruction count (looked up
 *    in a set-associative table keyed by address and size, filled by a Python
 *    callback on a miss), counts the block under its kind (kind_runs: under the
 *    monitor, how translated code was entered: through the lookup table or a
 *    chained jump; see icount.py) and asks unicorn to stop once the count reaches
 *    `stop_at`, or, while `stop_on_if` is set, as soon as a block starts with
 *    EFLAGS.IF = 1 (a masked interrupt is waiting for sti/popf/iret).
 *  - bt_insn_hook counts single instructions exactly; the machine installs it
 *    only for the last stretch before a deterministic timer deadline.
 *  - Only the hook of the current mode (`exact`) acts: the other returns at
 *    once. The block hook stays installed for good; the instruction hook comes
 *    and goes. uc_hook_del cannot be trusted to silence a deleted hook: when a
 *    hook is the only one of its type, unicorn 2.1.4 compiles a direct call to
 *    its callback into each block (tcg-op.h gen_uc_tracecode, no to_delete
 *    check), and on deletion invalidates those blocks by virtual address through
 *    the current MMU state, which misses blocks on pages the current privilege
 *    level cannot reach (the kernel's, while the run stopped in user code). A
 *    deleted block hook went on charging whole blocks during an exact stretch
 *    while blocks made without the instruction hook ran uncounted
 *    (corpus/regressions/fuzz_100586).
 *  - Both honour `async_stop`, which the real-time watchdog thread sets: a stop
 *    requested from another thread with uc_emu_stop can leave EIP stale (unicorn
 *    2.1.4 does not restore the PC of a block it exits before running it while a
 *    stop is pending: instructions then run twice), while a stop requested from
 *    a hook at a block start leaves EIP exact.
 *
 * This module is a Python extension only so that pip builds it; it exports
 * no Python API. Python loads it with ctypes.CDLL(<module file>).
 */
#include <Python.h>
#include <stdint.h>

#define BT_TABLE_BITS 14
#define BT_TABLE_SIZE (1u << BT_TABLE_BITS)
#define BT_WAYS 4          /* a set of the table: 4 ways, round-robin replacement */
#define BT_KINDS 4         /* what a block start is (bits 24.. of fill's answer) */
#define BT_COUNT_MASK 0xffffffu

typedef int (*bt_reg_read_fn)(void *uc, int regid, void *value);
typedef int (*bt_emu_stop_fn)(void *uc);
typedef uint32_t (*bt_fill_fn)(uint64_t address, uint32_t size);

struct bt_clock {
    uint64_t insns;        /* guest instructions charged so far */
    uint64_t stop_at;      /* stop once insns >= stop_at */
    uint64_t block_start;  /* the last block charged by bt_block_hook */
    uint32_t block_size;
    uint32_t block_insns;
    uint32_t stop_on_if;   /* stop at a block start that sees EFLAGS.IF = 1 */
    uint32_t stopped;      /* bit 0: count reached; bit 1: IF seen */
    uint32_t eflags_regid;
    uint32_t misses;
    uint32_t weighted;     /* bt_insn_hook charges each instruction's table weight, not 1 */
    uint32_t exact;        /* 1: bt_insn_hook counts, 0: bt_block_hook counts */
    volatile uint32_t async_stop; /* set by another thread: stop at the next block start */
    uint64_t blocks;
    bt_reg_read_fn reg_read;
    bt_emu_stop_fn emu_stop;
    bt_fill_fn fill;
    uint64_t kind_runs[BT_KINDS]; /* blocks run, by the kind fill gave their start */
    uint32_t evictions;    /* misses that replaced a live entry (conflicts, not first sight) */
    uint32_t pad;
    uint64_t tag[BT_TABLE_SIZE];
    uint32_t size[BT_TABLE_SIZE];
    uint32_t count[BT_TABLE_SIZE];
    uint8_t kind[BT_TABLE_SIZE];
    uint8_t next_way[BT_TABLE_SIZE / BT_WAYS];
};

/*
 * The table entry of the code at [address, address + size), filled on a miss.
 * Set-associative (BT_WAYS ways a set) so that blocks whose keys collide (a loop
 * whose body straddles a page boundary runs as two unicorn blocks at related
 * addresses) do not evict each other on every pass: a miss is a call into Python.
 * fill answers the guest instruction count in bits 0-23 and the kind of the block
 * start (the monitor's: guest code, lookup entry, block body, other) in bits 24-27.
 */
static uint32_t bt_entry(struct bt_clock *s, uint64_t address, uint32_t size)
{
    uint32_t set = (uint32_t)(address ^ (address >> 12) ^ (address >> 24) ^ size)
                   & (BT_TABLE_SIZE / BT_WAYS - 1);
    uint32_t base = set * BT_WAYS, h, n;

    for (h = base; h < base + BT_WAYS; h++)
        if (s->tag[h] == address && s->size[h] == size)
            return h;
    h = base + s->next_way[set];
    s->next_way[set] = (uint8_t)((s->next_way[set] + 1) & (BT_WAYS - 1));
    if (s->size[h] != 0)
        s->evictions++;
    n = s->fill(address, size);
    s->tag[h] = address;
    s->size[h] = size;
    s->count[h] = n & BT_COUNT_MASK;
    s->kind[h] = (uint8_t)((n >> 24) & (BT_KINDS - 1));
    s->misses++;
    return h;
}

void bt_block_hook(void *uc, uint64_t address, uint32_t size, struct bt_clock *s)
{
    uint32_t h, n;

    if (s->exact)
        return;  /* a stale direct call left in a block after uc_hook_del */
    h = bt_entry(s, address, size);
    n = s->count[h];
    s->kind_runs[s->kind[h]]++;
    s->blocks++;
    s->block_start = address;
    s->block_size = size;
    s->block_insns = n;
    s->insns += n;
    if (s->insns >= s->stop_at) {
        s->stopped |= 1;
        s->emu_stop(uc);
    }
    if (s->async_stop) {
        s->stopped |= 4;
        s->emu_stop(uc);
    }
    if (s->stop_on_if) {
        uint64_t eflags = 0;
        s->reg_read(uc, (int)s->eflags_regid, &eflags);
        if (eflags & 0x200) {
            s->stopped |= 2;
            s->emu_stop(uc);
        }
    }
}

/*
 * Under the monitor an instruction of the translation cache weighs 1 when it
 * begins a guest instruction and 0 otherwise (the rest of an inline sequence,
 * exit stubs, lookup entries): the clock counts guest instructions, and an
 * exact stop lands only where the guest's state is whole.
 */
void bt_insn_hook(void *uc, uint64_t address, uint32_t size, struct bt_clock *s)
{
    uint32_t n;

    if (!s->exact)
        return;  /* a stale direct call left in a block after uc_hook_del */
    n = s->weighted ? s->count[bt_entry(s, address, size)] : 1;
    if (n == 0)
        return;
    if (s->insns >= s->stop_at || s->async_stop) {
        s->stopped |= s->async_stop ? 4 : 1;
        s->emu_stop(uc);
        return;
    }
    s->insns += n;
}

/* sizeof(struct bt_clock): icount.py compares it with its ctypes mirror at import, so
 * that a module built from an older layout is refused instead of read and written at
 * shifted offsets (a stale build charged garbage: the instruction clock ran 10^12 ahead) */
uint32_t bt_clock_size(void)
{
    return (uint32_t)sizeof(struct bt_clock);
}

void bt_clear_table(struct bt_clock *s)
{
    for (uint32_t i = 0; i < BT_TABLE_SIZE; i++) {
        s->tag[i] = ~(uint64_t)0;
        s->size[i] = 0;
    }
    for (uint32_t i = 0; i < BT_TABLE_SIZE / BT_WAYS; i++)
        s->next_way[i] = 0;
}

static struct PyModuleDef bt_hooks_module = {
    PyModuleDef_HEAD_INIT, "_hooks", "Native unicorn hooks (loaded with ctypes).", -1, NULL,
};

PyMODINIT_FUNC PyInit__hooks(void) { return PyModule_Create(&bt_hooks_module); }
