//! Running a guest on this CPU: swaps the EL1 system registers, FP/SIMD
//! registers and EL2 controls between the host and the guest around
//! `guest_enter` (arch/world.S), and reports how the guest left.

use crate::arch::bits::{CPTR_TFP, HCR_GUEST, MDCR_GUEST_TRAPS, MDSCR_DEBUG_ON, SCTLR_EL1_RESET};
use crate::arch::debug::{self, DebugRegs};
use crate::exit::fast::FastHvc;
use aarch64_cpu::registers::*;
use core::mem::MaybeUninit;
use vcpu::regs::RegisterFile;

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(include_str!("world.S"));

#[cfg(target_arch = "aarch64")]
extern "C" {
    fn guest_enter(regs: *mut RegisterFile, run: *const FastHvc) -> u64;
    fn el1_save(regs: *mut El1Sysregs);
    fn el1_load(regs: *const El1Sysregs);
    fn fp_save(fp: *mut FpState);
    fn fp_load(fp: *const FpState);
}

/// The build machine's world.S: no guest ever runs there, and the EL1 and
/// FP/SIMD registers stay as they are.
#[cfg(not(target_arch = "aarch64"))]
mod no_world {
    use super::{El1Sysregs, FastHvc, FpState, RegisterFile};

    pub unsafe fn guest_enter(_regs: *mut RegisterFile, _run: *const FastHvc) -> u64 {
        unimplemented!("guests run only on aarch64")
    }
    pub unsafe fn el1_save(_regs: *mut El1Sysregs) {}
    pub unsafe fn el1_load(_regs: *const El1Sysregs) {}
    pub unsafe fn fp_save(_fp: *mut FpState) {}
    pub unsafe fn fp_load(_fp: *const FpState) {}
}
#[cfg(not(target_arch = "aarch64"))]
use no_world::{el1_load, el1_save, fp_load, fp_save, guest_enter};

/// EL1/EL0 system registers a world owns, in arch/world.S order.
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct El1Sysregs {
    pub sctlr: u64,
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub tcr: u64,
    pub mair: u64,
    pub amair: u64,
    pub vbar: u64,
    pub contextidr: u64,
    pub tpidr_el1: u64,
    pub tpidr_el0: u64,
    pub tpidrro_el0: u64,
    pub sp_el0: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    pub par: u64,
    pub afsr0: u64,
    pub afsr1: u64,
    pub cpacr: u64,
    pub csselr: u64,
    pub cntkctl: u64,
    pub mdscr: u64,
    pub cntv_cval: u64,
    pub cntv_ctl: u64,
}

const _: () = assert!(core::mem::size_of::<El1Sysregs>() == 25 * 8);
const _: () = assert!(core::mem::offset_of!(El1Sysregs, cntv_ctl) == 192);

/// q0-q31, FPSR, FPCR.
#[repr(C, align(16))]
#[derive(Clone, Debug, Default)]
pub struct FpState {
    q: [u128; 32],
    fpsr: u64,
    fpcr: u64,
}

/// How the guest left: the vector row that took the exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitVector {
    Sync,
    Irq,
    Fiq,
    SError,
}

/// Syndrome registers of a synchronous exit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Syndrome {
    pub esr: u64,
    pub far: u64,
    pub hpfar: u64,
}

/// Everything of a guest CPU that lives outside its register file.
#[derive(Clone, Debug)]
pub struct GuestWorld {
    pub sys: El1Sysregs,
    pub fp: FpState,
    /// The guest's debug registers (in the hardware only while
    /// [`LazyDebug`] has loaded them); its OS lock is emulated here too.
    pub debug: DebugRegs,
    /// Inside [`with_guest`]: the guest's debug registers are in the
    /// hardware (and no longer trap).
    pub debug_loaded: bool,
    /// The guest's MDSCR_EL1 enables debug events, so its debug registers
    /// go in at entry. Its MDSCR_EL1 changes only while they are loaded
    /// (TDA traps it otherwise), so this is worked out when they go out.
    debug_in_use: bool,
    /// ACTLR_EL1 as the guest wrote it (HCR_EL2.TACR: emulated, the
    /// hardware's IMPLEMENTATION DEFINED controls stay the host's).
    pub actlr: u64,
    pub hcr: u64,
    pub vmpidr: u64,
    pub vttbr: u64,
    pub vtcr: u64,
}

impl GuestWorld {
    pub fn new(vmpidr: u64, vttbr: u64, vtcr: u64) -> Self {
        let sys = El1Sysregs {
            sctlr: SCTLR_EL1_RESET,
            ..El1Sysregs::default()
        };
        Self {
            sys,
            fp: FpState::default(),
            debug: DebugRegs::default(),
            debug_loaded: false,
            debug_in_use: false,
            actlr: 0,
            hcr: crate::arch::el2config::hcr_guest(HCR_GUEST),
            vmpidr,
            vttbr,
            vtcr,
        }
    }
}

