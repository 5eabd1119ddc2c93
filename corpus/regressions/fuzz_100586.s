# seed 100586; code descriptors pre-accessed: True
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
.byte 0x9a, 0x0, 0x0, 0x0, 0x0, 0x48, 0x0
# chunk 1
.byte 0x66, 0xf, 0x0, 0xcf
# chunk 2
cmp ecx, ebx
jbe c188ea_21_l
add ecx, 7
c188ea_21_l:
# chunk 3
mov ax, 0x10
mov ss, ax
mov ebx, esp
# chunk 4
push cs
pop ecx
# chunk 5
push ecx
push 0xd3
pop ebp
pop ecx
# chunk 6
int 0x38
# chunk 7
.byte 0xf, 0x1, 0x25, 0xd4, 0xa0, 0x10, 0x0
# chunk 8
mov ax, 0x30
mov fs, ax
mov dword ptr fs:[0xd3c], ebx
mov edx, dword ptr fs:[0x558]
# chunk 9
mov eax, gs
# chunk 10
.byte 0xf, 0x0, 0xd, 0xc0, 0xab, 0x10, 0x0
# chunk 11
bts edx, 19
cmp edx, ebx
ror edi, cl
cmp edi, ebp
# chunk 12
mov edi, dword ptr [0x10aee0]
# chunk 13
.byte 0xf, 0x0, 0xc8
# chunk 14
push 0x4d3
.byte 0x66, 0x9d
pushfd
pop eax
add esp, 2
# chunk 15
mov dword ptr [0x10e084], c188ea_61_back
mov dword ptr [0x10e088], esp
mov edx, 0x7fffffff
push 0x23
push 0x10c000
push 0x2883
push 0x1b
push 0x107300
iretd
c188ea_61_back:
# chunk 16
mov dword ptr [0x10a798], 0x6364247f
mov word ptr [0x10a79c], 0x0
lfs ecx, fword ptr [0x10a798]
# chunk 17
mov ax, 0x68
mov ds, ax
# chunk 18
push 0x8
mov eax, c188ea_64_t
push eax
retf
c188ea_64_t:
# chunk 19
bt eax, 11
cmp eax, edi
and esi, 0xfffffffc
# chunk 20
cli
pushfd
pop eax
# chunk 21
enter 16, 0
mov dword ptr [ebp - 4], esi
leave
# chunk 22
cmp edx, ebp
js c188ea_68_l
add edx, 7
c188ea_68_l:
# chunk 23
int 0x33
# chunk 24
mov dword ptr [0x10e084], c188ea_70_back
mov dword ptr [0x10e088], esp
mov esi, 0x2e
push 0x23
push 0x10c000
push 0x1242
push 0x1b
push 0x107400
iretd
c188ea_70_back:
# chunk 25
mov dword ptr [0x10a9bc], c188ea_71_t
mov word ptr [0x10a9c0], 0x8
.byte 0xff, 0x2d, 0xbc, 0xa9, 0x10, 0x0
c188ea_71_t:
# chunk 26
mov dword ptr [0x10aff8], c188ea_72_t
jmp dword ptr [0x10aff8]
inc ebp
c188ea_72_t:
# chunk 27
mov word ptr [0x10ad2c], ss
# chunk 28
mov eax, 0xb
mov ebx, 0x1ea8af86
.byte 0xf, 0x2, 0xd8
setz cl
# chunk 29
pushfd
pop ebp
jmp 0x106800
