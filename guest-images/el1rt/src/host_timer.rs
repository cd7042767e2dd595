//! The host's own interrupts: its EL1 physical timer (the DTB's non-secure
//! physical timer PPI) ticking through the physical GIC into an IRQ handler
//! at VBAR_EL1 + 0x280 that acknowledges, counts, re-arms (one period after
//! the last deadline) and ends each tick. It is entry.S's `host_irq`. The
//! host's tests use it to check that host interrupts keep arriving while a
//! guest runs (docs/abi.md §2: long calls return ZX_ERR_INTERNAL_INTR_RETRY and
//! the client takes the interrupt); the VMM ticks with it. Only the timer's
//! PPI is touched at the GIC, never the monitor's (SGI 15, PPI 25, PPI 26).
//! [`CpuInterface`] opens this CPU's GIC interface on its own, for tests
//! that look at what is pending at it.

use crate::platform::Board;
use crate::{reason, Reason};
use core::arch::asm;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};
use fdt::Fdt;

/// What the IRQ handler works with; written before IRQs are unmasked.
#[repr(C)]
struct IrqState {
    /// 0: no handler armed (an IRQ stops the host); 2 or 3: the GIC
    /// version to acknowledge and end interrupts with.
    mode: AtomicU64,
    /// GICv2: the GICC (CPU interface) base.
    gicc: AtomicU64,
    /// The timer's INTID.
    intid: AtomicU64,
    /// Counter ticks from one timer interrupt to the next.
    period: AtomicU64,
    /// Timer interrupts taken.
    ticks: AtomicU64,
    /// Other interrupts taken, and the INTID of the last one.
    others: AtomicU64,
    last_other: AtomicU64,
}

static IRQ: IrqState = IrqState {
    mode: AtomicU64::new(0),
    gicc: AtomicU64::new(0),
    intid: AtomicU64::new(0),
    period: AtomicU64::new(0),
    ticks: AtomicU64::new(0),
    others: AtomicU64::new(0),
    last_other: AtomicU64::new(0),
};

/// After this many interrupts that are not the timer's the handler returns
/// with IRQs masked, so an interrupt nobody ends cannot keep the host in
/// its handler for ever.
const MAX_OTHERS: u64 = 1000;
/// Priority of the timer interrupt (lower is more urgent; the CPU
/// interface's mask is opened to 0xff).
const PRIORITY: u8 = 0x80;
/// The monitor's interrupts (README "Interrupts reserved for the monitor")
/// and the guests' virtual timer, which the host must not take over.
const NOT_OURS: [u32; 4] = [15, 25, 26, 27];
const GICR_STRIDE: u64 = 0x2_0000;
const GICR_SGI_BASE: u64 = 0x1_0000;

// The vector slot in entry.S branches here. Saves what it uses on the
// interrupted stack (the host runs at EL1h, so SP is SP_EL1 both ways);
// PSTATE, flags included, comes back with the eret.
core::arch::global_asm!(
    ".global host_irq",
    "host_irq:",
    "stp x0, x1, [sp, #-48]!",
    "stp x2, x3, [sp, #16]",
    "stp x4, x5, [sp, #32]",
    "adrp x4, {irq}",
    "add x4, x4, :lo12:{irq}",
    "ldr x0, [x4, #{mode}]",
    "cmp x0, #3",
    "b.eq 3f",
    "cmp x0, #2",
    "b.eq 2f",
    "mrs x0, elr_el1",
    "b el1_unexpected_irq",
    // GICv3: ICC_IAR1_EL1.
    "3: mrs x1, s3_0_c12_c12_0",
    "and x2, x1, #0xffffff",
    "b 4f",
    // GICv2: GICC_IAR.
    "2: ldr x5, [x4, #{gicc}]",
    "ldr w1, [x5, #0xc]",
    "and x2, x1, #0x3ff",
    // INTIDs 1020-1023: nothing to acknowledge, nothing to end.
    "4: cmp x2, #1020",
    "b.hs 9f",
    "ldr x3, [x4, #{intid}]",
    "cmp x2, x3",
    "b.ne 5f",
    // The next deadline is one period after this one, not after now: a
    // tick the emulator delayed is caught up rather than lost.
    "mrs x0, cntp_cval_el0",
    "ldr x3, [x4, #{period}]",
    "add x0, x0, x3",
    "msr cntp_cval_el0, x0",
    "isb",
    "ldr x3, [x4, #{ticks}]",
    "add x3, x3, #1",
    "str x3, [x4, #{ticks}]",
    "b 6f",
    "5: str x2, [x4, #{last_other}]",
    "ldr x3, [x4, #{others}]",
    "add x3, x3, #1",
    "str x3, [x4, #{others}]",
    "cmp x3, #{max_others}",
    "b.lo 6f",
    "mrs x3, spsr_el1",
    "orr x3, x3, #(1 << 7)",
    "msr spsr_el1, x3",
    // End it: EOI, and a separate deactivation in EOImode 1.
    "6: ldr x0, [x4, #{mode}]",
    "cmp x0, #3",
    "b.ne 7f",
    "msr s3_0_c12_c12_1, x1",
    "mrs x3, s3_0_c12_c12_4",
    "tbz x3, #1, 9f",
    "msr s3_0_c12_c11_1, x1",
    "b 9f",
    "7: str w1, [x5, #0x10]",
    "ldr w3, [x5]",
    "tbz w3, #9, 9f",
    "add x0, x5, #0x1000",
    "str w1, [x0]",
    "9: isb",
    "ldp x4, x5, [sp, #32]",
    "ldp x2, x3, [sp, #16]",
    "ldp x0, x1, [sp], #48",
    "eret",
    irq = sym IRQ,
    mode = const offset_of!(IrqState, mode),
    gicc = const offset_of!(IrqState, gicc),
    intid = const offset_of!(IrqState, intid),
    period = const offset_of!(IrqState, period),
    ticks = const offset_of!(IrqState, ticks),
    others = const offset_of!(IrqState, others),
    last_other = const offset_of!(IrqState, last_other),
    max_others = const MAX_OTHERS,
);

