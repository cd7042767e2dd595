//! Boot, from the first Rust call on the boot CPU to the host's first
//! instruction: plan where the monitor lives, turn the MMU on, build the
//! host's world, and drop to EL1. Secondaries join through `secondary_main`.

use crate::arch;
use crate::arch::el2config;
use crate::boot::{host, placement, spin_table};
use crate::mm::heap;
use crate::mm::mmu::{self, BootTables};
use crate::mm::range::{align_down, align_up, subtract_all, Range};
use crate::objects;
use crate::platform::console::{self, print_unlocked};
use crate::platform::percpu::{self, Power, CPUS};
use crate::platform::system::{self, System};
use crate::platform::{fatal, logger};
use crate::platform::{header_total_size, Conduit, EnableMethod, Platform, MAX_CPUS, MAX_RANGES};
use aarch64_cpu::registers::{CurrentEL, Readable, Writeable, VBAR_EL2};
use alloc::vec::Vec;
use arrayvec::ArrayVec;

const MIB: u64 = 1 << 20;
/// Host RAM just below the monitor where it writes the host's DTB.
pub const HANDOFF_SIZE: u64 = 2 * MIB;
/// Monitor memory from the image start: image, stacks, boot tables, heap.
pub const MONITOR_SIZE: u64 = 30 * MIB;
/// Boot-time translation tables (EL2 stage 1 and host stage 2).
const BOOT_TABLES_SIZE: u64 = MIB;
const LARGEST_DTB: usize = 2 * MIB as usize;

/// The DTB at `pa`, its NOP tokens stripped; None unless it looks like one.
///
/// # Safety
///
/// `pa` must be the address the loader passed in x0, at which the firmware
/// placed the DTB (or 0), identity-mapped or with the MMU off; the monitor
/// owns it until the host runs, and no other reference to it is alive.
unsafe fn dtb_slice(pa: u64) -> Option<&'static [u8]> {
    if pa == 0 || !pa.is_multiple_of(8) {
        return None;
    }
    // SAFETY: as the caller promises; the 8-byte header is read first to
    // learn (and bound) the size of the slice.
    let header = unsafe { &*(pa as *const [u8; 8]) };
    let size = header_total_size(header).filter(|&s| s <= LARGEST_DTB)?;
    // SAFETY: as the caller promises: the firmware placed `size` bytes of
    // DTB there (the monitor copies it before the host runs).
    let blob = unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, size) };
    // Firmware (and QEMU) delete nodes by overwriting them with NOP tokens,
    // which the fdt crate cannot read past.
    dtb::strip_nops(blob);
    Some(blob)
}

fn image_size() -> u64 {
    let layout = arch::image_layout();
    layout.end - layout.start
}

/// Where the image must end up: just above the hand-off area, as high in RAM
/// as fits. Allocation-free: it runs before the heap exists.
fn plan(p: &Platform, load_base: u64) -> Option<u64> {
    let mut avoid: ArrayVec<Range, { MAX_RANGES + 3 }> = p.reserved.iter().copied().collect();
    avoid.extend(
        [p.dtb, Range::new(load_base, image_size())]
            .into_iter()
            .chain(p.initrd),
    );
    placement::highest_fit(&p.memory, &avoid, HANDOFF_SIZE + MONITOR_SIZE, 2 * MIB)
        .map(|b| b + HANDOFF_SIZE)
}

/// Memory the monitor keeps from the host besides its own: the pages of the
/// spin table. A host that could write a CPU's release address (or the
/// firmware's spin loop beside it) would run its code at EL2 on that CPU.
fn firmware_pages(p: &Platform) -> ArrayVec<Range, MAX_CPUS> {
    let mut pages = ArrayVec::<Range, MAX_CPUS>::new();
    for cpu in &p.cpus {
        if let EnableMethod::SpinTable(release) = cpu.enable {
            let page = Range::new(align_down(release, 4096), 4096);
            if !pages.contains(&page) {
                pages.push(page);
            }
        }
    }
    pages
}

fn early_fatal(uart: Option<Range>, msg: core::fmt::Arguments) -> ! {
    console::init(uart.map_or(console::FALLBACK_BASE, |u| u.base));
    print_unlocked(format_args!("\n*** zxvisor: {msg}\n"));
    fatal::stop(1)
}

/// Entered at EL1 or EL3 instead of EL2: say so and stop.
#[no_mangle]
extern "C" fn boot_wrong_el(dtb: u64) -> ! {
    // SAFETY: boot.S passes the loader's x0 through.
    let uart = unsafe { dtb_slice(dtb) }
        .and_then(|d| Platform::parse(d, dtb).ok())
        .and_then(|p| p.uart);
    let el = CurrentEL.get() >> 2;
    early_fatal(
        uart,
        format_args!(
            "entered at EL{el}, not EL2. The monitor needs the virtualization extensions\n    \
             (QEMU: -M virt,virtualization=on; Raspberry Pi: the stock armstub enters at EL2)."
        ),
    )
}

/// Pre-MMU, pre-heap: picks the final base of the image. Must not write
/// statics (boot.S copies the image after this returns). On any problem it
/// answers "stay", and primary_main reports the problem.
#[no_mangle]
extern "C" fn boot_plan(dtb: u64, load_base: u64) -> u64 {
    // SAFETY: boot.S passes the loader's x0 through.
    unsafe { dtb_slice(dtb) }
        .and_then(|d| Platform::parse(d, dtb).ok())
        .and_then(|p| plan(&p, load_base))
        .unwrap_or(load_base)
}

