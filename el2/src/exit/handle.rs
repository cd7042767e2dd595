//! What to do with each guest exit (docs/abi.md §5): handled in EL2 when the host
//! has no part in it (PSCI queries, BELL traps, trapped system registers,
//! WFI/WFE), otherwise a packet or a status for zx_vcpu_enter.

use crate::arch::bits::{HCR_DC, HCR_TVM};
use crate::arch::world::{self, GuestWorld, Syndrome};
use crate::exit::inject::Abort;
use crate::exit::once::Seen;
use crate::objects::guest::{Fault, Guest, TrapHit};
use crate::objects::ptimer::{self, PhysicalTimer};
use crate::platform::timer;
use core::sync::atomic::{AtomicU64, Ordering};
use syscalls::exit_counts::{ExitKind, VcpuExits};
use syscalls::ids::SMCCC_NOT_SUPPORTED;
use syscalls::port::{PacketGuestBell, PacketGuestMem, PacketGuestVcpu, PortPacket};
use syscalls::Status;
use vcpu::esr::Esr;
use vcpu::exit::{decode, Exit, Mmio};
use vcpu::psci::{self, affinity_info, PsciAction};
use vcpu::regs::GuestRegs;
use vcpu::sysreg::{SysReg, SysRegAccess};

/// What the run loop does next.
pub enum Flow {
    /// Re-enter the guest.
    Continue,
    /// The guest used FP/SIMD: load its registers, then re-enter it to run
    /// the trapped instruction again.
    LoadFp,
    /// The guest touched a debug register: load its debug registers, then
    /// re-enter it to run the trapped instruction again.
    LoadDebug,
    /// The guest executed WFI: wait for something to wake it.
    WaitForInterrupt,
    /// Return ZX_OK with this packet.
    Packet(PortPacket),
    /// Return this status.
    Stop(Status),
}

const SCTLR_M: u64 = 1 << 0;
const SCTLR_C: u64 = 1 << 2;
/// The size of an AArch64 exception vector table (VBAR_EL1 onwards).
const VECTORS_SIZE: u64 = 0x800;
/// What guests did that was UNDEFINED for them, reported once each.
static REPORTED: Seen<64> = Seen::new();

/// A vCPU's exits by kind (ZXV_INFO_VCPU_EXITS). Only the vCPU's owner CPU
/// counts, so an increment is a plain load and store. The world switch
/// passes it by pointer to the vectors' `hvc` path (`exit::fast`).
#[repr(transparent)]
pub struct ExitCounts([AtomicU64; ExitKind::COUNT]);

impl Default for ExitCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl ExitCounts {
    pub const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; ExitKind::COUNT])
    }

    /// Counts one exit of `kind`.
    pub fn count(&self, kind: ExitKind) {
        let counter = &self.0[kind as usize];
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> VcpuExits {
        VcpuExits {
            counts: core::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)),
        }
    }
}

