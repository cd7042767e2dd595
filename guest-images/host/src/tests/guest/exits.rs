//! Guest exits beyond the Zircon suite (docs/abi.md §5): guest PSCI and HVC/SMC
//! calls, and the accesses the monitor cannot complete.

use super::fixture::*;
use crate::ensure;
use crate::guest_code;
use crate::suite::{Suite, TestResult};
use syscalls::client::{
    object_get_info, object_get_info_handle_basic, object_get_info_vcpu_exits, port_create,
    vcpu_create, vcpu_write_state,
};
use syscalls::exit_counts::{ExitKind, VcpuExits, ZXV_INFO_VCPU_EXITS};
use syscalls::hypervisor::{GUEST_TRAP_BELL, GUEST_TRAP_MEM};
use syscalls::object::INFO_VCPU;
use syscalls::port::{PKT_GUEST_VCPU_STARTUP, PKT_TYPE_GUEST_VCPU};
use syscalls::{Handle, Rights, Status};

pub fn run(suite: &mut Suite, resource: Handle) {
    suite.run("guest_psci_cpu_off", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_cpu_off())?;
        expect_enter(fx.vcpu(), Status::STOP)
    });
    suite.run("guest_psci_cpu_on", || cpu_on(resource));
    suite.run("guest_psci_cpu_on_refusals", || cpu_on_codes(resource));
    suite.run("guest_psci_version", || psci_version(resource));
    suite.run("guest_psci_affinity_info", || affinity_info(resource));
    suite.run("guest_hvc_unknown_function", || hvc_unknown(resource));
    suite.run("guest_id_registers_hide_unvirtualised_features", || {
        id_registers(resource)
    });
    suite.run("vcpu_exit_counts", || exit_counts(resource));
    suite.run("guest_unmapped_access", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::unmapped_access())?;
        expect_enter(fx.vcpu(), Status::NOT_FOUND)
    });
    suite.run("guest_fetch_from_unmapped_ipa_is_a_prefetch_abort", || {
        fetch_unmapped(resource)
    });
    suite.run("guest_exception_loop_stops_the_vcpu", || {
        // The monitor logs PC, ESR, FAR, ELR_EL1 and VBAR_EL1 (qemu-test.sh
        // checks the line).
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::exception_loop())?;
        expect_enter(fx.vcpu(), Status::NOT_FOUND)
    });
    suite.run("guest_unknown_sysreg_is_undefined", || {
        undefined_sysreg(resource)
    });
    suite.run("guest_unmapped_access_flood", || {
        unmapped_access_flood(resource)
    });
    suite.run("guest_bell_read", || bell_read(resource));
    suite.run("guest_mem_trap_no_syndrome", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::mem_trap_store_pair())?;
        fx.trap(GUEST_TRAP_MEM, TRAP_ADDR, Handle::INVALID, TRAP_KEY)?;
        expect_enter(fx.vcpu(), Status::IO_DATA_INTEGRITY)
    });
}

/// CPU_ON(1, 0x1000, 7): a STARTUP packet, then PSCI SUCCESS in x0.
fn cpu_on(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_cpu_on())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    ensure!(
        p.type_ == PKT_TYPE_GUEST_VCPU,
        "packet type got {}, want GUEST_VCPU (6)",
        p.type_
    );
    let vcpu = p.guest_vcpu();
    ensure!(
        vcpu.type_ == PKT_GUEST_VCPU_STARTUP,
        "guest_vcpu.type got {}, want STARTUP (1)",
        vcpu.type_
    );
    ensure!(
        vcpu.startup_id() == 1,
        "startup.id got {:#x}, want 1",
        vcpu.startup_id()
    );
    ensure!(
        vcpu.startup_entry() == 0x1000,
        "startup.entry got {:#x}, want 0x1000",
        vcpu.startup_entry()
    );
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(
        x1 == 0,
        "CPU_ON returned {x1:#x} to the guest, want 0 (SUCCESS)"
    );
    Ok(())
}