extern "C" {
    /// The program's handler of unexpected exceptions (see the crate root).
    fn el1_unexpected(esr: u64, elr: u64, far: u64) -> !;
}

/// An IRQ arrived while no handler was armed: reported as an unexpected
/// exception with ESR 0.
#[no_mangle]
extern "C" fn el1_unexpected_irq(elr: u64) -> ! {
    crate::console::print_unlocked(format_args!(
        "\nIRQ at ELR {elr:#x} with no handler armed\n"
    ));
    // SAFETY: every program built on el1rt defines `el1_unexpected`, which
    // takes any ESR/ELR/FAR and does not return.
    unsafe { el1_unexpected(0, elr, 0) }
}

fn mmio_read(addr: u64) -> u32 {
    // SAFETY: callers pass GIC registers from the DTB, identity-mapped as
    // device memory in the host's stage 2 (docs/abi.md §1); reading them has no
    // side effect (the IAR is only read by the handler).
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn mmio_write(addr: u64, value: u32) {
    // SAFETY: as in `mmio_read`; callers only write registers (and bits)
    // of the timer's own interrupt or of this CPU's interface.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

/// Sets byte `intid` of an IPRIORITYR array.
fn set_priority(ipriorityr: u64, intid: u32) {
    let reg = ipriorityr + u64::from(intid & !3);
    let shift = (intid % 4) * 8;
    let v = mmio_read(reg) & !(0xff << shift) | u32::from(PRIORITY) << shift;
    mmio_write(reg, v);
}

/// The GIC frames the host uses.
#[derive(Clone, Copy)]
enum Gic {
    /// This CPU's redistributor SGI_base frame.
    V3 {
        sgi: u64,
    },
    V2 {
        dist: u64,
        cpu: u64,
    },
}

/// The CPU interface's settings before it was opened.
#[derive(Clone, Copy)]
struct Saved {
    pmr: u64,
    enable: u64,
}

/// This CPU's interface to the physical GIC, opened (priority mask 0xff,
/// group 1 enabled) until dropped, which puts the settings back. PSTATE's
/// IRQ mask is left as it is: with IRQs masked a pending interrupt is only
/// signalled, which is what the monitor sees of it (docs/abi.md §2).
pub struct CpuInterface {
    gic: Gic,
    saved: Saved,
}

impl CpuInterface {
    pub fn open(board: &Board) -> Result<CpuInterface, Reason> {
        let fdt = board
            .fdt()
            .ok_or_else(|| reason(format_args!("x0 does not point at a valid DTB")))?;
        let gic = find_gic(&fdt, board.gic_version == 3)?;
        let saved = match gic {
            Gic::V3 { .. } => {
                let sre: u64;
                // SAFETY: ICC_SRE_EL1.SRE = 1 selects the system-register CPU
                // interface at EL1 (the monitor enables EL1 access to it).
                unsafe {
                    asm!("mrs {0}, s3_0_c12_c12_5", "orr {0}, {0}, #1", "msr s3_0_c12_c12_5, {0}",
                         "isb", "mrs {0}, s3_0_c12_c12_5", out(reg) sre)
                };
                if sre & 1 != 1 {
                    return Err(reason(format_args!("ICC_SRE_EL1.SRE stays 0")));
                }
                let (pmr, enable): (u64, u64);
                // SAFETY: reads ICC_PMR_EL1 and ICC_IGRPEN1_EL1, then opens the
                // priority mask and enables group 1 on this CPU's interface;
                // `Drop` puts both back.
                unsafe {
                    asm!("mrs {0}, s3_0_c4_c6_0", "mrs {1}, s3_0_c12_c12_7",
                         "msr s3_0_c4_c6_0, {2}", "msr s3_0_c12_c12_7, {3}", "isb",
                         out(reg) pmr, out(reg) enable, in(reg) 0xffu64, in(reg) 1u64)
                };
                Saved { pmr, enable }
            }
            Gic::V2 { dist, cpu } => {
                mmio_write(dist, mmio_read(dist) | 0b11);
                let saved = Saved {
                    pmr: mmio_read(cpu + 0x4).into(),
                    enable: mmio_read(cpu).into(),
                };
                mmio_write(cpu + 0x4, 0xff);
                mmio_write(cpu, saved.enable as u32 | 1);
                saved
            }
        };
        Ok(CpuInterface { gic, saved })
    }

    /// Whether the private interrupt (SGI or PPI) `intid` is pending at
    /// this CPU: its GICR_ISPENDR0 (GICv3) or banked GICD_ISPENDR0 (GICv2) bit.
    pub fn private_pending(&self, intid: u32) -> bool {
        let ispendr0 = match self.gic {
            Gic::V3 { sgi } => sgi + 0x200,
            Gic::V2 { dist, .. } => dist + 0x200,
        };
        mmio_read(ispendr0) & (1 << (intid % 32)) != 0
    }
}

impl Drop for CpuInterface {
    fn drop(&mut self) {
        let s = self.saved;
        match self.gic {
            Gic::V3 { .. } => {
                // SAFETY: puts back ICC_PMR_EL1 and ICC_IGRPEN1_EL1 as they
                // were before `open`.
                unsafe {
                    asm!("msr s3_0_c4_c6_0, {}", "msr s3_0_c12_c12_7, {}", "isb",
                         in(reg) s.pmr, in(reg) s.enable)
                };
            }
            Gic::V2 { cpu, .. } => {
                mmio_write(cpu + 0x4, s.pmr as u32);
                mmio_write(cpu, s.enable as u32);
            }
        }
    }
}

/// The host's timer, ticking until dropped; dropping it masks IRQs again,
/// stops the timer, disables its PPI and puts the CPU interface back.
pub struct HostTimer {
    interface: CpuInterface,
    intid: u32,
}

/// The non-secure EL1 physical timer's INTID: entry 1 of the timer node's
/// `interrupts` (secure, non-secure, virtual, hypervisor), a PPI.
fn timer_intid(fdt: &Fdt) -> Result<u32, Reason> {
    let timer = fdt
        .find_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
        .ok_or_else(|| reason(format_args!("the DTB has no arm,armv8-timer node")))?;
    let prop = timer.property("interrupts").ok_or_else(|| {
        reason(format_args!(
            "the DTB's timer node has no interrupts property"
        ))
    })?;
    let cells: [u32; 6] = core::array::from_fn(|i| {
        prop.value
            .get(4 * i..4 * i + 4)
            .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    });
    // Three cells per interrupt (type, number, flags); type 1 is a PPI.
    let (kind, number) = (cells[3], cells[4]);
    if kind != 1 || number >= 16 {
        return Err(reason(format_args!(
            "the DTB's non-secure physical timer interrupt is <{kind} {number}>, want a PPI"
        )));
    }
    Ok(number + 16)
}

fn find_gic(fdt: &Fdt, v3: bool) -> Result<Gic, Reason> {
    let names: &[&str] = if v3 {
        &["arm,gic-v3"]
    } else {
        &["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"]
    };
    let node = fdt
        .find_compatible(names)
        .ok_or_else(|| reason(format_args!("the DTB has no {} node", names[0])))?;
    let cells = node.interrupt_cells();
    if cells != Some(3) {
        return Err(reason(format_args!(
            "the GIC node's #interrupt-cells is {cells:?}, want 3"
        )));
    }
    let mut reg = dtb::regs(fdt, &node).into_iter().map(|r| (r.base, r.size));
    let (Some(first), Some(second)) = (reg.next(), reg.next()) else {
        return Err(reason(format_args!(
            "the GIC node's reg has fewer than two regions"
        )));
    };
    if !v3 {
        return Ok(Gic::V2 {
            dist: first.0,
            cpu: second.0,
        });
    }
    let dist = first.0;
    // ARE and EnableGrp1 (the monitor sets them too); harmless if set.
    mmio_write(dist, mmio_read(dist) | (1 << 4) | (1 << 1));
    let rd = own_redistributor(second.0, second.0 + second.1)?;
    // GICR_WAKER: clear ProcessorSleep, wait for ChildrenAsleep to clear.
    mmio_write(rd + 0x14, mmio_read(rd + 0x14) & !(1 << 1));
    let awake = crate::cpus::wait_for(100, || mmio_read(rd + 0x14) & (1 << 2) == 0);
    if !awake {
        return Err(reason(format_args!(
            "GICR_WAKER.ChildrenAsleep stayed set for 100 ms"
        )));
    }
    Ok(Gic::V3 {
        sgi: rd + GICR_SGI_BASE,
    })
}

/// This CPU's redistributor: the frame whose GICR_TYPER names its affinity.
fn own_redistributor(mut rd: u64, end: u64) -> Result<u64, Reason> {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr) };
    let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32) & 0xff) << 24;
    while rd < end {
        let typer = u64::from(mmio_read(rd + 0x8)) | u64::from(mmio_read(rd + 0xc)) << 32;
        if typer >> 32 == affinity {
            return Ok(rd);
        }
        if typer & (1 << 4) != 0 {
            break;
        }
        rd += if typer & (1 << 1) != 0 {
            2 * GICR_STRIDE
        } else {
            GICR_STRIDE
        };
    }
    Err(reason(format_args!(
        "no redistributor frame has this CPU's affinity {affinity:#x}"
    )))
}

