//! A guest's vCPUs. Its vCPU i is the run queues' vCPU `first_vcpu + i`
//! (vm.rs), created on and run by physical CPU `(first_vcpu + i) mod N`
//! (`sched::cpu_of`; the first guest's vCPU 0 on the boot CPU), because a vCPU
//! belongs to the CPU that creates it; it is created there when the guest
//! starts it with PSCI CPU_ON (or at boot), and entered in turns that hand
//! each exit to the devices, until it turns off or its guest ends (then it
//! is closed at its next turn; stop.rs). Each CPU's loop (`runqueues.rs`)
//! decides whose turn it is.
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
use crate::vm::GuestVm;
use crate::{runqueues, ticks};
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

impl Slot {
    const fn new() -> Self {
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
    }

    fn handle(&self) -> Handle {
        Handle::from_raw(self.handle.load(Ordering::SeqCst))
    }
}

/// One guest's vCPUs.
pub struct Vcpus {
    slots: [Slot; MAX_VCPUS_PER_GUEST],
    /// Held while vCPUs are created or closed (never across zx_vcpu_enter),
    /// so that a slot's handle is non-zero exactly while the monitor's slot
    /// of that number is taken.
    creation: spin::Mutex<()>,
    /// vCPUs on or starting (counted from their claim on); the guest is
    /// over when the last one turns off.
    on: AtomicUsize,
    /// The monitor's exit counts of vCPUs that turned off.
    off_exits: spin::Mutex<VcpuExits>,
    dropped_interrupt: AtomicBool,
}

impl Vcpus {
    pub const fn new() -> Self {
        Vcpus {
            slots: [const { Slot::new() }; MAX_VCPUS_PER_GUEST],
            creation: spin::Mutex::new(()),
            on: AtomicUsize::new(0),
            off_exits: spin::Mutex::new(VcpuExits {
                counts: [0; ExitKind::COUNT],
            }),
            dropped_interrupt: AtomicBool::new(false),
        }
    }
}

/// Marks guest `g`'s vCPU 0 to start at its entry with x0 = its DTB, in
/// its CPU's run queue.
pub fn boot(g: &'static GuestVm) {
    if claim(g, 0, g.guest.entry, g.guest.dtb) {
        runqueues::add(g.first_vcpu);
    }
}

/// Takes vCPU `index` from OFF to STARTING at `entry` with `x0`; false if
/// it is not off or its guest is ending. It counts as on from its claim, so
/// the guest is not over while its CPU has yet to create it, and its entry
/// is stored before anyone can see it STARTING.
fn claim(g: &GuestVm, index: usize, entry: u64, x0: u64) -> bool {
    let slot = &g.vcpus.slots[index];
    if g.life.is_ending()
        || slot
            .state
            .compare_exchange(OFF, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return false;
    }
    g.vcpus.on.fetch_add(1, Ordering::SeqCst);
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
    /// PSCI CPU_OFF, or its guest is ending: to be taken out of its run
    /// queue, then [`turn_off`].
    Off,
}