/// CPU_ON returns what docs/abi.md §5 says, with a STARTUP packet only for
/// SUCCESS: INVALID_PARAMETERS for targets no vCPU can have, ALREADY_ON for
/// a vCPU that is on (the caller), ON_PENDING for one already started that
/// has not run since.
fn cpu_on_codes(resource: Handle) -> TestResult {
    const INVALID_PARAMETERS: u64 = -2i64 as u64;
    const ALREADY_ON: u64 = -4i64 as u64;
    const ON_PENDING: u64 = -5i64 as u64;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_cpu_on_codes())?;
    let p = ok("enter", enter(fx.vcpu()))?;
    ensure!(
        p.type_ == PKT_TYPE_GUEST_VCPU && p.guest_vcpu().type_ == PKT_GUEST_VCPU_STARTUP,
        "the first packet: type {} (guest_vcpu.type {}), want the STARTUP of vCPU 1 and no \
         packet for the refused calls",
        p.type_,
        p.guest_vcpu().type_
    );
    ensure!(
        p.guest_vcpu().startup_id() == 1,
        "STARTUP for {:#x}, want 1",
        p.guest_vcpu().startup_id()
    );
    enter_and_clean_exit(fx.vcpu())?;
    let x = read_state(fx.vcpu())?.x;
    let got = [x[19], x[20], x[21], x[22], x[23]];
    let want = [
        INVALID_PARAMETERS,
        INVALID_PARAMETERS,
        ALREADY_ON,
        0,
        ON_PENDING,
    ];
    ensure!(
        got == want,
        "CPU_ON of 0x100, 8, 0 (itself), 1, 1 returned {got:x?}, want {want:x?}"
    );
    Ok(())
}

/// PSCI_VERSION through HVC gives PSCI 1.1.
fn psci_version(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_version())?;
    enter_and_clean_exit(fx.vcpu())?;
    let x1 = read_state(fx.vcpu())?.x[1];
    ensure!(x1 == 0x1_0001, "PSCI_VERSION got {x1:#x}, want 0x10001");
    Ok(())
}

/// One round of the psci_affinity_info guest: vCPU 0 asks about itself
/// (ON), vCPU 1 (`vcpu1`), an Aff1 target and level 1 (both
/// INVALID_PARAMETERS).
fn affinity_round(vcpu: Handle, vcpu1: u64, when: &str) -> TestResult {
    const INVALID_PARAMETERS: u64 = -2i64 as u64;
    enter_and_clean_exit(vcpu)?;
    let x = read_state(vcpu)?.x;
    ensure!(
        x[19] == 0,
        "{when}: vCPU 0 about itself got {:#x}, want 0 (ON)",
        x[19]
    );
    ensure!(
        x[20] == vcpu1,
        "{when}: vCPU 1 got {:#x}, want {vcpu1}",
        x[20]
    );
    ensure!(
        x[21] == INVALID_PARAMETERS,
        "{when}: Aff1 1 got {:#x}, want -2",
        x[21]
    );
    ensure!(
        x[22] == INVALID_PARAMETERS,
        "{when}: level 1 got {:#x}, want -2",
        x[22]
    );
    Ok(())
}

/// Guest PSCI AFFINITY_INFO follows its vCPUs: OFF before vCPU 1 exists,
/// ON once created, OFF after its CPU_OFF and after it is closed.
fn affinity_info(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::psci_affinity_info())?;
    affinity_round(fx.vcpu(), 1, "without vCPU 1")?;
    let vcpu1 = Owned(ok("vcpu_create", vcpu_create(fx.guest(), 0, 0x100))?);
    affinity_round(fx.vcpu(), 0, "vCPU 1 created")?;
    expect_enter(vcpu1.h(), Status::STOP)?;
    affinity_round(fx.vcpu(), 1, "after vCPU 1's CPU_OFF")?;
    drop(vcpu1);
    affinity_round(fx.vcpu(), 1, "vCPU 1 closed")
}

/// Host service-call IDs from a guest are unknown functions (-1): HVC
/// zx_handle_close with x1 = a live handle, and SMC zxv_info.
fn hvc_unknown(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::hvc_unknown_function())?;
    let witness = dup(fx.guest(), Rights::SAME_RIGHTS)?;
    let mut state = read_state(fx.vcpu())?;
    state.x[1] = witness.h().raw().into();
    ok("write_state", vcpu_write_state(fx.vcpu(), &state))?;
    enter_and_clean_exit(fx.vcpu())?;
    let state = read_state(fx.vcpu())?;
    ensure!(
        state.x[1] == u64::MAX,
        "hvc #0 with x0 = 0xc6000001 returned {:#x}, want -1",
        state.x[1]
    );
    ensure!(
        state.x[2] == u64::MAX,
        "smc #0 with x0 = 0xc60000ff returned {:#x}, want -1",
        state.x[2]
    );
    ok(
        "the handle the guest passed to 0xc6000001",
        object_get_info_handle_basic(witness.h()),
    )?;
    Ok(())
}