/// Handles one synchronous exit, with the guest's EL1 context live on this
/// CPU, and counts it in `counts`; `world.hcr` is the guest's HCR_EL2 for
/// its next entry.
pub fn handle(
    guest: &Guest,
    vcpu_index: usize,
    regs: &mut GuestRegs,
    ptimer: &mut PhysicalTimer,
    world: &mut GuestWorld,
    syndrome: Syndrome,
    counts: &ExitCounts,
) -> Flow {
    let esr = Esr(syndrome.esr);
    match decode(syndrome.esr, syndrome.far, syndrome.hpfar) {
        Exit::DataAbort(mmio) => data_abort(guest, regs, mmio, esr, counts),
        Exit::Hvc { imm } => {
            counts.count(ExitKind::Hvc);
            call(guest, vcpu_index, regs, imm, 0)
        }
        // A trapped SMC returns to the SMC itself.
        Exit::Smc { imm } => {
            counts.count(ExitKind::Smc);
            call(guest, vcpu_index, regs, imm, 4)
        }
        Exit::Wfi => {
            counts.count(ExitKind::Wfi);
            regs.advance_pc(esr.instruction_len());
            Flow::WaitForInterrupt
        }
        Exit::Wfe => {
            counts.count(ExitKind::Wfe);
            regs.advance_pc(esr.instruction_len());
            Flow::Continue
        }
        Exit::SysReg(access) => {
            counts.count(if access.reg == SysReg::IccSgi1r {
                ExitKind::Sgi
            } else {
                ExitKind::SysReg
            });
            system_register(guest, vcpu_index, regs, ptimer, world, access)
        }
        Exit::InstructionAbort { ipa } => {
            instruction_abort(guest, regs, ipa, esr, syndrome, counts)
        }
        Exit::FpSimd => {
            counts.count(ExitKind::FpSimd);
            Flow::LoadFp
        }
        // An AArch32 EL0 access to a cp14 debug register (MCR/MRC, LDC/STC,
        // MRRC) trapped by MDCR_EL2.TDA: as an AArch64 one.
        Exit::Other {
            ec: 0x05 | 0x06 | 0x0c,
        } if !world.debug_loaded => {
            counts.count(ExitKind::SysReg);
            Flow::LoadDebug
        }
        Exit::Other { ec } => {
            // An instruction of a feature the guest's CPU does not have
            // (its ID registers hide it): UNDEFINED, as on such a CPU.
            counts.count(ExitKind::Other);
            if REPORTED.first(&format_args!("EC {ec:#x}")) {
                log::warn!(
                    "guest {}: instruction with EC {ec:#x} at {:#x} is UNDEFINED for guests (injected; logged once)",
                    guest.koid,
                    regs.file.pc
                );
            }
            world::inject_into_guest(&mut regs.file, Abort::Undefined, 0);
            Flow::Continue
        }
        Exit::BadAbort { .. } | Exit::SError => {
            counts.count(ExitKind::Other);
            guest.warn(format_args!(
                "unhandled exit {:?} at {:#x}",
                esr, regs.file.pc
            ));
            Flow::Stop(Status::NOT_SUPPORTED)
        }
    }
}

/// An instruction fetch from an IPA that is not mapped (executable) at
/// the moment of the fault.
#[cold]
fn instruction_abort(
    guest: &Guest,
    regs: &mut GuestRegs,
    ipa: Option<u64>,
    esr: Esr,
    syndrome: Syndrome,
    counts: &ExitCounts,
) -> Flow {
    // Mapped after all: the entry was invalid only while another CPU
    // changed it (break-before-make); the guest tries again.
    if esr.translation_fault() && ipa.is_some_and(|ipa| guest.is_mapped(ipa)) {
        return Flow::Continue;
    }
    // A fetch from an IPA that is neither mapped (executable) nor
    // something the guest can run: a prefetch abort, as hardware
    // without a hypervisor gives for a bus error (docs/abi.md §5).
    counts.count(ExitKind::Other);
    let vbar = world::guest_vbar();
    if (vbar..vbar.saturating_add(VECTORS_SIZE)).contains(&syndrome.far) {
        // Its own exception vector cannot be fetched: the guest
        // would take this abort again for ever.
        guest.warn(format_args!(
            "exception loop: instruction fetch from its own vector table \
             faults (PC {:#x}, ESR_EL2 {:#x}, FAR {:#x}, ELR_EL1 {:#x}, VBAR_EL1 {vbar:#x}); \
             the vCPU stops",
            regs.file.pc,
            syndrome.esr,
            syndrome.far,
            world::guest_elr(),
        ));
        return Flow::Stop(Status::NOT_FOUND);
    }
    world::inject_into_guest(&mut regs.file, Abort::Instruction, syndrome.far);
    Flow::Continue
}

