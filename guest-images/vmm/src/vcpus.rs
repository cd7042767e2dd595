//! The guest's vCPUs. vCPU i is created on, and runs on, physical CPU
//! i mod N (vCPU 0 on the boot CPU, `sched::cpu_of`), because a vCPU
//! belongs to the CPU that creates it; it is created there when the guest
//! starts it with PSCI CPU_ON (or at boot), and entered in turns that hand
//! each exit to the devices, until it turns off or the guest ends. Each
//! CPU's loop (`runqueues.rs`) decides whose turn it is.
//!
//! The monitor gives a new vCPU the lowest free slot of its guest as its
//! number (VMPIDR Aff0), and a vCPU's slot is freed when it is closed on
//! CPU_OFF. So vCPU i is created with every free slot below i filled by a
//! throw-away vCPU (never entered, closed right after), under a lock that
//! also covers closing vCPUs: the VMM's own handles then say which slots
//! are taken.

use crate::enter::enter_once;
use crate::exit_counts::{ExitCounts, Summary, VmmExit};
use crate::sched::NEVER;
use crate::stop::{self, Stop};
use crate::{runqueues, ticks, vm};
use arrayvec::ArrayVec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use syscalls::client;
use syscalls::exit_counts::{ExitKind, VcpuExits};
use syscalls::hypervisor::{TimerPpis, VcpuIo, VcpuState, MAX_VCPUS_PER_GUEST};
use syscalls::port::{
    PortPacket, PKT_GUEST_VCPU_INTERRUPT, PKT_GUEST_VCPU_STARTUP, PKT_TYPE_GUEST_MEM,
    PKT_TYPE_GUEST_VCPU,
};
use syscalls::{psci, Handle, Status};

const OFF: u32 = 0;
/// Taken for starting (CPU_ON or boot); its entry is not stored yet.
const CLAIMED: u32 = 1;
/// Its entry is stored; its CPU has not created it yet.
const STARTING: u32 = 2;
const ON: u32 = 3;

struct Slot {
    state: AtomicU32,
    handle: AtomicU32,
    entry: AtomicU64,
    /// x0 at entry: the DTB for vCPU 0's first boot, else 0 (the monitor's
    /// STARTUP packet carries no CPU_ON context id).
    x0: AtomicU64,
    exits: ExitCounts,
    /// The timer PPI enables last given to the monitor for this vCPU.
    timer_enables: AtomicU32,
    /// Whether its WFI gives the CPU back (ZXV_VCPU_WFI), as last told to
    /// the monitor.
    yield_wfi: AtomicBool,
    /// It waits in WFI, in no run queue, until an interrupt or its timer.
    waiting: AtomicBool,
    /// Interrupts injected so far: one that came after the enter that
    /// returned SHOULD_WAIT began means it must not wait.
    injected: AtomicU64,
}

static SLOTS: [Slot; MAX_VCPUS_PER_GUEST] = [const {
    Slot {
        state: AtomicU32::new(OFF),
        handle: AtomicU32::new(0),
        entry: AtomicU64::new(0),
        x0: AtomicU64::new(0),
        exits: ExitCounts::new(),
        timer_enables: AtomicU32::new(0),
        yield_wfi: AtomicBool::new(false),
        waiting: AtomicBool::new(false),
        injected: AtomicU64::new(0),
    }
}; MAX_VCPUS_PER_GUEST];

/// Held while vCPUs are created or closed (never across zx_vcpu_enter), so
/// that a slot's handle is non-zero exactly while the monitor's slot of
/// that number is taken.
static CREATION: spin::Mutex<()> = spin::Mutex::new(());
/// vCPUs on or starting (counted from their claim on); the guest is over
/// when the last one turns off.
static ON_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The monitor's exit counts of vCPUs that turned off.
static OFF_EXITS: spin::Mutex<VcpuExits> = spin::Mutex::new(VcpuExits {
    counts: [0; ExitKind::COUNT],
});
static DROPPED_INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Marks vCPU 0 to start at `entry` on the boot CPU with x0 = `dtb`.
pub fn boot(entry: u64, dtb: u64) {
    if claim(0, entry, dtb) {
        runqueues::add(0);
    }
}

/// Takes vCPU `index` from OFF to STARTING at `entry` with `x0`; false if
/// it is not off. It counts as on from its claim, so the guest is not over while its
/// CPU has yet to create it, and its entry is stored before anyone can see
/// it STARTING.
fn claim(index: usize, entry: u64, x0: u64) -> bool {
    let slot = &SLOTS[index];
    if slot
        .state
        .compare_exchange(OFF, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return false;
    }
    ON_COUNT.fetch_add(1, Ordering::SeqCst);
    slot.entry.store(entry, Ordering::SeqCst);
    slot.x0.store(x0, Ordering::SeqCst);
    slot.state.store(STARTING, Ordering::SeqCst);
    true
}