/// Starts the host's EL1 physical timer with one interrupt every `period`
/// counter ticks, enables its PPI at the GIC for this CPU and unmasks IRQs.
pub fn start(board: &Board, period: u64) -> Result<HostTimer, Reason> {
    let fdt = board
        .fdt()
        .ok_or_else(|| reason(format_args!("x0 does not point at a valid DTB")))?;
    let intid = timer_intid(&fdt)?;
    if NOT_OURS.contains(&intid) {
        return Err(reason(format_args!(
            "the DTB names PPI {intid} for the EL1 physical timer, which the monitor or guests own"
        )));
    }
    let interface = CpuInterface::open(board)?;
    let bit = 1u32 << intid;
    let regs = match interface.gic {
        Gic::V3 { sgi } => {
            mmio_write(sgi + 0x80, mmio_read(sgi + 0x80) | bit);
            sgi
        }
        Gic::V2 { dist, .. } => dist,
    };
    set_priority(regs + 0x400, intid);
    mmio_write(regs + 0x280, bit);
    mmio_write(regs + 0x100, bit);
    IRQ.intid.store(intid.into(), Ordering::SeqCst);
    IRQ.period.store(period, Ordering::SeqCst);
    IRQ.ticks.store(0, Ordering::SeqCst);
    IRQ.others.store(0, Ordering::SeqCst);
    IRQ.last_other.store(0, Ordering::SeqCst);
    let (mode, gicc) = match interface.gic {
        Gic::V3 { .. } => (3, 0),
        Gic::V2 { cpu, .. } => (2, cpu),
    };
    IRQ.gicc.store(gicc, Ordering::SeqCst);
    IRQ.mode.store(mode, Ordering::SeqCst);
    // SAFETY: the handler is armed (above); the timer's first interrupt is
    // `period` ticks away, then IRQs reach it.
    unsafe {
        asm!("msr cntp_tval_el0, {}", "msr cntp_ctl_el0, {}", "isb", "msr daifclr, #2",
             in(reg) period, in(reg) 1u64)
    };
    Ok(HostTimer { interface, intid })
}

impl HostTimer {
    /// Timer interrupts the handler has taken.
    pub fn ticks(&self) -> u64 {
        IRQ.ticks.load(Ordering::SeqCst)
    }

    /// Interrupts taken that were not the timer's, and the last one's INTID.
    pub fn others(&self) -> (u64, u64) {
        (
            IRQ.others.load(Ordering::SeqCst),
            IRQ.last_other.load(Ordering::SeqCst),
        )
    }

    /// The timer's INTID.
    pub fn intid(&self) -> u32 {
        self.intid
    }
}

impl Drop for HostTimer {
    fn drop(&mut self) {
        // SAFETY: masks IRQs, then stops the host's own timer.
        unsafe { asm!("msr daifset, #2", "msr cntp_ctl_el0, xzr", "isb") };
        let bit = 1u32 << self.intid;
        let regs = match self.interface.gic {
            Gic::V3 { sgi } => sgi,
            Gic::V2 { dist, .. } => dist,
        };
        mmio_write(regs + 0x180, bit);
        mmio_write(regs + 0x280, bit);
        IRQ.mode.store(0, Ordering::SeqCst);
    }
}