fn data_abort(
    guest: &Guest,
    regs: &mut GuestRegs,
    mmio: Mmio,
    esr: Esr,
    counts: &ExitCounts,
) -> Flow {
    let len = esr.instruction_len();
    let trap = match guest.fault_at(mmio.ipa) {
        Fault::Trap(trap) => trap,
        // As for instruction aborts.
        Fault::Mapped if esr.translation_fault() => return Flow::Continue,
        Fault::Mapped | Fault::Unmapped => {
            counts.count(ExitKind::Other);
            guest.warn(format_args!(
                "access to unmapped IPA {:#x} at {:#x}",
                mmio.ipa, regs.file.pc
            ));
            return Flow::Stop(Status::NOT_FOUND);
        }
    };
    match trap {
        TrapHit::Bell { key, port, pool } => {
            counts.count(ExitKind::BellTrap);
            if !mmio.write {
                return Flow::Stop(Status::NOT_SUPPORTED);
            }
            let Some(port) = port else {
                // As Zircon: the store counts as done, so the next enter
                // goes on after it.
                regs.advance_pc(len);
                return Flow::Stop(Status::BAD_STATE);
            };
            let packet = PortPacket::new_guest_bell(key, PacketGuestBell::new(mmio.ipa));
            if port.queue_from_trap(packet, pool).is_err() {
                // All 256 packets of the trap are queued: the store is not
                // completed; the host drains the port and the next enter
                // runs it again.
                return Flow::Stop(Status::INTERNAL_INTR_RETRY);
            }
            regs.advance_pc(len);
            Flow::Continue
        }
        TrapHit::Mem { key } => {
            counts.count(ExitKind::MemTrap);
            let Some(access) = mmio.syndrome else {
                return Flow::Stop(Status::IO_DATA_INTEGRITY);
            };
            regs.advance_pc(len);
            let data = if mmio.write { regs.reg(access.xt) } else { 0 };
            if !mmio.write {
                regs.set_pending_read(access);
            }
            let mem = PacketGuestMem::new(
                mmio.ipa,
                access.access_size,
                access.sign_extend,
                access.xt,
                !mmio.write,
                data,
            );
            Flow::Packet(PortPacket::new_guest_mem(key, mem))
        }
    }
}

/// What a guest HVC or SMC with immediate `imm` and X0-X3 `x` asks for:
/// PSCI's decode with immediate 0, anything else answered SMCCC
/// NOT_SUPPORTED. Host service calls are never reachable.
#[inline(always)]
pub fn decode_call(imm: u16, x: [u64; 4]) -> PsciAction {
    if imm != 0 || !psci::is_psci(x[0] as u32) {
        return PsciAction::Return(SMCCC_NOT_SUPPORTED as u64);
    }
    psci::decode(x[0], x[1], x[2], x[3])
}

/// HVC or SMC from the guest, as [`decode_call`] says.
fn call(guest: &Guest, vcpu_index: usize, regs: &mut GuestRegs, imm: u16, pc_step: u64) -> Flow {
    regs.advance_pc(pc_step);
    let x = [regs.reg(0), regs.reg(1), regs.reg(2), regs.reg(3)];
    match decode_call(imm, x) {
        PsciAction::Return(value) => {
            regs.set_reg(0, value);
            Flow::Continue
        }
        PsciAction::CpuOn { target, entry, .. } => {
            let claimed = psci::vcpu_index(target)
                .ok_or(syscalls::psci::INVALID_PARAMETERS)
                .and_then(|index| guest.claim_startup(index));
            if let Err(status) = claimed {
                regs.set_reg(0, status as u64);
                return Flow::Continue;
            }
            regs.set_reg(0, syscalls::psci::SUCCESS as u64);
            Flow::Packet(PortPacket::new_guest_vcpu(
                0,
                PacketGuestVcpu::startup(target, entry),
            ))
        }
        PsciAction::AffinityInfo { target, level } => {
            regs.set_reg(0, affinity_info(target, level, guest.vcpus_on()));
            Flow::Continue
        }
        PsciAction::CpuOff => {
            guest.set_vcpu_off(vcpu_index, true);
            Flow::Stop(Status::STOP)
        }
        PsciAction::SystemOff => Flow::Stop(Status::UNAVAILABLE),
        PsciAction::SystemReset => Flow::Stop(Status::CANCELED),
    }
}

