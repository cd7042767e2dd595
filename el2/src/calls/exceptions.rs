//! Rust side of the EL2 vectors (arch/vectors.S): host service calls and
//! PSCI, host faults reflected back to EL1, and fatal reports for anything
//! the monitor did not expect.

use crate::arch::semihosting;
use crate::calls::{self, psci};
use crate::exit::inject::Abort;
use crate::platform::fatal;
use aarch64_cpu::registers::*;
use syscalls::ids::SMCCC_NOT_SUPPORTED;
use vcpu::esr::{Esr, ExceptionClass};
use vcpu::regs::RegisterFile;

const KINDS: [&str; 16] = [
    "synchronous exception at EL2 (SP_EL0)",
    "IRQ at EL2 (SP_EL0)",
    "FIQ at EL2 (SP_EL0)",
    "SError at EL2 (SP_EL0)",
    "synchronous exception at EL2",
    "IRQ at EL2",
    "FIQ at EL2",
    "SError at EL2",
    "synchronous exception from EL1",
    "unexpected IRQ from EL1",
    "unexpected FIQ from EL1",
    "SError from EL1",
    "exception from AArch32 EL1",
    "exception from AArch32 EL1",
    "exception from AArch32 EL1",
    "exception from AArch32 EL1",
];

fn report(frame: &RegisterFile, kind: u64) -> ! {
    fatal::exception(
        KINDS[kind as usize & 15],
        frame,
        ESR_EL2.get(),
        FAR_EL2.get(),
    )
}

#[no_mangle]
extern "C" fn el2_fault(frame: &mut RegisterFile, kind: u64) {
    report(frame, kind)
}

/// A synchronous exception in the monitor itself. The only expected one is
/// the semihosting HLT on a machine without semihosting: skip it.
#[no_mangle]
extern "C" fn el2_sync(frame: &mut RegisterFile, kind: u64) {
    let esr = Esr(ESR_EL2.get());
    if esr.class() == ExceptionClass::Unknown && frame.pc == semihosting::trap_address() {
        frame.pc += 4;
        return;
    }
    report(frame, kind)
}

/// The host's `hvc #0`: a service call (docs/abi.md §2), PSCI, or SMCCC
/// NOT_SUPPORTED. The vectors (host_sync) call it with a frame that holds
/// only x0-x18, x30, pc and pstate: it reads x0-x6 and writes x0-x2.
#[no_mangle]
pub extern "C" fn host_call(frame: &mut RegisterFile) {
    let id = frame.x[0] as u32;
    if calls::is_service_call(id) {
        calls::service_call(frame);
    } else if !psci::handle(frame) {
        frame.x[0] = SMCCC_NOT_SUPPORTED as u64;
    }
}

#[no_mangle]
extern "C" fn lower_sync(frame: &mut RegisterFile, kind: u64) {
    let esr = Esr(ESR_EL2.get());
    match esr.class() {
        ExceptionClass::Hvc64 if esr.imm16() == 0 => host_call(frame),
        ExceptionClass::Smc64 => {
            // A trapped SMC returns to the SMC itself; step over it.
            frame.pc += 4;
            if esr.imm16() != 0 || !psci::handle(frame) {
                frame.x[0] = SMCCC_NOT_SUPPORTED as u64;
            }
        }
        ExceptionClass::Hvc64 => frame.x[0] = SMCCC_NOT_SUPPORTED as u64,
        ExceptionClass::DataAbortLower => reflect(
            frame,
            Abort::Data {
                write: esr.data_abort().write,
            },
        ),
        ExceptionClass::InstAbortLower => reflect(frame, Abort::Instruction),
        ExceptionClass::SError => report(frame, kind),
        ExceptionClass::SysReg if system_register(frame, esr) => {}
        _ => {
            log::warn!(
                "host: {:?} at {:#x} not handled by the monitor: undefined instruction",
                esr,
                frame.pc
            );
            reflect(frame, Abort::Undefined)
        }
    }
}

/// A host read of an ID register (HCR_EL2.TID3), as vcpu::idregs::HOST says:
/// done, and the host goes on after it.
fn system_register(frame: &mut RegisterFile, esr: Esr) -> bool {
    let access = vcpu::sysreg::decode(esr.iss());
    let Some(value) = crate::arch::id_registers::emulate(&vcpu::idregs::HOST, &access) else {
        return false;
    };
    if access.rt != 31 {
        frame.x[usize::from(access.rt)] = value;
    }
    frame.pc += 4;
    true
}

#[no_mangle]
extern "C" fn lower_async(frame: &mut RegisterFile, kind: u64) {
    report(frame, kind)
}

/// Takes the exception `abort` to the host's EL1 vectors.
fn reflect(frame: &mut RegisterFile, abort: Abort) {
    crate::arch::world::take_to_el1(abort, FAR_EL2.get(), &mut frame.pc, &mut frame.pstate);
}
