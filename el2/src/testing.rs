//! A booted monitor for the build machine's tests: the boot facts of QEMU
//! virt with GICv3 and 4 CPUs (from its DTB), a heap, and host RAM that
//! tests take buffers from. Each test thread is a CPU 0 of its own (the
//! fakes of arch::sysreg are per thread); the heap, the handle table and
//! the boot facts are shared, as on the target.

use crate::mm::heap;
use crate::mm::mmu::HostStage2;
use crate::mm::range::Range;
use crate::platform::system::{self, System};
use crate::platform::vgic::{Vgic, V3};
use crate::platform::Platform;
use std::sync::{Mutex, Once};

const DTB: &[u8] = include_bytes!("../testdata/virt-gicv3-smp4.dtb");
const HEAP_SIZE: usize = 8 << 20;
const HOST_RAM_SIZE: usize = 1 << 20;

static BOOT: Once = Once::new();
/// The host RAM not yet handed to a test: `(next, end)`.
static HOST_RAM: Mutex<(u64, u64)> = Mutex::new((0, 0));

/// Boots the fake monitor (once per process) and returns its boot facts.
pub fn boot() -> &'static System {
    BOOT.call_once(|| {
        let memory: &'static mut [u8] = Vec::leak(vec![0; HEAP_SIZE]);
        heap::init(memory.as_mut_ptr() as u64, HEAP_SIZE as u64);
        let host: &'static mut [u8] = Vec::leak(vec![0; HOST_RAM_SIZE]);
        let host = Range::new(host.as_mut_ptr() as u64, HOST_RAM_SIZE as u64);
        *HOST_RAM.lock().unwrap() = (host.base, host.end());
        let platform = Platform::parse(DTB, 0).expect("QEMU's DTB parses");
        let mut host_ram = arrayvec::ArrayVec::new();
        host_ram.push(host);
        system::init(System {
            platform,
            monitor: Range::new(0x7e20_0000, 30 << 20),
            host_ram,
            host_stage2: HostStage2 { root: 0, vtcr: 0 },
            list_registers: 4,
            vgic: Some(Vgic::V3(V3 { num_lrs: 4 })),
        });
    });
    system::get()
}

/// `len` zeroed bytes of host RAM (8-byte aligned), for a call's buffer.
pub fn host_buffer(len: usize) -> &'static mut [u8] {
    boot();
    let mut ram = HOST_RAM.lock().unwrap();
    let base = ram.0;
    ram.0 = (base + len as u64).next_multiple_of(8);
    assert!(ram.0 <= ram.1, "the tests' host RAM is used up");
    // SAFETY: the range is part of the leaked host RAM above, handed out
    // once.
    unsafe { core::slice::from_raw_parts_mut(base as *mut u8, len) }
}