/// Trapped EL1 system-register accesses (HCR_EL2.TVM, TSW, TID3, TACR, and
/// the debug registers MDCR_EL2 traps), emulated as Zircon does; ID
/// registers read as vcpu::idregs says; the OS lock and double lock and
/// ACTLR_EL1 kept per vCPU (the locks go to the hardware with the guest's
/// debug registers); MDRAR_EL1 and DBGPRCR_EL1 RAZ/WI; any other debug
/// register (TDA) loads the guest's debug registers and runs again.
fn system_register(
    guest: &Guest,
    vcpu_index: usize,
    regs: &mut GuestRegs,
    ptimer: &mut PhysicalTimer,
    world: &mut GuestWorld,
    access: SysRegAccess,
) -> Flow {
    let hcr = &mut world.hcr;
    let value = regs.reg(access.rt);
    let cntp = match access.reg {
        SysReg::CntpCtl => Some(ptimer::Register::Ctl),
        SysReg::CntpCval => Some(ptimer::Register::Cval),
        SysReg::CntpTval => Some(ptimer::Register::Tval),
        _ => None,
    };
    if let Some(reg) = cntp {
        // The run loop looks at the timer again before the next entry.
        if access.read {
            regs.set_reg(access.rt, ptimer.read(reg, timer::now()));
        } else {
            ptimer.write(reg, value, timer::now());
        }
        regs.advance_pc(4);
        return Flow::Continue;
    }
    match access.reg {
        SysReg::DcIsw | SysReg::DcCsw | SysReg::DcCisw => {
            // A set/way sweep starts at set/way 0 of level 0: do the whole
            // clean once, then treat the rest of the sweep as done.
            if value == 0 {
                guest.clean_all_memory();
            }
            if world::guest_sctlr() & (SCTLR_M | SCTLR_C) != SCTLR_M | SCTLR_C {
                *hcr |= HCR_DC | HCR_TVM;
            }
        }
        SysReg::IccSgi1r if access.read => return undefined(guest, regs, access),
        SysReg::IccSgi1r => {
            regs.advance_pc(4);
            return sgi(vcpu_index, value);
        }
        _ if let Some(value) =
            crate::arch::id_registers::emulate(&vcpu::idregs::GUEST, &access) =>
        {
            regs.set_reg(access.rt, value);
        }
        SysReg::OsLar | SysReg::OsDlr if !access.read => {
            if access.reg == SysReg::OsLar {
                world.debug.os_lock = value & 1 != 0;
            } else {
                world.debug.os_double_lock = value & 1 != 0;
            }
            if world.debug_loaded {
                world::set_guest_os_locks(&world.debug);
            }
        }
        // OSLM = 0b10 (the OS lock is implemented), OSLK.
        SysReg::OsLsr if access.read => {
            regs.set_reg(access.rt, 0b1000 | u64::from(world.debug.os_lock) << 1)
        }
        SysReg::OsDlr => regs.set_reg(access.rt, u64::from(world.debug.os_double_lock)),
        SysReg::Actlr if access.read => regs.set_reg(access.rt, world.actlr),
        SysReg::Actlr => world.actlr = value,
        SysReg::DbgPrcr | SysReg::Mdrar => {
            if access.read {
                regs.set_reg(access.rt, 0);
            }
        }
        SysReg::Other { op0: 2, .. } if !world.debug_loaded => return Flow::LoadDebug,
        // TVM traps writes only.
        reg if !access.read && world::write_guest_sysreg(reg, value) => {
            // Once the guest's MMU and caches are both on, its own stage 1
            // gives the attributes: stop forcing cacheability and trapping.
            if reg == SysReg::Sctlr && value & (SCTLR_M | SCTLR_C) == SCTLR_M | SCTLR_C {
                *hcr &= !(HCR_DC | HCR_TVM);
            }
        }
        _ => return undefined(guest, regs, access),
    }
    regs.advance_pc(4);
    Flow::Continue
}

/// A system register the monitor neither emulates nor passes through:
/// UNDEFINED in the guest, as on a CPU without it (docs/abi.md §5); the
/// first access to each register is logged.
fn undefined(guest: &Guest, regs: &mut GuestRegs, access: SysRegAccess) -> Flow {
    if REPORTED.first(&access.reg) {
        log::warn!(
            "guest {}: {} at {:#x}: the monitor has no such register for guests; UNDEFINED injected (logged once per register)",
            guest.koid,
            access,
            regs.file.pc
        );
    }
    world::inject_into_guest(&mut regs.file, Abort::Undefined, 0);
    Flow::Continue
}