/// A fetch from an IPA neither mapped nor trapped: a prefetch abort at the
/// guest's EL1 (EC 0x21, IFSC 0x10, FAR_EL1 and ELR_EL1 the target), and
/// the guest goes on in its handler (docs/abi.md §5).
fn fetch_unmapped(resource: Handle) -> TestResult {
    const TARGET: u64 = 0x2000_0000;
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::fetch_unmapped())?;
    enter_and_clean_exit(fx.vcpu())?;
    let s = read_state(fx.vcpu())?;
    let (esr, elr, far) = (s.x[7], s.x[8], s.x[9]);
    ensure!(
        esr >> 26 == 0x21 && esr & 0x3f == 0x10,
        "ESR_EL1 {esr:#x}: want EC 0x21 (instruction abort, same EL) with IFSC 0x10"
    );
    ensure!(
        elr == TARGET && far == TARGET,
        "ELR_EL1 {elr:#x} FAR_EL1 {far:#x}, want both {TARGET:#x}"
    );
    Ok(())
}

/// A register the monitor neither emulates nor passes through (PMCCNTR_EL0:
/// guests have no PMU): UNDEFINED (EC 0) at the MRS, and the guest goes on.
fn undefined_sysreg(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::undefined_sysreg())?;
    enter_and_clean_exit(fx.vcpu())?;
    let s = read_state(fx.vcpu())?;
    let (esr, elr, mrs) = (s.x[7], s.x[8], s.x[2]);
    ensure!(
        esr >> 26 == 0 && esr & (1 << 25) != 0,
        "ESR_EL1 {esr:#x}: want EC 0 (unknown reason) with IL"
    );
    ensure!(elr == mrs, "ELR_EL1 {elr:#x}, want the MRS at {mrs:#x}");
    Ok(())
}

/// A load from a BELL page.
fn bell_read(resource: Handle) -> TestResult {
    let port = Owned(ok("port_create", port_create(0))?);
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::trap_load())?;
    fx.trap(GUEST_TRAP_BELL, TRAP_ADDR, port.h(), TRAP_KEY)?;
    expect_enter(fx.vcpu(), Status::NOT_SUPPORTED)
}

/// Reads an ID register at EL1 (the host's view, vcpu::idregs::HOST).
macro_rules! host_id_register {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value) };
        value
    }};
}

/// The 4-bit field at `shift`.
fn id_field(value: u64, shift: u32) -> u64 {
    (value >> shift) & 0xF
}

/// A guest's ID registers (HCR_EL2.TID3): SVE, SME, MTE, RAS, PMU, pointer
/// authentication, WFxT, LORegions, VHE and SCXTNUM read as absent; the
/// base features (FP, AdvSIMD, the GIC interface, BTI, debug) as the host
/// sees them.
fn id_registers(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::id_registers())?;
    enter_and_clean_exit(fx.vcpu())?;
    let x = read_state(fx.vcpu())?.x;
    let (pfr0, pfr1, dfr0, isar1, isar2, zfr0, mmfr1) = (x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
    let host_pfr0 = host_id_register!("id_aa64pfr0_el1");
    let host_pfr1 = host_id_register!("id_aa64pfr1_el1");
    let host_dfr0 = host_id_register!("id_aa64dfr0_el1");
    let hidden = [
        ("ID_AA64PFR0.RAS", pfr0, 28),
        ("ID_AA64PFR1.RAS_frac", pfr1, 12),
        ("ID_AA64PFR1.CSV2_frac", pfr1, 32),
        ("ID_AA64MMFR1.LO", mmfr1, 16),
        ("ID_AA64MMFR1.VH", mmfr1, 8),
        ("ID_AA64PFR0.SVE", pfr0, 32),
        ("ID_AA64PFR0.AMU", pfr0, 44),
        ("ID_AA64PFR1.MTE", pfr1, 8),
        ("ID_AA64PFR1.SME", pfr1, 24),
        ("ID_AA64DFR0.PMUVer", dfr0, 8),
        ("ID_AA64DFR0.PMSVer", dfr0, 32),
        ("ID_AA64ISAR1.APA", isar1, 4),
        ("ID_AA64ISAR1.API", isar1, 8),
        ("ID_AA64ISAR1.GPA", isar1, 24),
        ("ID_AA64ISAR1.GPI", isar1, 28),
        ("ID_AA64ISAR2.WFxT", isar2, 0),
        ("ID_AA64ISAR2.APA3", isar2, 12),
    ];
    for (name, value, shift) in hidden {
        ensure!(
            id_field(value, shift) == 0,
            "guest sees {name} = {}",
            id_field(value, shift)
        );
    }
    ensure!(zfr0 == 0, "guest ID_AA64ZFR0_EL1 = {zfr0:#x}, want 0");
    // CSV2 2 and up would advertise SCXTNUM_EL0/EL1, which trap for guests.
    ensure!(
        id_field(pfr0, 56) <= 1,
        "guest sees ID_AA64PFR0.CSV2 = {}",
        id_field(pfr0, 56)
    );
    let kept = [
        ("ID_AA64PFR0.EL1", pfr0, host_pfr0, 4),
        ("ID_AA64PFR0.FP", pfr0, host_pfr0, 16),
        ("ID_AA64PFR0.AdvSIMD", pfr0, host_pfr0, 20),
        ("ID_AA64PFR0.GIC", pfr0, host_pfr0, 24),
        ("ID_AA64PFR1.BT", pfr1, host_pfr1, 0),
        ("ID_AA64DFR0.DebugVer", dfr0, host_dfr0, 0),
        ("ID_AA64DFR0.BRPs", dfr0, host_dfr0, 12),
    ];
    for (name, guest, host, shift) in kept {
        ensure!(
            id_field(guest, shift) == id_field(host, shift),
            "guest sees {name} = {}, the hardware has {}",
            id_field(guest, shift),
            id_field(host, shift)
        );
    }
    Ok(())
}

