# seed 1; code descriptors pre-accessed: True
# loopne left through ECX = 0 (shrunk from seed 7400 of an earlier generator)
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
mov ecx, 0x176
mov eax, 0x8876c4f6
mov edx, 0
wrmsr
mov ecx, 0x176
rdmsr
mov ebp, eax
xor ebp, edx
# chunk 1
mov ebx, 0x10adf8
mov edx, dword ptr [ebx + 8]
# chunk 2
mov ecx, 1
l1:
add ebx, edx
rol ebx, 3
inc edx
cmp ebx, ebx
loopne l1
cmp ebx, edx
jmp 0x106800