/// A GICv3 guest's write to ICC_SGI1R_EL1 (trapped with HCR_EL2.IMO):
/// a GUEST_VCPU INTERRUPT packet for the VMM, as Zircon (reference §4.4).
/// Only Aff0 targets are supported.
fn sgi(vcpu_index: usize, value: u64) -> Flow {
    let field = |shift: u32, bits: u32| (value >> shift) & ((1 << bits) - 1);
    if field(16, 8) != 0 || field(32, 8) != 0 || field(48, 8) != 0 || field(44, 4) != 0 {
        return Flow::Stop(Status::NOT_SUPPORTED);
    }
    let vector = field(24, 4) as u8;
    let mask = if value & (1 << 40) != 0 {
        !(1u64 << vcpu_index)
    } else {
        field(0, 16)
    };
    Flow::Packet(PortPacket::new_guest_vcpu(
        0,
        PacketGuestVcpu::interrupt(mask, vector),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::guest::TrapKind;
    use crate::testing;
    use alloc::sync::{Arc, Weak};
    use syscalls::psci::{CPU_ON_64, SYSTEM_OFF};

    const ENTRY: u64 = 0x1000;
    const EC_WFX: u64 = 0x01;
    const EC_HVC64: u64 = 0x16;
    const EC_DABT_LOWER: u64 = 0x24;
    /// ESR_EL2.IL: a 32-bit instruction.
    const IL: u64 = 1 << 25;

    /// A guest and what one of its vCPUs keeps between exits.
    struct Fixture {
        guest: Arc<Guest>,
        regs: GuestRegs,
        ptimer: PhysicalTimer,
        world: GuestWorld,
        counts: ExitCounts,
    }

    impl Fixture {
        fn new() -> Self {
            testing::boot();
            let guest = Guest::create(crate::objects::new_koid(), 0).expect("a guest");
            let world = GuestWorld::new(0, guest.vttbr(), 0);
            Self {
                guest,
                regs: GuestRegs::new(ENTRY),
                ptimer: PhysicalTimer::default(),
                world,
                counts: ExitCounts::new(),
            }
        }

        /// Handles an exit with this syndrome.
        fn exit(&mut self, esr: u64, far: u64, hpfar: u64) -> Flow {
            let syndrome = Syndrome { esr, far, hpfar };
            handle(
                &self.guest,
                0,
                &mut self.regs,
                &mut self.ptimer,
                &mut self.world,
                syndrome,
                &self.counts,
            )
        }

        fn count(&self, kind: ExitKind) -> u64 {
            self.counts.snapshot().counts[kind as usize]
        }

        /// A data abort at `ipa` (from a 4-byte access through x`xt`),
        /// with a valid syndrome.
        fn data_abort(&mut self, ipa: u64, write: bool, xt: u64) -> Flow {
            // ISV, SAS = word, SRT, WnR, DFSC = translation fault level 3.
            let iss = (1 << 24) | (2 << 22) | (xt << 16) | (u64::from(write) << 6) | 0b000111;
            self.exit(EC_DABT_LOWER << 26 | IL | iss, ipa, (ipa >> 12) << 4)
        }
    }

    #[test]
    fn hvc_with_an_unknown_function_returns_not_supported_in_x0() {
        let mut f = Fixture::new();
        f.regs.set_reg(0, 0x8600_1234);
        assert!(matches!(f.exit(EC_HVC64 << 26 | IL, 0, 0), Flow::Continue));
        assert_eq!(f.regs.reg(0), u64::MAX);
        assert_eq!(f.regs.file.pc, ENTRY, "ELR_EL2 is already past an HVC");
        assert_eq!(f.count(ExitKind::Hvc), 1);
    }

    #[test]
    fn hvc_with_a_non_zero_immediate_is_not_supported() {
        let mut f = Fixture::new();
        f.regs.set_reg(0, SYSTEM_OFF as u64);
        assert!(matches!(
            f.exit(EC_HVC64 << 26 | IL | 1, 0, 0),
            Flow::Continue
        ));
        assert_eq!(f.regs.reg(0), u64::MAX);
    }

    #[test]
    fn psci_system_off_stops_the_vcpu_with_unavailable() {
        let mut f = Fixture::new();
        f.regs.set_reg(0, SYSTEM_OFF as u64);
        let flow = f.exit(EC_HVC64 << 26 | IL, 0, 0);
        assert!(matches!(flow, Flow::Stop(s) if s == Status::UNAVAILABLE));
    }

    #[test]
    fn psci_cpu_on_asks_the_host_to_start_the_vcpu_once() {
        let mut f = Fixture::new();
        for (try_, want) in [
            (0, syscalls::psci::SUCCESS),
            (1, syscalls::psci::ON_PENDING),
        ] {
            f.regs.set_reg(0, CPU_ON_64 as u64);
            f.regs.set_reg(1, 1);
            f.regs.set_reg(2, 0x8000);
            let flow = f.exit(EC_HVC64 << 26 | IL, 0, 0);
            assert_eq!(f.regs.reg(0), want as u64, "try {try_}");
            let want_packet = PortPacket::new_guest_vcpu(0, PacketGuestVcpu::startup(1, 0x8000));
            match flow {
                Flow::Packet(p) if try_ == 0 => assert_eq!(p.to_words(), want_packet.to_words()),
                Flow::Continue if try_ == 1 => {}
                _ => panic!("try {try_}: unexpected flow"),
            }
        }
    }

    #[test]
    fn wfi_steps_over_and_waits_wfe_steps_over_and_goes_on() {
        let mut f = Fixture::new();
        assert!(matches!(
            f.exit(EC_WFX << 26 | IL, 0, 0),
            Flow::WaitForInterrupt
        ));
        assert_eq!(f.regs.file.pc, ENTRY + 4);
        assert!(matches!(
            f.exit(EC_WFX << 26 | IL | 1, 0, 0),
            Flow::Continue
        ));
        assert_eq!(f.regs.file.pc, ENTRY + 8);
        assert_eq!((f.count(ExitKind::Wfi), f.count(ExitKind::Wfe)), (1, 1));
    }

    #[test]
    fn a_store_to_a_mem_trap_is_a_packet_with_the_value() {
        let mut f = Fixture::new();
        let trap = 0x1000_0000;
        f.guest
            .set_trap(TrapKind::Mem, trap, 0x1000, Weak::new(), 7, 1)
            .expect("trap");
        f.regs.set_reg(3, 0xdead_beef);
        let flow = f.data_abort(trap + 0x10, true, 3);
        let want = PortPacket::new_guest_mem(
            7,
            PacketGuestMem::new(trap + 0x10, 4, false, 3, false, 0xdead_beef),
        );
        match flow {
            Flow::Packet(p) => assert_eq!(p.to_words(), want.to_words()),
            _ => panic!("not a packet"),
        }
        assert_eq!(f.regs.file.pc, ENTRY + 4);
        assert_eq!(f.count(ExitKind::MemTrap), 1);
    }

    #[test]
    fn a_load_from_a_mem_trap_waits_for_its_value() {
        let mut f = Fixture::new();
        let trap = 0x2000_0000;
        f.guest
            .set_trap(TrapKind::Mem, trap, 0x1000, Weak::new(), 8, 2)
            .expect("trap");
        let flow = f.data_abort(trap, false, 5);
        assert!(matches!(flow, Flow::Packet(p) if p.key == 8));
        let io = |data| syscalls::hypervisor::VcpuIo {
            access_size: 4,
            padding1: [0; 7],
            data,
        };
        assert_eq!(f.regs.complete_io(&io(0x1_2345_6789)), Ok(()));
        assert_eq!(f.regs.reg(5), 0x2345_6789, "a W register's value");
        assert_eq!(
            f.regs.complete_io(&io(0)),
            Err(Status::BAD_STATE),
            "one value per load"
        );
    }

    #[test]
    fn an_access_to_an_unmapped_ipa_stops_the_vcpu_with_not_found() {
        let mut f = Fixture::new();
        let flow = f.data_abort(0x3000_0000, true, 0);
        assert!(matches!(flow, Flow::Stop(s) if s == Status::NOT_FOUND));
        assert_eq!(f.regs.file.pc, ENTRY, "the access is not completed");
    }
}