/// ZXV_INFO_VCPU_EXITS counts what the guest did: seven ID-register reads
/// (sysreg) and the MEM-trap store that ends it, and nothing before the
/// first enter; a guest handle is WRONG_TYPE, a short buffer
/// BUFFER_TOO_SMALL.
fn exit_counts(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::id_registers())?;
    let before = ok(
        "get_info before enter",
        object_get_info_vcpu_exits(fx.vcpu()),
    )?;
    ensure!(
        before.total() == 0,
        "a new vCPU has {} exits",
        before.total()
    );
    enter_and_clean_exit(fx.vcpu())?;
    let after = ok("get_info", object_get_info_vcpu_exits(fx.vcpu()))?;
    for (kind, want) in [
        (ExitKind::SysReg, 7),
        (ExitKind::MemTrap, 1),
        (ExitKind::Hvc, 0),
        (ExitKind::Wfi, 0),
        (ExitKind::Other, 0),
    ] {
        ensure!(
            after.get(kind) == want,
            "{} exits: {}, want {want}",
            kind.name(),
            after.get(kind)
        );
    }
    let mut buf = [0u8; VcpuExits::SIZE];
    let no_inspect = dup_vcpu_without(fx.vcpu(), Rights::INSPECT)?;
    for topic in [ZXV_INFO_VCPU_EXITS, INFO_VCPU] {
        expect_vcpu_handle_errors("object_get_info", &fx, no_inspect.h(), "INSPECT", |h| {
            object_get_info(h, topic, &mut buf)
        })?;
    }
    ensure!(
        object_get_info(fx.vcpu(), ZXV_INFO_VCPU_EXITS, &mut buf[..8])
            == Err(Status::BUFFER_TOO_SMALL),
        "an 8-byte buffer did not give BUFFER_TOO_SMALL"
    );
    Ok(())
}

/// Enters of a guest whose every exit the monitor cannot handle.
const FLOOD_ENTERS: u32 = 3000;

/// A guest that keeps loading from an unmapped IPA, entered FLOOD_ENTERS
/// times: each enter is NOT_FOUND. The monitor logs the first few exits
/// only and says how many more it suppressed when the guest goes
/// (issue 16 item 8); the line `flood: guest KOID ...` lets qemu-test.sh
/// count its lines in the log.
fn unmapped_access_flood(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::unmapped_access())?;
    let koid = ok(
        "object_get_info(guest)",
        object_get_info_handle_basic(fx.guest()),
    )?
    .koid;
    for i in 0..FLOOD_ENTERS {
        expect_enter(fx.vcpu(), Status::NOT_FOUND)
            .map_err(|why| crate::why!("enter {i}: {why}"))?;
    }
    crate::println!("flood: guest {koid} made {FLOOD_ENTERS} exits to an unmapped IPA");
    Ok(())
}