/// Lazy FP/SIMD switching inside [`with_guest`]: the guest's registers are
/// loaded only when it first uses FP/SIMD (a CPTR_EL2.TFP trap).
///
/// The host's save area is borrowed, not held: with it and the flag in one
/// local, the compiler merged the flag's store with the area's undefined
/// bytes into a 529-byte memset on every enter.
pub struct LazyFp<'a> {
    host: &'a mut MaybeUninit<FpState>,
    guest_loaded: bool,
}

impl LazyFp<'_> {
    /// The guest touched FP/SIMD: park the host's registers, load `guest`'s,
    /// and stop trapping.
    pub fn switch_to_guest(&mut self, guest: &FpState) {
        if self.guest_loaded {
            return;
        }
        CPTR_EL2.set(CPTR_EL2.get() & !CPTR_TFP);
        crate::arch::insn::isb();
        // SAFETY: FP/SIMD no longer traps; the registers hold the host's
        // values (the monitor never uses them), saved to our own area.
        unsafe {
            fp_save(self.host.as_mut_ptr());
            fp_load(guest);
        }
        self.guest_loaded = true;
    }

    /// Back to the host: save the guest's registers if it used them (the
    /// caller then puts the host's CPTR_EL2 back).
    fn finish(&mut self, guest: &mut FpState) {
        if self.guest_loaded {
            // SAFETY: `host` was written by `switch_to_guest`.
            unsafe {
                fp_save(guest);
                fp_load(self.host.as_ptr());
            }
        }
    }
}

/// Lazy debug switching inside [`with_guest`]: the guest's debug registers
/// go into the hardware only when it first touches one (an MDCR_EL2.TDA
/// trap), or at entry when its MDSCR_EL1 enables debug events; until then
/// the host's stay, unreachable by the guest and without effect in it.
/// `GuestWorld::debug_loaded` says which are in the hardware.
pub struct LazyDebug {
    host: MaybeUninit<DebugRegs>,
}

impl LazyDebug {
    /// Parks the host's debug registers, loads `world`'s, and stops
    /// trapping them (TDA).
    pub fn switch_to_guest(&mut self, world: &mut GuestWorld) {
        if world.debug_loaded {
            return;
        }
        self.host.write(debug::save());
        debug::load(&world.debug);
        MDCR_EL2.set(MDCR_EL2.get() & !MDCR_EL2::TDA::SET.value);
        crate::arch::insn::isb();
        world.debug_loaded = true;
    }

    /// Back to the host: save the guest's registers if they were loaded.
    fn finish(&mut self, world: &mut GuestWorld) {
        if world.debug_loaded {
            world.debug = debug::save();
            world.debug_in_use = MDSCR_EL1.get() & MDSCR_DEBUG_ON != 0;
            // SAFETY: `host` was written by `switch_to_guest`.
            debug::load(unsafe { self.host.assume_init_ref() });
            world.debug_loaded = false;
        }
    }
}

