//! `ticks`: prints `ticks N` with N the generic counter (CNTVCT_EL0) and
//! exits. The boot benchmark (scripts/bench.sh) makes it the guest init's
//! first command: under `-icount shift=0` the counter runs at 1 GHz, one
//! tick per instruction since reset, so N is the boot's instruction count.
//! Right after the counter it executes `hint #125`, a NOP for the
//! architecture and the marker of scripts/profile/marks.c, the QEMU plugin
//! with which `bench.sh --virtio` counts the instructions between two runs
//! of this program where the counter would also count idle time.
//! A static Linux program without libc: two raw system calls (`svc #0`),
//! built with `--target aarch64-unknown-none` and its own linker script;
//! built for the build machine it is a stub saying so.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
use core::arch::asm;

#[cfg(target_os = "none")]
const SYS_WRITE: u64 = 64;
#[cfg(target_os = "none")]
const SYS_EXIT: u64 = 93;

/// The build machine's stand-in: says how to build the real program.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "zxv-ticks is a static aarch64 Linux program: build it with `cargo build -p zxv-ticks --release --target aarch64-unknown-none`"
    );
    std::process::exit(1);
}

/// Formats `ticks {n}\n` into `buf`; returns the length used.
#[cfg(target_os = "none")]
fn format(n: u64, buf: &mut [u8; 32]) -> usize {
    let prefix = b"ticks ";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 20];
    let (mut v, mut count) = (n, 0);
    loop {
        digits[count] = b'0' + (v % 10) as u8;
        count += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..count {
        buf[prefix.len() + i] = digits[count - 1 - i];
    }
    buf[prefix.len() + count] = b'\n';
    prefix.len() + count + 1
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn _start() -> ! {
    let ticks: u64;
    // SAFETY: Linux lets EL0 read the virtual counter (CNTKCTL_EL1.EL0VCTEN);
    // hint #125 is a NOP.
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", "hint #125", out(reg) ticks, options(nomem, nostack))
    };
    let mut buf = [0u8; 32];
    let len = format(ticks, &mut buf);
    // SAFETY: write(1, buf, len) only reads `len` bytes of `buf`; exit(0)
    // does not return.
    unsafe {
        asm!("svc #0", inlateout("x0") 1u64 => _, in("x1") buf.as_ptr(), in("x2") len,
             in("x8") SYS_WRITE, options(nostack));
        asm!("svc #0", in("x0") 0u64, in("x8") SYS_EXIT, options(noreturn, nostack));
    }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: exit(1) does not return.
    unsafe { asm!("svc #0", in("x0") 1u64, in("x8") SYS_EXIT, options(noreturn, nostack)) }
}