/// The boot CPU, running at its final place with the MMU still off.
#[no_mangle]
extern "C" fn primary_main(dtb: u64, load_base: u64) -> ! {
    percpu::set_current(0);
    // SAFETY: boot.S passes the loader's x0 through; boot_plan's slice of
    // it is gone.
    let Some(blob) = (unsafe { dtb_slice(dtb) }) else {
        early_fatal(
            None,
            format_args!(
                "no valid devicetree at x0 = {dtb:#x} (boot with -kernel or the Pi firmware)"
            ),
        )
    };
    let p = match Platform::parse(blob, dtb) {
        Ok(p) => p,
        Err(e) => early_fatal(
            None,
            format_args!("cannot use the devicetree at {dtb:#x}: {e}"),
        ),
    };
    console::setup(&p);
    let layout = arch::image_layout();
    if plan(&p, load_base) != Some(layout.start) {
        early_fatal(
            p.uart,
            format_args!(
                "no {} MiB of free RAM for the monitor",
                (HANDOFF_SIZE + MONITOR_SIZE) / MIB
            ),
        );
    }
    let monitor = Range::new(layout.start, MONITOR_SIZE);
    let handoff = Range::new(layout.start - HANDOFF_SIZE, HANDOFF_SIZE);
    let tables_area = Range::new(
        align_up(layout.end, 4096).unwrap_or(layout.end),
        BOOT_TABLES_SIZE,
    );
    let mut tables = BootTables::new(tables_area);
    let root = mmu::build_el2(&p, monitor, &layout, &mut tables).unwrap_or_else(|e| {
        early_fatal(
            p.uart,
            format_args!(
                "cannot build the EL2 page tables ({} KiB of boot tables): {e}",
                BOOT_TABLES_SIZE / 1024
            ),
        )
    });
    mmu::enable_el2(root);
    VBAR_EL2.set(arch::vectors_address());
    console::init(p.uart.map_or(console::FALLBACK_BASE, |u| u.base));
    heap::init(tables_area.end(), monitor.end() - tables_area.end());
    logger::init();

    // Keep a private copy of the DTB: the original is host RAM from now on.
    let blob: &'static [u8] = Vec::leak(blob.to_vec());
    let platform = Platform::parse(blob, dtb).expect("the copied DTB parses like the original");
    // Kept from the host: monitor memory, the firmware's spin-table pages
    // and the GICv2 hypervisor interface.
    let mut kept: ArrayVec<Range, { MAX_CPUS + 2 }> = [monitor].into_iter().collect();
    kept.extend(firmware_pages(&platform));
    let memory_kept = kept.len();
    kept.extend(platform.gic.and_then(|g| g.hyp));
    let host_stage2 = mmu::build_host_stage2(&platform, &kept, &mut tables).unwrap_or_else(|e| {
        panic!(
            "cannot build the host stage 2 ({} KiB of boot tables): {e}",
            BOOT_TABLES_SIZE / 1024
        )
    });
    let host_ram = platform
        .memory
        .iter()
        .flat_map(|b| subtract_all::<{ MAX_CPUS + 2 }>(*b, &kept[..memory_kept]))
        .take(MAX_RANGES)
        .collect();
    let vgic = el2config::virtual_interface(&platform);
    let list_registers = vgic.as_ref().map_or(0, |v| v.interface().num_lrs() as u32);
    let sys = system::init(System {
        platform,
        monitor,
        host_ram,
        host_stage2,
        list_registers,
        vgic,
    });
    crate::boot::banner::print(sys, handoff);

    el2config::configure_for_host(sys);
    crate::platform::irq::init_cpu();
    let host = host::prepare(sys, blob, &kept[..memory_kept], handoff).unwrap_or_else(|e| {
        log::error!("cannot start the host: {e}");
        fatal::stop(1)
    });
    let resource = objects::install_hypervisor_resource();
    if sys.platform.psci != Some(Conduit::Smc) {
        spin_table::mark_in_monitor(0);
        spin_table::take_all(&sys.platform, sys.monitor);
    }
    CPUS[0].set_power(Power::On);
    heap::start_quota();
    log::info!(
        "entering the host at {:#x} (DTB at {:#x})",
        host.entry,
        host.dtb
    );
    host::enter(host.entry, host.dtb, resource as u64)
}

/// A secondary CPU started on the host's behalf by PSCI CPU_ON, released
/// from the spin table at boot, or woken from parking, with the MMU on
/// (boot.S). One no CPU_ON asked for (taken at boot) parks.
#[no_mangle]
extern "C" fn secondary_main(cpu: u64) -> ! {
    let cpu = cpu as usize;
    percpu::set_current(cpu);
    VBAR_EL2.set(arch::vectors_address());
    el2config::configure_for_host(system::get());
    crate::platform::irq::init_cpu();
    let slot = &CPUS[cpu];
    if slot.power() == Power::Off {
        spin_table::park(cpu);
    }
    slot.set_power(Power::On);
    host::enter(slot.entry(), slot.context(), 0)
}

/// Entered by `park_cpu` on a fresh stack: waits for the next CPU_ON
/// (`spin_table::wait_for_release`), then joins like a newly started CPU.
#[no_mangle]
extern "C" fn secondary_parked(cpu: u64) -> ! {
    spin_table::wait_for_release(cpu as usize);
    secondary_main(cpu)
}