/// How a vCPU's turn on its CPU ended.
pub enum Ended {
    /// Its CPU's loop kicked it: another vCPU's turn.
    Preempted,
    /// It waits in WFI until `deadline` (the counter, or [`NEVER`]), unless
    /// an interrupt was injected since `injected` was read.
    Waiting { deadline: u64, injected: u64 },
    /// PSCI CPU_OFF: to be taken out of its run queue, then [`turn_off`].
    Off,
}

/// A turn of vCPU `index` on this, its CPU: created first if it is
/// starting; `yield_wfi` when another vCPU is ready to run here.
pub fn turn(index: usize, yield_wfi: bool) -> Ended {
    let slot = &SLOTS[index];
    let vcpu = match Handle::from_raw(slot.handle.load(Ordering::SeqCst)) {
        h if h.is_valid() => h,
        _ => start(index),
    };
    if slot.yield_wfi.load(Ordering::Relaxed) != yield_wfi {
        if let Err(s) = client::vcpu_write_wfi_yield(vcpu, yield_wfi) {
            stop::end(Stop::Failed(err!(
                "setting vCPU {index}'s WFI to yield={yield_wfi}: {s}"
            )));
        }
        slot.yield_wfi.store(yield_wfi, Ordering::Relaxed);
    }
    slot.waiting.store(false, Ordering::SeqCst);
    let mut packet = PortPacket::default();
    loop {
        let injected = slot.injected.load(Ordering::SeqCst);
        match enter_once(vcpu, &mut packet) {
            Ok(()) => exit(index, vcpu, &packet),
            Err(Status::INTERNAL_INTR_RETRY) => {
                slot.exits.count(VmmExit::HostInterrupt);
                ticks::tend();
            }
            Err(Status::CANCELED) if !resets(index, vcpu) => {
                slot.exits.count(VmmExit::Preempted);
                return Ended::Preempted;
            }
            Err(Status::SHOULD_WAIT) => {
                slot.exits.count(VmmExit::Wait);
                let deadline = client::vcpu_read_wfi(vcpu).map_or(NEVER, |w| w.deadline);
                return Ended::Waiting { deadline, injected };
            }
            Err(Status::STOP) => return Ended::Off,
            Err(Status::UNAVAILABLE) => stop::end(Stop::SystemOff(index)),
            Err(Status::CANCELED) => stop::end(Stop::SystemReset(index)),
            Err(s) => stop::end(Stop::Failed(err!(
                "zx_vcpu_enter of vCPU {index} returned {s}{}",
                hint(s)
            ))),
        }
    }
}

/// After `zx_vcpu_enter` of vCPU `index` (`vcpu`) returned CANCELED:
/// whether for the guest's PSCI SYSTEM_RESET rather than a kick. The
/// monitor leaves the call's x0, the function ID, as it is; a kick stops
/// the guest anywhere else. Kicks come from several CPUs and collapse in
/// the monitor, so counting them could not tell.
fn resets(index: usize, vcpu: Handle) -> bool {
    let mut state = VcpuState::default();
    if let Err(s) = client::vcpu_read_state(vcpu, &mut state) {
        stop::end(Stop::Failed(err!(
            "zx_vcpu_read_state of vCPU {index}: {s}"
        )));
    }
    state.x[0] == u64::from(psci::SYSTEM_RESET)
}

/// After a turn ended with [`Ended::Waiting`] (under its CPU's lock): marks
/// vCPU `index` waiting, so that an interrupt wakes it; false if one came
/// since `injected`, and it must not wait.
pub fn begin_waiting(index: usize, injected: u64) -> bool {
    let slot = &SLOTS[index];
    slot.waiting.store(true, Ordering::SeqCst);
    if slot.injected.load(Ordering::SeqCst) != injected {
        slot.waiting.store(false, Ordering::SeqCst);
        return false;
    }
    true
}

/// Ends waiting for vCPU `index` (under its CPU's lock); whether it was.
pub fn end_waiting(index: usize) -> bool {
    SLOTS[index].waiting.swap(false, Ordering::SeqCst)
}

/// Ends the turn of vCPU `index` (its CPU's current one) with a kick, if it
/// exists yet; one not created yet is looked at again on the next tick.
pub fn preempt(index: usize) {
    let slot = &SLOTS[index];
    let handle = Handle::from_raw(slot.handle.load(Ordering::SeqCst));
    if handle.is_valid() {
        if let Err(s) = client::vcpu_kick(handle) {
            report!("vmm: guest {}: zx_vcpu_kick(vCPU {index}): {s}", vm::name());
        }
    }
}

