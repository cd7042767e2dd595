//! The physical GIC as the monitor uses it: its own interrupts (SGI 15 for
//! cross-CPU kicks, PPI 25 maintenance, the EL2 timer PPI, and the guest's
//! virtual timer PPI while a guest runs), enabled per CPU, recognised and
//! acknowledged when a guest exits on an IRQ, and SGIs sent to other CPUs.
//! Everything else belongs to the host and is left pending for it. Only
//! these few registers are touched, so the host's own GIC configuration is
//! never reset.
//!
//! A kick SGI is sent only to a CPU that runs a vCPU, and at most one is on
//! its way to a CPU at a time ([`kick_cpu`]); a CPU ending a run first stops
//! taking kicks and then waits for the one on its way, if any, and consumes
//! it ([`refuse_kicks`]), so the monitor's SGI never reaches the host.

use crate::arch::insn;
use crate::arch::mmio::Frame;
use crate::arch::sysreg::{
    ICC_CTLR_EL1, ICC_DIR_EL1, ICC_EOIR1_EL1, ICC_HPPIR1_EL1, ICC_IAR1_EL1, ICC_IGRPEN1_EL1,
    ICC_PMR_EL1, ICC_SGI1R_EL1,
};
use crate::mm::range::Range;
use crate::platform::percpu;
use crate::platform::{system, timer};
use crate::platform::{Gic, GicVersion, MAX_CPUS};
use aarch64_cpu::registers::{Readable, MPIDR_EL1};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// The SGI the monitor sends to make another CPU look at its vCPU.
pub const KICK_SGI: u32 = 15;
pub const MAINTENANCE_PPI: u32 = gic::MAINTENANCE_PPI;
pub const VTIMER_PPI: u32 = gic::VIRTUAL_TIMER_PPI;
/// The guest's EL1 physical timer's PPI: only ever virtual (the physical
/// PPI 30 is the host's own timer).
pub const PTIMER_PPI: u32 = gic::PHYSICAL_TIMER_PPI;
const SPURIOUS: u32 = 1023;
/// Redistributor stride (RD_base + SGI_base frames) and SGI_base offset.
const GICR_STRIDE: u64 = 0x2_0000;
const GICR_SGI_BASE: u64 = 0x1_0000;

/// GICv3: each CPU's redistributor SGI_base; GICv2: each CPU's interface mask.
static SGI_FRAME: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static V2_TARGET: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];
/// Each CPU's GICD/GICR_ISENABLER0 for its private interrupts (0: none),
/// found once at boot because the run loop masks and unmasks PPI 27.
static ISENABLER0: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// What [`rearm`] enables: [`monitor_mask`] and the virtual timer's PPI,
/// worked out once by init_cpu (the EL2 timer's PPI is in the platform).
static RUN_ENABLES: AtomicU32 = AtomicU32::new(0);

/// Per CPU: whether it takes kicks, and whether one is on its way to it.
static KICKS: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(REFUSED) }; MAX_CPUS];
/// In the host (or parked): no kick is sent.
const REFUSED: u8 = 0;
/// Running a vCPU: the next kick sends the SGI.
const TAKEN: u8 = 1;
/// Running a vCPU, with a kick SGI sent and not yet acknowledged: further
/// kicks send nothing, that SGI makes the CPU look at them.
const OWED: u8 = 2;
/// How long a CPU ending a run waits for a kick SGI still on its way; only
/// a sender stalled between marking and sending it takes that long, and
/// then a late SGI is consumed at the next run or zx_port_wait.
const KICK_DRAIN_NS: i64 = 20_000_000;

fn gic() -> Option<&'static Gic> {
    system::get().platform.gic.as_ref()
}

fn hyp_timer_ppi() -> u32 {
    system::get().platform.timer.map_or(26, |t| t.hyp)
}

/// The GIC frame (the CPU interface or redistributors, else the
/// distributor) the register at `addr` must be in; its accessors check.
fn frame_of(addr: u64) -> Frame {
    let g = gic().expect("a GIC register without a GIC");
    let cpu = cpu_frame(g);
    if cpu.contains(addr) {
        cpu
    } else {
        distributor(g)
    }
}

