# seed 2154; code descriptors pre-accessed: True
# seed 2154 (avoid_known, not shrunk): the dump's pushfd image at 0x10cffc has AF (bit 4) set under the monitor and clear natively (ebx/sum 0x64edb7e3 native vs 0x64edb7f3); bt diff's bisection reports guest instruction 1025 (rol edx, 5 at 0x106886), i.e. the EXACT_WINDOW boundary: runs of <= 1024 instructions count per instruction and agree, so AF seems to depend on the counting mode (lazy flags); not yet explained
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
int 0x37
# chunk 1
bt edx, 30
# chunk 2
.byte 0x66, 0xf, 0x0, 0xc9
# chunk 3
cmovb edx, ebp
# chunk 4
and ebp, ebx
and edx, 0xf06090d9
mov ebx, 0x3
# chunk 5
pushfd
xor dword ptr [esp], 0x200
popfd
# chunk 6
mov al, 0xbd
out 0x80, al
# chunk 7
mov eax, 0x8
mov ebx, 0xc2e9ca18
mov word ptr [0x10a684], ax
.byte 0xf, 0x2, 0x1d, 0x84, 0xa6, 0x10, 0x0
setz cl
# chunk 8
push 0x200007
popfd
# chunk 9
push 0x2492
popfd
# chunk 10
pushfd
pop esi
# chunk 11
pushad
mov eax, 0x0
popad
# chunk 12
mov eax, 0x39
mov ebx, 0xb6618467
mov word ptr [0x10a1a0], ax
.byte 0xf, 0x3, 0x1d, 0xa0, 0xa1, 0x10, 0x0
setz cl
# chunk 13
mov ax, 0x10
mov ss, ax
mov ecx, esp
# chunk 14
push 0x242012
popfd
# chunk 15
clc
# chunk 16
mov dword ptr [0x10a608], c86a_16_t
mov word ptr [0x10a60c], 0x8
.byte 0xff, 0x2d, 0x8, 0xa6, 0x10, 0x0
c86a_16_t:
# chunk 17
mov eax, 0x30
mov edi, 0xe8ba823a
mov word ptr [0x10adec], ax
.byte 0xf, 0x3, 0x3d, 0xec, 0xad, 0x10, 0x0
setz cl
# chunk 18
mov dword ptr [0x10e084], c86a_18_back
mov dword ptr [0x10e088], esp
mov eax, 0x7fffffff
push 0x23
push 0x10c000
push 0x2a83
push 0x1b
push 0x107200
iretd
c86a_18_back:
# chunk 19
movzx eax, byte ptr [0x10af25]
# chunk 20
cmp edx, eax
jnp c86a_20_l
add edx, 7
c86a_20_l:
# chunk 21
call c86a_21_f
jmp c86a_21_end
c86a_21_f:
add eax, 178
ret
c86a_21_end:
# chunk 22
bsf ecx, ecx
# chunk 23
.byte 0x9a, 0x0, 0x0, 0x0, 0x0, 0x48, 0x0
# chunk 24
cld
mov esi, 0x10a688
mov edi, 0x10ab18
mov ecx, 17
mov eax, 0x2
.byte 0xa5
# chunk 25
setb cl
daa
# chunk 26
mov ebp, 0xfffffffc
# chunk 27
cld
mov esi, 0x10a6fc
mov edi, 0x10ad78
mov ecx, 5
mov eax, 0x7fffffff
rep movsb
# chunk 28
mov dword ptr [0x10e084], c86a_28_back
mov dword ptr [0x10e088], esp
mov ecx, 0x7fffffff
push 0x23
push 0x10c000
push 0x2202
push 0x1b
push 0x107000
iretd
c86a_28_back:
# chunk 29
mov eax, 0x13
mov ebx, 0x6722a16e
verw ax
setz cl
# chunk 30
push 0x1046
.byte 0x66, 0x9d
pushfd
pop eax
add esp, 2
# chunk 31
setns bl
# chunk 32
push 0x8
mov eax, c86a_32_t
push eax
retf
c86a_32_t:
# chunk 33
sahf
# chunk 34
.byte 0xf, 0x0, 0xd, 0x0, 0xaa, 0x10, 0x0
# chunk 35
mov eax, 0x51
mov ebx, 0x22230e00
.byte 0xf, 0x3, 0xd8
setz cl
# chunk 36
mov eax, 0x1d
mov edx, 0xfa653f63
.byte 0xf, 0x3, 0xd0
setz cl
# chunk 37
sub esi, 0x3
mov eax, 0xfffffffd
setge al
btc edx, 27
# chunk 38
rol edi, 27
bt edx, 21
mov ebx, 0xa3
cmovs ebp, ecx
# chunk 39
mov eax, 0x2b
mov esi, 0x3638ac33
mov word ptr [0x10a334], ax
.byte 0xf, 0x3, 0x35, 0x34, 0xa3, 0x10, 0x0
setz cl
# chunk 40
int 0x36
# chunk 41
.byte 0xf, 0x0, 0xc6
# chunk 42
mov al, 0xfc
out 0x80, al
# chunk 43
enter 16, 0
mov dword ptr [ebp - 4], esi
leave
# chunk 44
mov dword ptr [0x10e084], c86a_44_back
mov dword ptr [0x10e088], esp
mov edx, 0x59
push 0x23
push 0x10c000
push 0x2602
push 0x1b
push 0x107400
iretd
c86a_44_back:
# chunk 45
btc eax, 7
cmova edi, ebx
not edi
btc eax, 30
# chunk 46
mov eax, 0xfffa
mov ebx, 0x11e629f8
mov word ptr [0x10a028], ax
.byte 0xf, 0x2, 0x1d, 0x28, 0xa0, 0x10, 0x0
setz cl
# chunk 47
mov al, 0x11
out 0x80, al
# chunk 48
seto al
cmovl edi, esi
cmovl ecx, ecx
lea edx, [ecx + eax*1 + 3323]
# chunk 49
pushfd
pop ecx
# chunk 50
inc dword ptr [0x10a494]
# chunk 51
test ecx, ebx
cmovbe ebp, ebp
mov ebx, 0x1a
# chunk 52
enter 16, 0
mov dword ptr [ebp - 4], esi
leave
# chunk 53
mov word ptr [0x10a5f4], ss
# chunk 54
sti
mov eax, 1
# chunk 55
mov dword ptr [0x10e084], c86a_55_back
mov dword ptr [0x10e088], esp
mov esi, 0x33
push 0x23
push 0x10c000
push 0x3202
push 0x1b
push 0x107200
iretd
c86a_55_back:
# chunk 56
mov dword ptr [0x10af64], c86a_56_t
mov word ptr [0x10af68], 0x8
.byte 0xff, 0x2d, 0x64, 0xaf, 0x10, 0x0
c86a_56_t:
# chunk 57
int 0x37
# chunk 58
mov dword ptr [0x10e084], c86a_58_back
mov dword ptr [0x10e088], esp
mov ecx, 0x80000000
push 0x23
push 0x10c000
push 0x2402
push 0x1b
push 0x107400
iretd
c86a_58_back:
# chunk 59
mov edi, dword ptr [0x10a8bc]
# chunk 60
mov dword ptr [0x10e084], c86a_60_back
mov dword ptr [0x10e088], esp
mov edx, 0x6b
push 0x23
push 0x10c000
push 0x1883
push 0x1b
push 0x107100
iretd
c86a_60_back:
# chunk 61
mov ecx, 2
c86a_61_l:
add ebx, ebx
rol ebx, 3
loop c86a_61_l
# chunk 62
.byte 0xf, 0x1, 0x5, 0x34, 0xa7, 0x10, 0x0
# chunk 63
mov dword ptr [0x10aff8], c86a_63_t
jmp dword ptr [0x10aff8]
inc edx
c86a_63_t:
# chunk 64
cld
mov esi, 0x10a234
mov edi, 0x10a854
mov ecx, 30
mov eax, 0xfffffffc
rep stosb
# chunk 65
mov ax, 0x30
mov fs, ax
mov dword ptr fs:[0xefc], edx
mov ebp, dword ptr fs:[0xca8]
# chunk 66
cmp eax, ecx
jae c86a_66_l
add eax, 7
c86a_66_l:
# chunk 67
cld
mov esi, 0x10a53c
mov edi, 0x10aa3c
mov ecx, 25
mov eax, 0xfffffffd
repe cmpsb
# chunk 68
setp al
daa
# chunk 69
int 0x32
# chunk 70
xadd edi, eax
lea edi, [edx + edx*2 + 1361]
neg eax
# chunk 71
add dword ptr [0x10a3ec], ecx
# chunk 72
mov eax, 0x59
mov esi, 0x93daea45
.byte 0xf, 0x3, 0xf0
setz cl
# chunk 73
mov word ptr [0x10a090], gs
# chunk 74
movzx ebp, byte ptr [0x10a325]
# chunk 75
btr ecx, 15
cmovo edx, ebx
# chunk 76
.byte 0xf, 0x0, 0xd, 0x98, 0xa7, 0x10, 0x0
# chunk 77
cld
mov esi, 0x10a4bc
mov edi, 0x10a994
mov ecx, 17
mov eax, 0x7fffffff
rep stosb
# chunk 78
call c86a_78_f
jmp c86a_78_end
c86a_78_f:
add edx, 22
ret
c86a_78_end:
# chunk 79
mov al, 0xed
out 0x80, al
# chunk 80
push ecx
push 0x7fffffff
pop edx
pop ecx
# chunk 81
int 0x38
# chunk 82
xchg dword ptr [0x10a764], edx
# chunk 83
cmovbe edi, eax
# chunk 84
mov ax, 0x10
mov es, ax
# chunk 85
mov dword ptr [0x10aff8], c86a_85_t
jmp dword ptr [0x10aff8]
inc ecx
c86a_85_t:
# chunk 86
mov dword ptr [0x10e084], c86a_86_back
mov dword ptr [0x10e088], esp
mov edx, 0x7fffffff
push 0x23
push 0x10c000
push 0x2003
push 0x1b
push 0x107200
iretd
c86a_86_back:
# chunk 87
sti
mov edx, 1
# chunk 88
mov dword ptr [0x10ad2c], 0x0
mov word ptr [0x10ad30], 0x10
les ebx, fword ptr [0x10ad2c]
# chunk 89
mov eax, 0x1fb
mov ebx, 0xbefc38f9
verr ax
setz cl
# chunk 90
.byte 0xf, 0x0, 0xc7
# chunk 91
mov eax, 0x51
mov ebx, 0x6bb015c5
verr ax
setz cl
# chunk 92
int 0x37
# chunk 93
mov eax, 0x1a
mov esi, 0x3df8e0bf
.byte 0xf, 0x3, 0xf0
setz cl
# chunk 94
std
mov esi, 0x10a5b4
mov edi, 0x10a978
mov ecx, 31
mov eax, 0x7fffffff
lodsd
# chunk 95
mov eax, 0x21
mov edx, 0x5aa095ea
verw ax
setz cl
# chunk 96
int 0x3a
# chunk 97
std
mov esi, 0x10a224
mov edi, 0x10a9b8
mov ecx, 32
mov eax, 0x7fffffff
.byte 0xf3, 0xa5
# chunk 98
seta bl
# chunk 99
mov eax, 0x73
mov esi, 0x1d247fb4
mov word ptr [0x10ae04], ax
.byte 0xf, 0x2, 0x35, 0x4, 0xae, 0x10, 0x0
setz cl
# chunk 100
mov dword ptr [0x10aff8], c86a_100_t
jmp dword ptr [0x10aff8]
inc ebp
c86a_100_t:
# chunk 101
pushfd
pop esi
# chunk 102
push 0x2642
.byte 0x66, 0x9d
pushfd
pop edi
add esp, 2
# chunk 103
cld
mov esi, 0x10a2b4
mov edi, 0x10ade8
mov ecx, 28
mov eax, 0x7fffffff
repe cmpsb
# chunk 104
mov dword ptr [0x10ac04], edx
# chunk 105
call c86a_105_f
jmp c86a_105_end
c86a_105_f:
add ebp, 83
ret
c86a_105_end:
# chunk 106
sti
nop
# chunk 107
mov eax, 0x72
mov esi, 0x17c0c65f
.byte 0xf, 0x3, 0xf0
setz cl
# chunk 108
mov ecx, 5
c86a_108_l:
add eax, eax
rol eax, 3
loop c86a_108_l
# chunk 109
mov ebx, c86a_109_f
call ebx
jmp c86a_109_end
c86a_109_f:
xor edi, ebx
ret 0
c86a_109_end:
jmp 0x106800