/// Creates the starting vCPU `index` on this CPU and makes it ready to enter.
fn start(index: usize) -> Handle {
    let slot = &SLOTS[index];
    let vcpu = create(index, slot.entry.load(Ordering::SeqCst));
    let x0 = slot.x0.load(Ordering::SeqCst);
    if x0 != 0 {
        let mut state = VcpuState::default();
        state.x[0] = x0;
        if let Err(s) = client::vcpu_write_state(vcpu, &state) {
            stop::end(Stop::Failed(err!(
                "zx_vcpu_write_state for vCPU {index}: {s}"
            )));
        }
    }
    // The monitor keeps the timer PPIs' state: start it from the model's
    // enables (a new vCPU's bank is as the guest left it, or reset).
    let enables = vm::get().devices.timer_enables(index);
    give_timer_enables(vcpu, index, enables);
    slot.yield_wfi.store(false, Ordering::Relaxed);
    slot.waiting.store(false, Ordering::SeqCst);
    slot.state.store(ON, Ordering::SeqCst);
    vcpu
}

/// Creates vCPU `index` at `entry` so that the monitor numbers it `index`:
/// throw-away vCPUs take the free slots below it first.
fn create(index: usize, entry: u64) -> Handle {
    let guest = vm::get().guest.handle;
    let create_one = |what: &str| {
        client::vcpu_create(guest, 0, entry).unwrap_or_else(|s| {
            stop::end(Stop::Failed(err!(
                "zx_vcpu_create {what} vCPU {index}: {s}"
            )))
        })
    };
    let _creating = CREATION.lock();
    let free_below = SLOTS[..index]
        .iter()
        .filter(|s| s.handle.load(Ordering::SeqCst) == 0);
    let fillers: ArrayVec<Handle, MAX_VCPUS_PER_GUEST> = free_below
        .map(|_| create_one("to fill a slot below"))
        .collect();
    let vcpu = create_one("for");
    SLOTS[index].handle.store(vcpu.raw(), Ordering::SeqCst);
    for filler in fillers {
        let _ = client::handle_close(filler);
    }
    vcpu
}

fn hint(s: Status) -> &'static str {
    match s {
        Status::NOT_SUPPORTED => {
            ": an exit the monitor cannot handle (its log line above says which)"
        }
        Status::NOT_FOUND => {
            ": an access beyond the guest's 64 GiB IPA space, or an exception loop (the monitor \
             logged the address and the guest's registers)"
        }
        Status::IO_DATA_INTEGRITY => {
            ": a device access without a valid syndrome (e.g. LDP/STP to MMIO)"
        }
        _ => "",
    }
}

/// PSCI CPU_OFF, once vCPU `index` is out of its run queue: it is closed
/// and its slot is free; the guest is over once no vCPU is on.
pub fn turn_off(index: usize) {
    let vm = vm::get();
    let vcpu = Handle::from_raw(SLOTS[index].handle.load(Ordering::SeqCst));
    report!(
        "vmm: guest {}: vCPU {index} turned itself off (CPU_OFF)",
        vm.config.name
    );
    if let Ok(exits) = client::object_get_info_vcpu_exits(vcpu) {
        let mut off = OFF_EXITS.lock();
        for (sum, n) in off.counts.iter_mut().zip(exits.counts) {
            *sum += n;
        }
    }
    let slot = &SLOTS[index];
    {
        let _closing = CREATION.lock();
        slot.handle.store(0, Ordering::SeqCst);
        let _ = client::handle_close(vcpu);
    }
    slot.state.store(OFF, Ordering::SeqCst);
    if ON_COUNT.fetch_sub(1, Ordering::SeqCst) == 1 {
        stop::end(Stop::AllOff);
    }
}