/// The GIC's per-CPU frame: the redistributors (GICv3) or the CPU
/// interface, GICC (GICv2), which the run loop and the exit path use.
fn cpu_frame(g: &Gic) -> Frame {
    // SAFETY: mm::mmu::build_el2 maps both frames the DTB names for the GIC
    // as device memory in EL2 stage 1, for good.
    unsafe { Frame::new(g.cpu) }
}

fn distributor(g: &Gic) -> Frame {
    // SAFETY: as in cpu_frame.
    unsafe { Frame::new(g.distributor) }
}

/// GICC registers: control, priority mask, acknowledge, end of interrupt,
/// highest pending, deactivate.
const GICC_CTLR: u64 = 0x0;
const GICC_PMR: u64 = 0x4;
const GICC_IAR: u64 = 0xc;
const GICC_EOIR: u64 = 0x10;
const GICC_HPPIR: u64 = 0x18;
const GICC_DIR: u64 = 0x1000;
/// GICC_CTLR.EOImodeNS: priority drop and deactivation are separate.
const GICC_CTLR_EOI_MODE_NS: u32 = 1 << 9;
/// GICD_SGIR.
const GICD_SGIR: u64 = 0xf00;

fn mmio_read(addr: u64) -> u32 {
    frame_of(addr).read_at(addr)
}

fn mmio_write(addr: u64, value: u32) {
    frame_of(addr).write_at(addr, value)
}

/// Writes GICv3 CPU-interface registers and synchronises the context.
fn icc_set(write: impl FnOnce()) {
    write();
    insn::isb();
}

/// The interrupts the monitor enables on every CPU.
fn monitor_mask() -> u32 {
    (1 << KICK_SGI) | (1 << MAINTENANCE_PPI) | (1 << hyp_timer_ppi())
}

/// Per-CPU set-up at boot: find this CPU's redistributor (GICv3) or
/// interface number (GICv2), turn the distributor on, and enable the
/// monitor's interrupts at the highest priority.
pub fn init_cpu() {
    let Some(g) = gic() else { return };
    let cpu = percpu::current();
    RUN_ENABLES.store(monitor_mask() | 1 << VTIMER_PPI, Ordering::Relaxed);
    match g.version {
        GicVersion::V3 => {
            let ctlr = g.distributor.base;
            // ARE_NS | EnableGrp1NS.
            mmio_write(ctlr, mmio_read(ctlr) | (1 << 4) | (1 << 1));
            let Some(rd) = own_redistributor(g) else {
                return;
            };
            // GICR_WAKER: clear ProcessorSleep, wait for ChildrenAsleep to clear.
            mmio_write(rd + 0x14, mmio_read(rd + 0x14) & !(1 << 1));
            while mmio_read(rd + 0x14) & (1 << 2) != 0 {
                core::hint::spin_loop();
            }
            let sgi = rd + GICR_SGI_BASE;
            SGI_FRAME[cpu].store(sgi, Ordering::Release);
            ISENABLER0[cpu].store(sgi + 0x100, Ordering::Release);
            mmio_write(
                sgi + 0x80,
                mmio_read(sgi + 0x80) | monitor_mask() | (1 << VTIMER_PPI),
            );
            set_priorities(sgi + 0x400);
        }
        GicVersion::V2 => {
            let d = g.distributor.base;
            mmio_write(d, mmio_read(d) | 0b11);
            // GICD_ITARGETSR0 reads back this CPU's own interface mask.
            V2_TARGET[cpu].store(mmio_read(d + 0x800) as u8, Ordering::Release);
            ISENABLER0[cpu].store(d + 0x100, Ordering::Release);
            set_priorities(d + 0x400);
        }
    }
    rearm();
}

fn set_priorities(ipriorityr: u64) {
    for id in [KICK_SGI, MAINTENANCE_PPI, hyp_timer_ppi()] {
        let reg = ipriorityr + (id as u64 & !3);
        let shift = (id % 4) * 8;
        mmio_write(reg, mmio_read(reg) & !(0xff << shift));
    }
}

fn own_redistributor(g: &Gic) -> Option<u64> {
    let mpidr = MPIDR_EL1.get();
    let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 24;
    let mut rd = g.cpu.base;
    while rd < g.cpu.end() {
        let typer = mmio_read(rd + 0x8) as u64 | (mmio_read(rd + 0xc) as u64) << 32;
        if typer >> 32 == affinity {
            return Some(rd);
        }
        if typer & (1 << 4) != 0 {
            break;
        }
        // VLPIS (GICv4) redistributors have two more frames.
        rd += if typer & (1 << 1) != 0 {
            2 * GICR_STRIDE
        } else {
            GICR_STRIDE
        };
    }
    None
}

