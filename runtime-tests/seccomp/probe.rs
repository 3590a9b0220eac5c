//! Static ELF executables of a few dozen bytes of code.

const BASE: u64 = 0x40_0000;
const HEADERS: usize = 64 + 56;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[derive(Clone, Copy)]
pub enum Abi {
    X64,
    /// `int 0x80`: seccomp sees AUDIT_ARCH_I386.
    I386,
    /// `syscall` with the x32 bit in the number.
    X32,
}

/// A program making system call `nr` with `args`, exiting with the
/// errno it fails with, or 0.
pub fn call(abi: Abi, nr: u32, args: &[u64]) -> Vec<u8> {
    let mut code = Vec::new();
    match abi {
        Abi::I386 => {
            // mov ebx/ecx/edx/esi/edi/ebp, imm32; mov eax, nr; int 0x80;
            // movsxd rax, eax
            for (op, a) in [0xbb, 0xb9, 0xba, 0xbe, 0xbf, 0xbd].into_iter().zip(args) {
                code.push(op);
                code.extend((*a as u32).to_le_bytes());
            }
            code.push(0xb8);
            code.extend(nr.to_le_bytes());
            code.extend([0xcd, 0x80, 0x48, 0x63, 0xc0]);
        }
        Abi::X64 | Abi::X32 => {
            // mov rdi/rsi/rdx/r10/r8/r9, imm64; mov rax, nr; syscall
            let regs = [
                [0x48, 0xbf],
                [0x48, 0xbe],
                [0x48, 0xba],
                [0x49, 0xba],
                [0x49, 0xb8],
                [0x49, 0xb9],
            ];
            for (reg, a) in regs.into_iter().zip(args) {
                code.extend(reg);
                code.extend(a.to_le_bytes());
            }
            let nr = if matches!(abi, Abi::X32) {
                nr | X32_SYSCALL_BIT
            } else {
                nr
            };
            code.extend([0x48, 0xb8]);
            code.extend(u64::from(nr).to_le_bytes());
            code.extend([0x0f, 0x05]);
        }
    }
    code.extend([
        0x48, 0x85, 0xc0, // test rax, rax
        0x78, 0x04, // js failed
        0x31, 0xff, // xor edi, edi
        0xeb, 0x06, // jmp exit
        0x48, 0xf7, 0xd8, // failed: neg rax
        0x48, 0x89, 0xc7, // mov rdi, rax
        0xb8, 0xe7, 0x00, 0x00, 0x00, // exit: mov eax, 231 (exit_group)
        0x0f, 0x05, // syscall
        0x0f, 0x0b, // ud2
    ]);
    elf(&code)
}

/// An ELF header and one PT_LOAD segment mapping the file at BASE.
fn elf(code: &[u8]) -> Vec<u8> {
    let size = (HEADERS + code.len()) as u64;
    let mut f = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend(2u16.to_le_bytes()); // ET_EXEC
    f.extend(0x3eu16.to_le_bytes()); // EM_X86_64
    f.extend(1u32.to_le_bytes());
    f.extend((BASE + HEADERS as u64).to_le_bytes()); // entry: the code
    f.extend(64u64.to_le_bytes()); // program headers right after
    f.extend(0u64.to_le_bytes()); // no section headers
    f.extend(0u32.to_le_bytes());
    for half in [64u16, 56, 1, 64, 0, 0] {
        f.extend(half.to_le_bytes());
    }
    f.extend(1u32.to_le_bytes()); // PT_LOAD
    f.extend(5u32.to_le_bytes()); // R+X
    for word in [0, BASE, BASE, size, size, 0x1000] {
        f.extend(word.to_le_bytes());
    }
    f.extend(code);
    f
}