/// Loads the guest's EL1 and EL2 context on this CPU, runs `f` (which
/// enters the guest with [`enter`] as often as it likes, handling exits in
/// between with the guest's EL1 registers live), then puts the host's
/// context back. FP/SIMD and debug registers follow lazily through
/// [`LazyFp`] and [`LazyDebug`].
pub fn with_guest<R>(
    world: &mut GuestWorld,
    f: impl FnOnce(&mut GuestWorld, &mut LazyFp<'_>, &mut LazyDebug) -> R,
) -> R {
    let mut host = MaybeUninit::<El1Sysregs>::uninit();
    let host_sp_el1 = SP_EL1.get();
    let host_hcr = HCR_EL2.get();
    let host_vtcr = VTCR_EL2.get();
    let host_vttbr = VTTBR_EL2.get();
    let host_mdcr = MDCR_EL2.get();
    let host_cptr = CPTR_EL2.get();
    // SAFETY: the save/load routines move the EL1 registers to and from the
    // structures given, which are valid and exclusively ours; the host area
    // needs no zeroing because the save writes every field.
    unsafe {
        el1_save(host.as_mut_ptr());
        el1_load(&world.sys);
    }
    VMPIDR_EL2.set(world.vmpidr);
    VTCR_EL2.set(world.vtcr);
    VTTBR_EL2.set(world.vttbr);
    MDCR_EL2.set(host_mdcr | MDCR_GUEST_TRAPS);
    // The guest reads the physical counter but cannot reach the EL1 physical timer.
    CNTHCTL_EL2.set(1);
    CPTR_EL2.set(host_cptr | CPTR_TFP);
    let mut host_fp = MaybeUninit::uninit();
    let mut fp = LazyFp {
        host: &mut host_fp,
        guest_loaded: false,
    };
    let mut lazy_debug = LazyDebug {
        host: MaybeUninit::uninit(),
    };
    if world.debug_in_use {
        lazy_debug.switch_to_guest(world);
    }
    let result = f(world, &mut fp, &mut lazy_debug);
    fp.finish(&mut world.fp);
    CPTR_EL2.set(host_cptr);
    lazy_debug.finish(world);
    HCR_EL2.set(host_hcr);
    VTTBR_EL2.set(host_vttbr);
    VTCR_EL2.set(host_vtcr);
    MDCR_EL2.set(host_mdcr);
    CNTHCTL_EL2.set(3);
    VMPIDR_EL2.set(MPIDR_EL1.get());
    // SAFETY: as above, in the other direction.
    unsafe {
        el1_save(&mut world.sys);
        el1_load(host.as_ptr());
    }
    SP_EL1.set(host_sp_el1);
    crate::arch::insn::isb();
    result
}

/// Enters the guest (inside [`with_guest`]) with HCR_EL2 = `hcr` until its
/// next exit that comes back here; returns how it left, and its syndrome.
/// The guest's `hvc` calls that need nothing from the run loop (`run`
/// says) are answered straight from the vectors and counted there
/// (`exit::fast`), and the guest goes on without coming back.
#[inline(always)]
pub fn enter(regs: &mut RegisterFile, hcr: u64, run: &FastHvc) -> (ExitVector, Syndrome) {
    HCR_EL2.set(hcr);
    crate::arch::insn::isb();
    // SAFETY: guest_enter loads the guest's registers and erets to it with
    // HCR_EL2/VTTBR_EL2 set for the guest (stage 2 confines it to its own
    // memory; the SPSR in `regs` was checked never to name EL2), and returns
    // here on the guest's next exception with its registers saved to `regs`;
    // `run`, borrowed for the call, is read only by the exits of this entry.
    let kind = unsafe { guest_enter(regs, run) };
    let syndrome = Syndrome {
        esr: ESR_EL2.get(),
        far: FAR_EL2.get(),
        hpfar: HPFAR_EL2.get(),
    };
    let kind = match kind {
        9 => ExitVector::Irq,
        10 => ExitVector::Fiq,
        11 => ExitVector::SError,
        _ => ExitVector::Sync,
    };
    (kind, syndrome)
}

/// The guest's live SCTLR_EL1 (inside [`with_guest`]).
pub fn guest_sctlr() -> u64 {
    SCTLR_EL1.get()
}

/// Sets the hardware's OS lock and double lock to the guest's (inside
/// [`with_guest`], with its debug registers loaded).
pub fn set_guest_os_locks(regs: &DebugRegs) {
    debug::set_os_lock(regs.os_lock);
    debug::set_os_double_lock(regs.os_double_lock);
}

/// The guest's live VBAR_EL1 and ELR_EL1 (inside [`with_guest`]), for reports.
pub fn guest_vbar() -> u64 {
    VBAR_EL1.get()
}

pub fn guest_elr() -> u64 {
    ELR_EL1.get()
}

/// Writes a trapped EL1 register of the live guest context (inside
/// [`with_guest`]), as HCR_EL2.TVM traps them.
pub fn write_guest_sysreg(reg: vcpu::sysreg::SysReg, value: u64) -> bool {
    use vcpu::sysreg::SysReg;
    match reg {
        SysReg::Sctlr => SCTLR_EL1.set(value),
        SysReg::Ttbr0 => TTBR0_EL1.set(value),
        SysReg::Ttbr1 => TTBR1_EL1.set(value),
        SysReg::Tcr => TCR_EL1.set(value),
        SysReg::Mair => MAIR_EL1.set(value),
        SysReg::Amair => AMAIR_EL1.set(value),
        SysReg::ContextIdr => CONTEXTIDR_EL1.set(value),
        SysReg::Esr => ESR_EL1.set(value),
        SysReg::Far => FAR_EL1.set(value),
        SysReg::Afsr0 => AFSR0_EL1.set(value),
        SysReg::Afsr1 => crate::arch::sysreg::AFSR1_EL1.set(value),
        _ => return false,
    }
    true
}

/// Takes the live guest (inside [`with_guest`]) to its EL1 vector for
/// `abort` at virtual address `far`, as the CPU would have without a
/// hypervisor.
pub fn inject_into_guest(file: &mut RegisterFile, abort: crate::exit::inject::Abort, far: u64) {
    take_to_el1(abort, far, &mut file.pc, &mut file.pstate);
}

/// Takes the live EL1 context (the host's, or a guest's inside
/// [`with_guest`]) to its EL1 vector for `abort` at `far`: the EL1
/// exception registers are written, and the exception return state `elr`
/// and `spsr` becomes VBAR_EL1 + the vector offset in EL1h, DAIF masked.
pub fn take_to_el1(abort: crate::exit::inject::Abort, far: u64, elr: &mut u64, spsr: &mut u64) {
    let i = crate::exit::inject::abort_to_el1(abort, far, *elr, *spsr, VBAR_EL1.get());
    ESR_EL1.set(i.esr_el1);
    FAR_EL1.set(i.far_el1);
    ELR_EL1.set(i.elr_el1);
    SPSR_EL1.set(i.spsr_el1);
    *elr = i.elr_el2;
    *spsr = i.spsr_el2;
}