/// A turn of guest `g`'s vCPU `index` on this, its CPU: created first if
/// it is starting; `yield_wfi` when another vCPU is ready to run here.
pub fn turn(g: &'static GuestVm, index: usize, yield_wfi: bool) -> Ended {
    if g.life.is_ending() {
        return Ended::Off;
    }
    let slot = &g.vcpus.slots[index];
    let vcpu = match slot.handle() {
        h if h.is_valid() => h,
        _ => start(g, index),
    };
    if slot.yield_wfi.load(Ordering::Relaxed) != yield_wfi {
        if let Err(s) = client::vcpu_write_wfi_yield(vcpu, yield_wfi) {
            stop::fail(err!("setting vCPU {index}'s WFI to yield={yield_wfi}: {s}"));
        }
        slot.yield_wfi.store(yield_wfi, Ordering::Relaxed);
    }
    slot.waiting.store(false, Ordering::SeqCst);
    let mut packet = PortPacket::default();
    loop {
        if g.life.is_ending() {
            return Ended::Off;
        }
        let injected = slot.injected.load(Ordering::SeqCst);
        let ended = match enter_once(vcpu, &mut packet) {
            Ok(()) => {
                exit(g, index, vcpu, &packet);
                continue;
            }
            Err(Status::INTERNAL_INTR_RETRY) => {
                slot.exits.count(VmmExit::HostInterrupt);
                ticks::tend();
                continue;
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
            Err(Status::UNAVAILABLE) => Stop::SystemOff(index),
            Err(Status::CANCELED) => Stop::SystemReset(index),
            Err(s) => Stop::Failed(err!(
                "zx_vcpu_enter of vCPU {index} returned {s}{}",
                hint(s)
            )),
        };
        stop::guest(g, ended);
        return Ended::Off;
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
        stop::fail(err!("zx_vcpu_read_state of vCPU {index}: {s}"));
    }
    state.x[0] == u64::from(psci::SYSTEM_RESET)
}

/// After a turn ended with [`Ended::Waiting`] (under its CPU's lock): marks
/// vCPU `index` waiting, so that an interrupt wakes it; false if one came
/// since `injected`, or its guest is ending, and it must not wait.
pub fn begin_waiting(g: &GuestVm, index: usize, injected: u64) -> bool {
    let slot = &g.vcpus.slots[index];
    slot.waiting.store(true, Ordering::SeqCst);
    if slot.injected.load(Ordering::SeqCst) != injected || g.life.is_ending() {
        slot.waiting.store(false, Ordering::SeqCst);
        return false;
    }
    true
}

/// Ends waiting for vCPU `index` (under its CPU's lock); whether it was.
pub fn end_waiting(g: &GuestVm, index: usize) -> bool {
    g.vcpus.slots[index].waiting.swap(false, Ordering::SeqCst)
}

/// Ends the turn of vCPU `index` (its CPU's current one) with a kick, if it
/// exists yet; one not created yet is looked at again on the next tick.
pub fn preempt(g: &GuestVm, index: usize) {
    let handle = g.vcpus.slots[index].handle();
    if handle.is_valid() {
        if let Err(s) = client::vcpu_kick(handle) {
            report!(
                "vmm: guest {}: zx_vcpu_kick(vCPU {index}): {s}",
                g.config.name
            );
        }
    }
}

/// Once guest `g` is ending: every vCPU of it that runs is kicked and every
/// one that waits is woken, so that each comes to its next turn, where it
/// is closed.
pub fn stop_all(g: &GuestVm) {
    for (index, slot) in g.vcpus.slots.iter().enumerate() {
        if slot.state.load(Ordering::SeqCst) == OFF {
            continue;
        }
        preempt(g, index);
        if slot.waiting.load(Ordering::SeqCst) {
            runqueues::wake(g.first_vcpu + index);
        }
    }
}

/// Creates the starting vCPU `index` on this CPU and makes it ready to enter.
fn start(g: &GuestVm, index: usize) -> Handle {
    let slot = &g.vcpus.slots[index];
    let vcpu = create(g, index, slot.entry.load(Ordering::SeqCst));
    let x0 = slot.x0.load(Ordering::SeqCst);
    if x0 != 0 {
        let mut state = VcpuState::default();
        state.x[0] = x0;
        if let Err(s) = client::vcpu_write_state(vcpu, &state) {
            stop::fail(err!("zx_vcpu_write_state for vCPU {index}: {s}"));
        }
    }
    // The monitor keeps the timer PPIs' state: start it from the model's
    // enables (a new vCPU's bank is as the guest left it, or reset).
    give_timer_enables(g, vcpu, index, g.devices.timer_enables(index));
    slot.yield_wfi.store(false, Ordering::Relaxed);
    slot.waiting.store(false, Ordering::SeqCst);
    slot.state.store(ON, Ordering::SeqCst);
    vcpu
}

/// Creates vCPU `index` at `entry` so that the monitor numbers it `index`:
/// throw-away vCPUs take the free slots below it first.
fn create(g: &GuestVm, index: usize, entry: u64) -> Handle {
    let create_one = |what: &str| {
        client::vcpu_create(g.guest.handle, 0, entry)
            .unwrap_or_else(|s| stop::fail(err!("zx_vcpu_create {what} vCPU {index}: {s}")))
    };
    let _creating = g.vcpus.creation.lock();
    let free_below = g.vcpus.slots[..index]
        .iter()
        .filter(|s| s.handle.load(Ordering::SeqCst) == 0);
    let fillers: ArrayVec<Handle, MAX_VCPUS_PER_GUEST> = free_below
        .map(|_| create_one("to fill a slot below"))
        .collect();
    let vcpu = create_one("for");
    g.vcpus.slots[index]
        .handle
        .store(vcpu.raw(), Ordering::SeqCst);
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

/// Once vCPU `index` is out of its run queue after PSCI CPU_OFF or with its
/// guest ending: it is closed (if it was created) and its slot is free; the
/// guest is over once no vCPU is on.
pub fn turn_off(g: &'static GuestVm, index: usize) {
    let slot = &g.vcpus.slots[index];
    let vcpu = slot.handle();
    if vcpu.is_valid() {
        if !g.life.is_ending() {
            report!(
                "vmm: guest {}: vCPU {index} turned itself off (CPU_OFF)",
                g.config.name
            );
        }
        if let Ok(exits) = client::object_get_info_vcpu_exits(vcpu) {
            let mut off = g.vcpus.off_exits.lock();
            for (sum, n) in off.counts.iter_mut().zip(exits.counts) {
                *sum += n;
            }
        }
        let _closing = g.vcpus.creation.lock();
        slot.handle.store(0, Ordering::SeqCst);
        let _ = client::handle_close(vcpu);
    }
    slot.waiting.store(false, Ordering::SeqCst);
    slot.state.store(OFF, Ordering::SeqCst);
    if g.vcpus.on.fetch_sub(1, Ordering::SeqCst) == 1 {
        stop::all_off(g);
    }
}

/// One exit of guest `g`'s vCPU `index` that came back with a packet.
fn exit(g: &GuestVm, index: usize, vcpu: Handle, packet: &PortPacket) {
    let exits = &g.vcpus.slots[index].exits;
    match packet.type_ {
        PKT_TYPE_GUEST_MEM => {
            let mem = packet.guest_mem();
            let Some(region) = g.guest.map.by_key(packet.key) else {
                stop::fail(err!("a MEM packet with unknown key {}", packet.key));
            };
            exits.count(VmmExit::Mem(region.device));
            let value = g.devices.access(index, region, &mem);
            g.devices.hand_over();
            if mem.read() {
                if let Err(s) = client::vcpu_write_io(vcpu, &VcpuIo::new(mem.access_size, value)) {
                    stop::fail(err!("completing a read at {:#x}: {s}", mem.addr));
                }
            }
        }
        PKT_TYPE_GUEST_VCPU => {
            let request = packet.guest_vcpu();
            match request.type_ {
                PKT_GUEST_VCPU_STARTUP => {
                    exits.count(VmmExit::CpuOn);
                    cpu_on(g, index, request.startup_id(), request.startup_entry());
                }
                PKT_GUEST_VCPU_INTERRUPT => {
                    exits.count(VmmExit::Sgi);
                    let vector = u32::from(request.interrupt_vector());
                    g.devices.sgi(index, request.interrupt_mask(), vector);
                }
                t => stop::fail(err!("a GUEST_VCPU packet of unknown type {t}")),
            }
        }
        t => stop::fail(err!("a packet of unexpected type {t:#x}")),
    }
}

/// PSCI CPU_ON from guest `g`'s vCPU `from` for its vCPU with MPIDR `mpidr`.
fn cpu_on(g: &GuestVm, from: usize, mpidr: u64, entry: u64) {
    let name = g.config.name;
    let index = (mpidr & 0xff) as usize;
    if mpidr & !0xff != 0 || index >= g.config.cpus {
        report!("vmm: guest {name}: vCPU {from} asked to start MPIDR {mpidr:#x}, which is no vCPU (ignored)");
        return;
    }
    if !claim(g, index, entry, 0) {
        if !g.life.is_ending() {
            report!(
                "vmm: guest {name}: vCPU {from} asked to start vCPU {index}, which is on (ignored)"
            );
        }
        return;
    }
    runqueues::add(g.first_vcpu + index);
}

/// Tells the monitor which timer PPIs vCPU `index` (`vcpu`, run by this
/// CPU) has enabled at its GIC.
fn give_timer_enables(g: &GuestVm, vcpu: Handle, index: usize, enables: u32) {
    if let Err(s) = client::vcpu_write_timer_enables(vcpu, enables) {
        stop::fail(err!(
            "giving vCPU {index}'s timer PPI enables to the monitor: {s}"
        ));
    }
    g.vcpus.slots[index]
        .timer_enables
        .store(enables, Ordering::Relaxed);
}

/// After a GIC access by guest `g`'s vCPU `index` on its own CPU: passes a
/// change of its timer PPI enables to the monitor.
pub fn timer_enables_changed(g: &GuestVm, index: usize, enables: u32) {
    let slot = &g.vcpus.slots[index];
    if slot.timer_enables.load(Ordering::Relaxed) != enables {
        give_timer_enables(g, slot.handle(), index, enables);
    }
}

/// The timer PPIs' pending and active bits of guest `g`'s vCPU `index`
/// (run by this CPU), from the monitor, for the guest's view of its GIC.
pub fn timer_status(g: &GuestVm, index: usize) -> TimerPpis {
    client::vcpu_read_timer_ppis(g.vcpus.slots[index].handle()).unwrap_or_else(|s| {
        stop::fail(err!(
            "reading vCPU {index}'s timer PPIs from the monitor: {s}"
        ))
    })
}

/// Injects `intid` into guest `g`'s vCPU `index` (from any CPU).
pub fn interrupt(g: &GuestVm, index: usize, intid: u32) {
    let Some(slot) = g.vcpus.slots.get(index) else {
        return;
    };
    let handle = slot.handle();
    if !handle.is_valid() {
        if !g.vcpus.dropped_interrupt.swap(true, Ordering::Relaxed) && !g.life.is_ending() {
            report!(
                "vmm: guest {}: INTID {intid} for vCPU {index}, which is not on, dropped (reported once)",
                g.config.name
            );
        }
        return;
    }
    if let Err(s) = client::vcpu_interrupt(handle, intid) {
        report!(
            "vmm: guest {}: zx_vcpu_interrupt(vCPU {index}, {intid}): {s}",
            g.config.name
        );
    }
    slot.injected.fetch_add(1, Ordering::SeqCst);
    if slot.waiting.load(Ordering::SeqCst) {
        runqueues::wake(g.first_vcpu + index);
    }
}

/// Guest `g`'s exits so far, those of vCPUs already off included.
pub fn exit_summary(g: &GuestVm) -> Summary {
    let mut summary = Summary::default();
    summary.add_monitor(&g.vcpus.off_exits.lock());
    for slot in &g.vcpus.slots {
        summary.add_vmm(&slot.exits);
        let handle = slot.handle();
        if handle.is_valid() {
            if let Ok(exits) = client::object_get_info_vcpu_exits(handle) {
                summary.add_monitor(&exits);
            }
        }
    }
    summary
}