/// One exit that came back to the VMM with a packet.
fn exit(index: usize, vcpu: Handle, packet: &PortPacket) {
    let vm = vm::get();
    let exits = &SLOTS[index].exits;
    match packet.type_ {
        PKT_TYPE_GUEST_MEM => {
            let mem = packet.guest_mem();
            let Some(region) = vm.guest.map.by_key(packet.key) else {
                stop::end(Stop::Failed(err!(
                    "a MEM packet with unknown key {}",
                    packet.key
                )));
            };
            exits.count(VmmExit::Mem(region.device));
            let value = vm.devices.access(index, region, &mem);
            if mem.read() {
                if let Err(s) = client::vcpu_write_io(vcpu, &VcpuIo::new(mem.access_size, value)) {
                    stop::end(Stop::Failed(err!(
                        "completing a read at {:#x}: {s}",
                        mem.addr
                    )));
                }
            }
        }
        PKT_TYPE_GUEST_VCPU => {
            let request = packet.guest_vcpu();
            match request.type_ {
                PKT_GUEST_VCPU_STARTUP => {
                    exits.count(VmmExit::CpuOn);
                    cpu_on(index, request.startup_id(), request.startup_entry());
                }
                PKT_GUEST_VCPU_INTERRUPT => {
                    exits.count(VmmExit::Sgi);
                    let vector = u32::from(request.interrupt_vector());
                    vm.devices.sgi(index, request.interrupt_mask(), vector);
                }
                t => stop::end(Stop::Failed(err!(
                    "a GUEST_VCPU packet of unknown type {t}"
                ))),
            }
        }
        t => stop::end(Stop::Failed(err!("a packet of unexpected type {t:#x}"))),
    }
}

/// PSCI CPU_ON from vCPU `from` for the vCPU with MPIDR `mpidr`.
fn cpu_on(from: usize, mpidr: u64, entry: u64) {
    let vm = vm::get();
    let name = vm.config.name;
    let index = (mpidr & 0xff) as usize;
    if mpidr & !0xff != 0 || index >= vm.config.cpus {
        report!("vmm: guest {name}: vCPU {from} asked to start MPIDR {mpidr:#x}, which is no vCPU (ignored)");
        return;
    }
    if !claim(index, entry, 0) {
        report!(
            "vmm: guest {name}: vCPU {from} asked to start vCPU {index}, which is on (ignored)"
        );
        return;
    }
    runqueues::add(index);
}

/// Tells the monitor which timer PPIs vCPU `index` (`vcpu`, run by this
/// CPU) has enabled at its GIC.
fn give_timer_enables(vcpu: Handle, index: usize, enables: u32) {
    if let Err(s) = client::vcpu_write_timer_enables(vcpu, enables) {
        stop::end(Stop::Failed(err!(
            "giving vCPU {index}'s timer PPI enables to the monitor: {s}"
        )));
    }
    SLOTS[index].timer_enables.store(enables, Ordering::Relaxed);
}

/// After a GIC access by vCPU `index` on its own CPU: passes a change of
/// its timer PPI enables to the monitor.
pub fn timer_enables_changed(index: usize, enables: u32) {
    let slot = &SLOTS[index];
    if slot.timer_enables.load(Ordering::Relaxed) != enables {
        give_timer_enables(
            Handle::from_raw(slot.handle.load(Ordering::SeqCst)),
            index,
            enables,
        );
    }
}

/// The timer PPIs' pending and active bits of vCPU `index` (run by this
/// CPU), from the monitor, for the guest's view of its GIC.
pub fn timer_status(index: usize) -> TimerPpis {
    let handle = Handle::from_raw(SLOTS[index].handle.load(Ordering::SeqCst));
    client::vcpu_read_timer_ppis(handle).unwrap_or_else(|s| {
        stop::end(Stop::Failed(err!(
            "reading vCPU {index}'s timer PPIs from the monitor: {s}"
        )))
    })
}

/// Injects `intid` into vCPU `index` (from any CPU).
pub fn interrupt(index: usize, intid: u32) {
    let handle = SLOTS
        .get(index)
        .map_or(0, |s| s.handle.load(Ordering::SeqCst));
    if handle == 0 {
        if !DROPPED_INTERRUPT.swap(true, Ordering::Relaxed) {
            report!(
                "vmm: guest {}: INTID {intid} for vCPU {index}, which is not on, dropped (reported once)",
                vm::name()
            );
        }
        return;
    }
    if let Err(s) = client::vcpu_interrupt(Handle::from_raw(handle), intid) {
        report!(
            "vmm: guest {}: zx_vcpu_interrupt(vCPU {index}, {intid}): {s}",
            vm::name()
        );
    }
    let slot = &SLOTS[index];
    slot.injected.fetch_add(1, Ordering::SeqCst);
    if slot.waiting.load(Ordering::SeqCst) {
        runqueues::wake(index);
    }
}

/// Every vCPU's exits so far, those of vCPUs already off included.
pub fn exit_summary() -> Summary {
    let mut summary = Summary::default();
    summary.add_monitor(&OFF_EXITS.lock());
    for slot in &SLOTS {
        summary.add_vmm(&slot.exits);
        let handle = Handle::from_raw(slot.handle.load(Ordering::SeqCst));
        if handle.is_valid() {
            if let Ok(exits) = client::object_get_info_vcpu_exits(handle) {
                summary.add_monitor(&exits);
            }
        }
    }
    summary
}
