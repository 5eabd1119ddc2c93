"""The callout table: a rule name of :mod:`bt.classify` -> the handler that emulates it.

A new emulated instruction is a new row here (and its rule in :mod:`bt.classify`).
"""

from __future__ import annotations

from runtime.pc.cpustate import SEG_GDT, SEG_IDT
from runtime.vmm.callouts.general import (
    adapted_store,
    breakpoint,
    debugger_breakpoint,
    fpu,
    near16,
    popf,
    pushf,
    software_interrupt,
    undefined,
)
from runtime.vmm.callouts.host import Handler
from runtime.vmm.callouts.io import port_in, port_out, string_io
from runtime.vmm.callouts.segment_ops import (
    descriptor_check,
    far_call,
    far_jmp,
    far_ret,
    iret,
    load_far_pointer,
    load_sreg,
)
from runtime.vmm.callouts.system import (
    by_oracle,
    clts,
    hlt,
    invlpg,
    lldt,
    lmsw,
    ltr,
    mov_cr_dr,
    msr_access,
    nop,
    store_selector_register,
    store_table_register,
    table_register,
)

HANDLERS: dict[str, Handler] = {
    "far jmp": far_jmp, "far call": far_call, "far ret": far_ret, "iret": iret,
    "mov to sreg": load_sreg, "pop sreg": load_sreg,
    "lds": load_far_pointer, "les": load_far_pointer, "lfs": load_far_pointer,
    "lgs": load_far_pointer, "lss": load_far_pointer,
    "lar": descriptor_check("lar"), "lsl": descriptor_check("lsl"),
    "verr": descriptor_check("verr"), "verw": descriptor_check("verw"),
    "popf": popf, "pushf": pushf,
    "lgdt": table_register(SEG_GDT), "lidt": table_register(SEG_IDT),
    "sgdt": store_table_register(SEG_GDT), "sidt": store_table_register(SEG_IDT),
    "smsw": store_selector_register("smsw"), "str": store_selector_register("str"),
    "sldt": store_selector_register("sldt"),
    "lldt": lldt, "ltr": ltr, "mov crN": mov_cr_dr, "mov drN": mov_cr_dr,
    "clts": clts, "lmsw": lmsw, "invlpg": invlpg, "wbinvd": nop, "invd": nop, "hlt": hlt,
    "in": port_in, "out": port_out, "ins": string_io, "outs": string_io,
    "int n": software_interrupt, "int3": software_interrupt, "into": software_interrupt,
    "int1": software_interrupt, "undefined": undefined, "fpu": fpu,
    "breakpoint": breakpoint, "debugger breakpoint": debugger_breakpoint,
    "adapted store": adapted_store,
    "ret": near16, "jmp": near16, "call": near16, "jmp indirect": near16, "call indirect": near16,
    "cpuid": by_oracle, "rdtsc": by_oracle, "rdmsr": msr_access, "wrmsr": msr_access,
}