/// ICENABLER0's offset from ISENABLER0.
const ICENABLER0: u64 = 0x80;

/// The enable registers for this CPU's private interrupts, from
/// ISENABLER0 (offset 0) to ICENABLER0 ([`ICENABLER0`]). Made from the
/// address init_cpu kept rather than through [`frame_of`], because the run
/// loop writes them on every entry and exit.
fn private_enables() -> Option<Frame> {
    let isenabler = ISENABLER0[percpu::current()].load(Ordering::Relaxed);
    // SAFETY: init_cpu stored the address of this CPU's ISENABLER0, in the
    // GIC frame (redistributor SGI_base or distributor) that mm::mmu maps
    // as device memory for good; ICENABLER0 is in the same frame.
    (isenabler != 0).then(|| unsafe { Frame::new(Range::new(isenabler, ICENABLER0 + 4)) })
}

/// Re-enables the monitor's interrupts on this CPU (a host GIC driver may
/// have disabled private interrupts it does not know), and the virtual
/// timer's PPI, which the guest's timer raises while it runs (the run loop
/// masks it only while the guest handles one; it is left enabled for the
/// host, whose own virtual timer it is between runs).
pub fn rearm() {
    if let Some(enables) = private_enables() {
        enables.write(0, RUN_ENABLES.load(Ordering::Relaxed));
    }
}

/// Masks (or unmasks) one private interrupt of this CPU at the GIC.
pub fn set_private_enabled(id: u32, on: bool) {
    if let Some(enables) = private_enables() {
        enables.write(if on { 0 } else { ICENABLER0 }, 1 << id);
    }
}

/// The host's CPU-interface settings, opened up while a guest runs.
pub struct Saved {
    gic: &'static Gic,
    pmr: u64,
    enable: u64,
}

/// Lets interrupts reach this CPU while a guest runs (the host may have
/// its CPU interface closed); `restore` puts the host's settings back.
#[inline(always)]
pub fn open_cpu_interface() -> Option<Saved> {
    let g = gic()?;
    Some(match g.version {
        GicVersion::V3 => {
            let saved = Saved {
                gic: g,
                pmr: ICC_PMR_EL1.get(),
                enable: ICC_IGRPEN1_EL1.get(),
            };
            // One synchronization for both writes.
            icc_set(|| {
                ICC_PMR_EL1.set(0xff);
                ICC_IGRPEN1_EL1.set(1);
            });
            saved
        }
        GicVersion::V2 => {
            let c = cpu_frame(g);
            let saved = Saved {
                gic: g,
                pmr: c.read(GICC_PMR) as u64,
                enable: c.read(GICC_CTLR) as u64,
            };
            c.write(GICC_PMR, 0xff);
            c.write(GICC_CTLR, saved.enable as u32 | 1);
            saved
        }
    })
}

#[inline(always)]
pub fn restore(saved: Option<Saved>) {
    let Some(s) = saved else {
        return;
    };
    match s.gic.version {
        GicVersion::V3 => {
            icc_set(|| {
                ICC_PMR_EL1.set(s.pmr);
                ICC_IGRPEN1_EL1.set(s.enable);
            });
        }
        GicVersion::V2 => {
            let c = cpu_frame(s.gic);
            c.write(GICC_PMR, s.pmr as u32);
            c.write(GICC_CTLR, s.enable as u32);
        }
    }
}

/// This CPU is about to run a vCPU: other CPUs may kick it from now on.
pub fn take_kicks() {
    KICKS[percpu::current()].store(TAKEN, Ordering::SeqCst);
}

/// This CPU's run ends (its CPU interface still open): no more kicks are
/// sent to it, and one already on its way is waited for and consumed, so
/// it never reaches the host.
pub fn refuse_kicks() {
    if KICKS[percpu::current()].swap(REFUSED, Ordering::SeqCst) != OWED {
        return;
    }
    let deadline = timer::now_ns().saturating_add(KICK_DRAIN_NS);
    while take_monitor_irq() != Some(KICK_SGI) && timer::now_ns() < deadline {
        core::hint::spin_loop();
    }
}

