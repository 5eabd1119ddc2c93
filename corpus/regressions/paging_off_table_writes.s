# seed 1; code descriptors pre-accessed: True
cli
.byte 0xf, 0x1, 0x15, 0x0, 0x91, 0x10, 0x0
.byte 0xf, 0x1, 0x1d, 0x6, 0x91, 0x10, 0x0
.byte 0xea, 0x60, 0x0, 0x10, 0x0, 0x8, 0x0
.byte 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90
mov ax, 0x10
mov ds, ax
mov es, ax
mov ss, ax
mov fs, ax
mov gs, ax
mov esp, 0x10d000
mov ax, 0x28
ltr ax
mov al, 0xff
out 0x21, al
out 0xa1, al
mov dword ptr [0x10e080], 0xffffffff
xor eax, eax
xor ebx, ebx
xor ecx, ecx
xor edx, edx
xor esi, esi
xor edi, edi
xor ebp, ebp
push 2
popfd
# chunk 0
mov edi, 0x300000
xor eax, eax
mov ecx, 4096
rep stosd
mov edi, 0x302000
mov eax, 7
mov ecx, 1024
c0_fill:
mov dword ptr [edi], eax
add eax, 0x1000
add edi, 4
dec ecx
jnz c0_fill
mov dword ptr [0x300000], 0x302007
mov dword ptr [0x300004], 0x303007
mov dword ptr [0x301000], 0x302007
mov dword ptr [0x301004], 0x303007
mov eax, 0x300000
mov cr3, eax
mov eax, cr0
or eax, 0x80000000
mov cr0, eax
mov eax, 0x301000
mov cr3, eax
mov esi, dword ptr [0x10a000]
mov eax, 0x300000
mov cr3, eax
mov dword ptr [0x303000], 0x10a005
invlpg [0x400000]
mov ebp, dword ptr [0x400ee4]
mov dword ptr [0x303000], 0x10a007
invlpg [0x400000]
mov ecx, dword ptr [0x400504]
mov edx, dword ptr [0x303000]
mov dword ptr [0x303000], 0x10a007
invlpg [0x400000]
mov dword ptr [0x400f00], 0xde527100
mov ebx, dword ptr [0x10af00]
mov dword ptr [0x303000], 0x10a007
invlpg [0x400000]
mov ecx, dword ptr [0x400340]
mov edx, dword ptr [0x303000]
mov edi, dword ptr [0x300004]
mov eax, cr0
and eax, 0x7fffffff
mov cr0, eax
# chunk 1
mov edi, 0x300000
xor eax, eax
mov ecx, 4096
rep stosd
mov edi, 0x302000
mov eax, 7
mov ecx, 1024
c1_fill:
mov dword ptr [edi], eax
add eax, 0x1000
add edi, 4
dec ecx
jnz c1_fill
mov dword ptr [0x300000], 0x302007
mov dword ptr [0x300004], 0x303007
mov dword ptr [0x301000], 0x302007
mov dword ptr [0x301004], 0x303007
mov eax, 0x300000
mov cr3, eax
mov eax, cr0
or eax, 0x80000000
mov cr0, eax
mov dword ptr [0x303000], 0x10a005
invlpg [0x400000]
mov ebp, dword ptr [0x400d0c]
mov eax, 0x301000
mov cr3, eax
mov esi, dword ptr [0x10a000]
mov eax, 0x300000
mov cr3, eax
mov eax, cr0
and eax, 0x7fffffff
mov cr0, eax
jmp 0x106800