/// Makes `cpu` look at the kick flag and pending interrupts of the vCPU it
/// runs: sends it the kick SGI, unless it runs none any more (it sees them
/// at its next enter) or an SGI is already on its way (that one makes it
/// look, after the caller's changes).
pub fn kick_cpu(cpu: usize) {
    if KICKS[cpu]
        .compare_exchange(TAKEN, OWED, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        send_kick(cpu);
    }
}

/// Sends the kick SGI to `cpu` (a running vCPU's through [`kick_cpu`], or a
/// parked CPU to start).
pub fn send_kick(cpu: usize) {
    let Some(g) = gic() else { return };
    match g.version {
        GicVersion::V3 => {
            let mpidr = system::get().platform.cpus[cpu].mpidr;
            let aff0 = mpidr & 0xff;
            let value = ((mpidr >> 32) & 0xff) << 48
                | ((mpidr >> 16) & 0xff) << 32
                | (aff0 >> 4) << 44
                | (KICK_SGI as u64) << 24
                | ((mpidr >> 8) & 0xff) << 16
                | 1 << (aff0 & 0xf);
            icc_set(|| ICC_SGI1R_EL1.set(value));
        }
        GicVersion::V2 => {
            let target = V2_TARGET[cpu].load(Ordering::Acquire) as u32;
            distributor(g).write(GICD_SGIR, target << 16 | KICK_SGI);
        }
    }
}

fn highest_pending() -> u32 {
    match gic() {
        Some(g) if g.version == GicVersion::V3 => ICC_HPPIR1_EL1.get() as u32 & 0xff_ffff,
        Some(g) => cpu_frame(g).read(GICC_HPPIR) & 0x3ff,
        None => SPURIOUS,
    }
}

fn is_monitors(id: u32) -> bool {
    id == KICK_SGI || id == MAINTENANCE_PPI || id == hyp_timer_ppi() || id == VTIMER_PPI
}

/// If the highest pending interrupt is one of the monitor's (or the guest's
/// virtual timer), acknowledges and completes it and returns it.
pub fn take_monitor_irq() -> Option<u32> {
    let g = gic()?;
    if !is_monitors(highest_pending()) {
        return None;
    }
    let raw = match g.version {
        GicVersion::V3 => ICC_IAR1_EL1.get() as u32,
        GicVersion::V2 => cpu_frame(g).read(GICC_IAR),
    };
    let id = raw & 0x3ff;
    if id == SPURIOUS {
        return None;
    }
    match g.version {
        GicVersion::V3 => {
            icc_set(|| ICC_EOIR1_EL1.set(raw as u64));
            // EOImode 1: priority drop and deactivation are separate.
            if ICC_CTLR_EL1.get() & (1 << 1) != 0 {
                icc_set(|| ICC_DIR_EL1.set(raw as u64));
            }
        }
        GicVersion::V2 => {
            let c = cpu_frame(g);
            c.write(GICC_EOIR, raw);
            if c.read(GICC_CTLR) & GICC_CTLR_EOI_MODE_NS != 0 {
                c.write(GICC_DIR, raw);
            }
        }
    }
    if !is_monitors(id) {
        // A host interrupt overtook ours between the two reads: make it
        // pending again for the host.
        set_pending(id);
        return None;
    }
    if id == KICK_SGI {
        // Acknowledged: the next kick may send another (a late one, after
        // the run ended, leaves the CPU refusing kicks).
        let _ = KICKS[percpu::current()].compare_exchange(
            OWED,
            TAKEN,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
    Some(id)
}

fn set_pending(id: u32) {
    let Some(g) = gic() else { return };
    let reg = match (g.version, id) {
        (GicVersion::V3, 0..=31) => SGI_FRAME[percpu::current()].load(Ordering::Acquire) + 0x200,
        _ => g.distributor.base + 0x200 + (id as u64 / 32) * 4,
    };
    mmio_write(reg, 1 << (id % 32));
}

/// Whether an interrupt for the host is pending at this CPU.
pub fn host_irq_pending() -> bool {
    let id = highest_pending();
    id < SPURIOUS - 3 && !is_monitors(id)
}
