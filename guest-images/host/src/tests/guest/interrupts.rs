//! Kicks and virtual interrupts (docs/abi.md §2, §4; reference §3.5, §3.6, §5.4,
//! §5.6, §5.7; §6.2 #3, #11, #27 and #21 with the kick before the enter):
//! `zx_vcpu_kick` and ZX_INFO_VCPU, `zx_vcpu_interrupt` delivered through
//! the GIC list registers and acknowledged by the guest, each call also made
//! from a second physical CPU.

use super::fixture::*;
use crate::cpus;
use crate::ensure;
use crate::guest_code::{self, Code};
use crate::platform::Board;
use crate::suite::{Reason, Suite, TestResult};
use crate::tests::info::get_info;
use core::sync::atomic::{AtomicBool, Ordering};
use syscalls::client::{object_get_info, port_create, vcpu_interrupt, vcpu_kick};
use syscalls::hypervisor::VcpuState;
use syscalls::object::{InfoVcpu, INFO_VCPU, INFO_VCPU_FLAG_KICKED};
use syscalls::port::{PortPacket, PKT_TYPE_GUEST_MEM};
use syscalls::{Handle, Rights, Status};

/// The CPU that kicks, interrupts and watches from elsewhere.
const OTHER: usize = 1;
/// How long the main CPU waits for a job on the other CPU.
const WAIT_MS: u64 = 10_000;
/// How long a watched enter may block before the other CPU kicks it.
const WATCHDOG_MS: u64 = 5_000;
/// The watchdog's result when it had to kick.
const WATCHDOG_KICKED: i32 = 1;
/// kInterruptVector.
const VECTOR: u32 = 32;
/// The INTID an IAR read gives when nothing is pending.
const SPURIOUS: u64 = 1023;
/// Codes the interrupt guests leave in x6 before test_failure
/// (interrupts.S `irq_test_start`).
const NO_IRQ: u64 = 1;
const SYNC_VECTOR: u64 = 0x200;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("guest_vcpu_kick_before_enter", || {
        kick_before_enter(resource)
    });
    suite.run("guest_vcpu_kick_twice", || kick_twice(resource));
    suite.run("guest_vcpu_info_kicked", || info_kicked(resource));
    suite.run("guest_vcpu_info_errors", || info_errors(resource));
    suite.run("guest_vcpu_kick_from_other_cpu", || {
        kick_from_other_cpu(board, resource)
    });
    suite.run("guest_vcpu_kick_errors", || kick_errors(resource));
    suite.run("guest_vcpu_interrupt", || {
        let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_interrupt())?;
        ok("vcpu_interrupt(32)", vcpu_interrupt(fx.vcpu(), VECTOR))?;
        irq_exit(fx.vcpu(), enter(fx.vcpu()))
    });
    suite.run("guest_vcpu_wfi_pending_interrupt", || {
        wfi_pending_interrupt(board, resource)
    });
    suite.run("guest_interrupt_from_other_cpu", || {
        interrupt_from_other_cpu(board, resource)
    });
    suite.run("guest_vcpu_interrupt_out_of_bounds", || {
        out_of_bounds(resource)
    });
    suite.run("guest_vcpu_interrupt_errors", || interrupt_errors(resource));
    suite.run("guest_more_interrupts_than_list_registers", || {
        more_than_lrs(board, resource)
    });
    let kinds = [
        ("guest_interrupt_sgi_ack_eoi", 1),
        ("guest_interrupt_ppi_ack_eoi", 20),
        ("guest_interrupt_spi_ack_eoi", 40),
    ];
    for (name, vector) in kinds {
        suite.run(name, || ack_eoi(board, resource, vector));
    }
    suite.run("guest_interrupt_sgi_source", || sgi_source(board, resource));
}

/// docs/abi.md §2: on GICv2 an SGI's vector carries its source vCPU in bits
/// 12:10 and the guest reads it from GICV_IAR; on GICv3, and for PPIs and
/// SPIs on either, those bits are OUT_OF_RANGE.
fn sgi_source(board: &Board, resource: Handle) -> TestResult {
    let gic = Gic::of(board);
    let fx = Fixture::new(resource, GUEST_RAM, gic.ack_eoi())?;
    let sourced = 5 | 3 << 10;
    for vector in [20 | 1 << 10, 40 | 1 << 10, 5 | 1 << 13] {
        crate::suite::expect(
            &crate::why!("vcpu_interrupt({vector:#x})"),
            vcpu_interrupt(fx.vcpu(), vector),
            Status::OUT_OF_RANGE,
        )?;
    }
    if gic.v3 {
        return crate::suite::expect(
            &crate::why!("GICv3: vcpu_interrupt({sourced:#x})"),
            vcpu_interrupt(fx.vcpu(), sourced),
            Status::OUT_OF_RANGE,
        );
    }
    ok(
        &crate::why!("vcpu_interrupt({sourced:#x})"),
        vcpu_interrupt(fx.vcpu(), sourced),
    )?;
    gic.enter(fx.vcpu(), enter(fx.vcpu()))?;
    let s = read_state(fx.vcpu())?;
    ensure!(
        s.x[2] & 0x1fff == u64::from(sourced) && gic.intid(s.x[3]) == SPURIOUS,
        "GICV_IAR gave {:#x} then {:#x} after the EOI, want {sourced:#x} (SGI 5 from vCPU 3) \
         then 1023",
        s.x[2],
        s.x[3]
    );
    Ok(())
}

/// Prefixes a step's failure with `what`.
fn step(what: &str, r: TestResult) -> TestResult {
    r.map_err(|why| crate::why!("{what}: {why}"))
}

/// The vCPU's ZX_INFO_VCPU flags, checking actual = avail = 1.
fn vcpu_flags(vcpu: Handle) -> Result<u32, Reason> {
    let mut buf = [0u8; InfoVcpu::SIZE];
    let (actual, avail) = ok(
        "object_get_info(ZX_INFO_VCPU)",
        object_get_info(vcpu, INFO_VCPU, &mut buf),
    )?;
    ensure!(
        (actual, avail) == (1, 1),
        "object_get_info(ZX_INFO_VCPU): actual {actual} avail {avail}, want 1 and 1"
    );
    Ok(InfoVcpu::from_bytes(&buf).flags)
}

/// Checks the KICKED flag against `kicked`; `when` says at which point.
fn expect_kicked(vcpu: Handle, kicked: bool, when: &str) -> TestResult {
    let flags = vcpu_flags(vcpu)?;
    let want = if kicked { INFO_VCPU_FLAG_KICKED } else { 0 };
    ensure!(
        flags == want,
        "ZX_INFO_VCPU flags {when}: got {flags:#x}, want {want:#x}"
    );
    Ok(())
}

/// A kicked enter returns CANCELED, the next one runs the guest normally.
fn canceled_then_clean(vcpu: Handle) -> TestResult {
    step("first enter", expect_enter(vcpu, Status::CANCELED))?;
    step("enter after CANCELED", enter_and_clean_exit(vcpu))
}

fn kick_before_enter(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    ok("vcpu_kick", vcpu_kick(fx.vcpu()))?;
    canceled_then_clean(fx.vcpu())
}

fn kick_twice(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    ok("first vcpu_kick", vcpu_kick(fx.vcpu()))?;
    ok("second vcpu_kick", vcpu_kick(fx.vcpu()))?;
    canceled_then_clean(fx.vcpu())
}

fn info_kicked(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let vcpu = fx.vcpu();
    expect_kicked(vcpu, false, "of a new vcpu")?;
    ok("vcpu_kick", vcpu_kick(vcpu))?;
    expect_kicked(vcpu, true, "after a kick")?;
    ok("second vcpu_kick", vcpu_kick(vcpu))?;
    expect_kicked(vcpu, true, "after a second kick")?;
    step("first enter", expect_enter(vcpu, Status::CANCELED))?;
    expect_kicked(vcpu, false, "after the CANCELED enter")?;
    step("enter after CANCELED", enter_and_clean_exit(vcpu))?;
    expect_kicked(vcpu, false, "after the clean exit")
}

fn info_errors(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let port = Owned(ok("port_create", port_create(0))?);
    let mut buf = [0xAAu8; 8];
    let ptr = buf.as_mut_ptr() as u64;
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, 4, Status::BAD_HANDLE),
        ("the guest", fx.guest(), 4, Status::WRONG_TYPE),
        ("a port", port.h(), 4, Status::WRONG_TYPE),
        ("a 3-byte buffer", fx.vcpu(), 3, Status::BUFFER_TOO_SMALL),
        ("a 0-byte buffer", fx.vcpu(), 0, Status::BUFFER_TOO_SMALL),
    ];
    for (what, h, size, want) in cases {
        let (got, actual, avail) = get_info(h, INFO_VCPU, ptr, size);
        ensure!(
            got == want,
            "object_get_info(ZX_INFO_VCPU, {what}): got {got}, want {want}"
        );
        ensure!(
            buf == [0xAA; 8],
            "object_get_info(ZX_INFO_VCPU, {what}) wrote the buffer"
        );
        if want == Status::BUFFER_TOO_SMALL {
            ensure!(
                (actual, avail) == (0, 1),
                "object_get_info(ZX_INFO_VCPU, {what}): actual {actual} avail {avail}, want 0 and 1"
            );
        }
    }
    let (got, actual, avail) = get_info(fx.vcpu(), INFO_VCPU, ptr, 8);
    ensure!(
        got == Status::OK && (actual, avail) == (1, 1),
        "object_get_info(ZX_INFO_VCPU, an 8-byte buffer): got {got}, actual {actual} \
         avail {avail}, want ZX_OK, 1 and 1"
    );
    ensure!(
        buf == [0, 0, 0, 0, 0xAA, 0xAA, 0xAA, 0xAA],
        "ZX_INFO_VCPU into an 8-byte buffer of 0xaa: got {buf:x?}, want flags 0 \
         in the first 4 bytes and the rest untouched"
    );
    Ok(())
}

/// A job's result code: the raw status of the call it made.
fn status_code(r: syscalls::ZxResult) -> i32 {
    r.err().unwrap_or(Status::OK).into_raw()
}

/// On the other CPU: `zx_vcpu_kick` of the main CPU's vCPU.
fn kick_job(vcpu: usize) -> i32 {
    status_code(vcpu_kick(Handle::from_raw(vcpu as u32)))
}

/// On the other CPU: `zx_vcpu_interrupt(32)` on the main CPU's vCPU.
fn interrupt_job(vcpu: usize) -> i32 {
    status_code(vcpu_interrupt(Handle::from_raw(vcpu as u32), VECTOR))
}

/// Runs `job(vcpu)` on the other CPU and checks that its call returned OK.
fn call_from_other_cpu(board: &Board, what: &str, job: cpus::Job, vcpu: Handle) -> TestResult {
    cpus::start(board, OTHER)?;
    cpus::run_on(OTHER, job, vcpu.raw() as usize);
    let Some(raw) = cpus::wait_job(OTHER, WAIT_MS) else {
        return Err(crate::why!(
            "{what} on CPU {OTHER} did not return within 10 s"
        ));
    };
    expect_status(
        &crate::why!("{what} from CPU {OTHER}"),
        Status::from_raw(raw),
        Status::OK,
    )
}

fn kick_from_other_cpu(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    call_from_other_cpu(board, "vcpu_kick", kick_job, fx.vcpu())?;
    expect_kicked(fx.vcpu(), true, "after the kick from another CPU")?;
    canceled_then_clean(fx.vcpu())
}

fn kick_errors(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    let no_exec = dup_vcpu_without(fx.vcpu(), Rights::EXECUTE)?;
    expect_vcpu_handle_errors("vcpu_kick", &fx, no_exec.h(), "EXECUTE", vcpu_kick)?;
    expect_kicked(fx.vcpu(), false, "after refused kicks")?;
    step("enter after refused kicks", enter_and_clean_exit(fx.vcpu()))
}

/// Why an interrupt test guest reported test_failure (the x6/x7/x8 codes
/// of interrupts.S `irq_test_start`).
fn guest_failure(s: &VcpuState) -> Reason {
    match s.x[6] {
        NO_IRQ => crate::why!(
            "no IRQ reached the guest's vector 0x280 in 1,000,000 loops with IRQs unmasked"
        ),
        SYNC_VECTOR => crate::why!(
            "the guest took a synchronous exception, ESR_EL1 {:#x} at ELR_EL1 {:#x}",
            s.x[7],
            s.x[8]
        ),
        code => crate::why!("the guest reported test_failure with x6 = {code:#x}"),
    }
}

/// True if `p` is the guest's test_failure exit.
fn is_failure(p: &PortPacket) -> bool {
    p.type_ == PKT_TYPE_GUEST_MEM && p.guest_mem().addr == EXIT_TEST_FAILURE_ADDR
}

/// Checks that an interrupt test guest's enter gave its clean exit, saying
/// why it gave up otherwise.
fn irq_exit(vcpu: Handle, entered: syscalls::ZxResult<PortPacket>) -> TestResult {
    let p = entered.map_err(|s| crate::why!("enter: got {s}, want ZX_OK (clean exit)"))?;
    if is_failure(&p) {
        return Err(guest_failure(&read_state(vcpu)?));
    }
    clean_exit(&p)
}

/// The interrupt guests for the board's GIC, and the INTID field of its IAR.
struct Gic {
    v3: bool,
}

impl Gic {
    fn of(board: &Board) -> Self {
        Gic {
            v3: board.gic_version == 3,
        }
    }

    fn wfi_pending_interrupt(&self) -> Code {
        if self.v3 {
            guest_code::vcpu_wfi_pending_interrupt_v3()
        } else {
            guest_code::vcpu_wfi_pending_interrupt_v2()
        }
    }

    fn ack_eoi(&self) -> Code {
        if self.v3 {
            guest_code::irq_ack_eoi_v3()
        } else {
            guest_code::irq_ack_eoi_v2()
        }
    }

    /// The INTID of an IAR value: ICC_IAR1_EL1 \[23:0\]; GICV_IAR \[9:0\]
    /// (its bits \[12:10\] name the CPU that sent an SGI).
    fn intid(&self, iar: u64) -> u64 {
        iar & if self.v3 { 0xFF_FFFF } else { 0x3FF }
    }

    /// The register the guest acknowledges with, for failure reasons.
    fn iar(&self) -> &'static str {
        if self.v3 {
            "ICC_IAR1_EL1"
        } else {
            "GICV_IAR"
        }
    }

    /// An interrupt guest's enter result, with a hint when a GICv2 guest's
    /// GICV access found nothing mapped.
    fn enter(&self, vcpu: Handle, entered: syscalls::ZxResult<PortPacket>) -> TestResult {
        match entered {
            Err(Status::NOT_FOUND) if !self.v3 => Err(crate::why!(
                "enter: got ZX_ERR_NOT_FOUND, want ZX_OK: is the GICV frame mapped at \
                 guest IPA 0x8_0000_1000?"
            )),
            entered => irq_exit(vcpu, entered),
        }
    }
}

/// Set by the main CPU when a watched enter has returned.
static ENTER_DONE: AtomicBool = AtomicBool::new(false);

/// On the other CPU: kicks the vCPU unless the main CPU's enter returns
/// within WATCHDOG_MS. 0 if it returned, WATCHDOG_KICKED after a kick, or
/// the kick's failing status.
fn watchdog(vcpu: usize) -> i32 {
    if cpus::wait_for(WATCHDOG_MS, || ENTER_DONE.load(Ordering::SeqCst)) {
        return 0;
    }
    match vcpu_kick(Handle::from_raw(vcpu as u32)) {
        Ok(()) => WATCHDOG_KICKED,
        Err(s) => s.into_raw(),
    }
}

/// `enter` for a guest that may block in WFI: the other CPU kicks the vCPU
/// if the enter has not returned within WATCHDOG_MS.
fn enter_watched(board: &Board, vcpu: Handle) -> Result<syscalls::ZxResult<PortPacket>, Reason> {
    cpus::start(board, OTHER)?;
    ENTER_DONE.store(false, Ordering::SeqCst);
    cpus::run_on(OTHER, watchdog, vcpu.raw() as usize);
    let entered = enter(vcpu);
    ENTER_DONE.store(true, Ordering::SeqCst);
    let got = entered.err().unwrap_or(Status::OK);
    match cpus::wait_job(OTHER, WAIT_MS) {
        Some(0) => Ok(entered),
        Some(WATCHDOG_KICKED) => Err(crate::why!(
            "enter blocked for 5 s, until CPU {OTHER} kicked the vcpu (then it gave {got})"
        )),
        Some(raw) => Err(crate::why!(
            "enter took over 5 s (it gave {got}); CPU {OTHER}'s kick got {}",
            Status::from_raw(raw)
        )),
        None => Err(crate::why!(
            "the watchdog on CPU {OTHER} did not finish within 10 s"
        )),
    }
}

fn wfi_pending_interrupt(board: &Board, resource: Handle) -> TestResult {
    let gic = Gic::of(board);
    let fx = Fixture::new(resource, GUEST_RAM, gic.wfi_pending_interrupt())?;
    ok("vcpu_interrupt(32)", vcpu_interrupt(fx.vcpu(), VECTOR))?;
    ok("vcpu_interrupt(33)", vcpu_interrupt(fx.vcpu(), VECTOR + 1))?;
    let entered = enter_watched(board, fx.vcpu())?;
    gic.enter(fx.vcpu(), entered)?;
    let s = read_state(fx.vcpu())?;
    let intid = gic.intid(s.x[2]);
    ensure!(
        intid == u64::from(VECTOR),
        "the guest's {} read gave {:#x} (INTID {intid}), want INTID 32 (the lowest pending first)",
        gic.iar(),
        s.x[2]
    );
    let (_, freq) = counter();
    let ms = s.x[3] * 1000 / freq;
    ensure!(
        s.x[3] < freq / 4,
        "the guest's WFI with INTID 33 pending in a list register took {ms} ms, want an \
         immediate return"
    );
    Ok(())
}

fn interrupt_from_other_cpu(board: &Board, resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_interrupt())?;
    call_from_other_cpu(board, "vcpu_interrupt(32)", interrupt_job, fx.vcpu())?;
    irq_exit(fx.vcpu(), enter(fx.vcpu()))
}

fn out_of_bounds(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_enter())?;
    for vector in [u32::MAX, 256] {
        crate::suite::expect(
            &crate::why!("vcpu_interrupt({vector:#x})"),
            vcpu_interrupt(fx.vcpu(), vector),
            Status::OUT_OF_RANGE,
        )?;
    }
    enter_and_clean_exit(fx.vcpu())
}

fn interrupt_errors(resource: Handle) -> TestResult {
    let fx = Fixture::new(resource, GUEST_RAM, guest_code::vcpu_interrupt())?;
    let vcpu = fx.vcpu();
    let no_signal = dup_vcpu_without(vcpu, Rights::SIGNAL)?;
    #[rustfmt::skip]
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, VECTOR, Status::BAD_HANDLE),
        ("an unused handle", Handle::from_raw(0xDEAD_BEEC), VECTOR, Status::BAD_HANDLE),
        ("the guest", fx.guest(), VECTOR, Status::WRONG_TYPE),
        ("the guest, vector 256", fx.guest(), 256, Status::WRONG_TYPE),
        ("a vcpu without SIGNAL", no_signal.h(), VECTOR, Status::ACCESS_DENIED),
        ("a vcpu without SIGNAL, vector 256", no_signal.h(), 256, Status::ACCESS_DENIED),
        ("vector 256", vcpu, 256, Status::OUT_OF_RANGE),
        ("vector 0x80000020", vcpu, 0x8000_0020, Status::OUT_OF_RANGE),
    ];
    for (what, h, vector, want) in cases {
        let got = vcpu_interrupt(h, vector);
        crate::suite::expect(&crate::why!("vcpu_interrupt({what})"), got, want)?;
    }
    // Nothing may be pending now: the guest must wait in vain.
    let p = ok("enter", enter(vcpu))?;
    if is_failure(&p) {
        let s = read_state(vcpu)?;
        ensure!(s.x[6] == NO_IRQ, "{}", guest_failure(&s));
        return Ok(());
    }
    step("enter after refused interrupts", clean_exit(&p))?;
    Err(crate::why!(
        "the guest took an IRQ after every vcpu_interrupt call was refused"
    ))
}

/// `vector` is delivered as that INTID, and the guest's EOI ends it: the
/// IAR read again afterwards is spurious.
fn ack_eoi(board: &Board, resource: Handle, vector: u32) -> TestResult {
    let gic = Gic::of(board);
    let fx = Fixture::new(resource, GUEST_RAM, gic.ack_eoi())?;
    ok(
        &crate::why!("vcpu_interrupt({vector})"),
        vcpu_interrupt(fx.vcpu(), vector),
    )?;
    gic.enter(fx.vcpu(), enter(fx.vcpu()))?;
    let s = read_state(fx.vcpu())?;
    let (first, second) = (gic.intid(s.x[2]), gic.intid(s.x[3]));
    ensure!(
        first == u64::from(vector),
        "the guest's {} read gave {:#x} (INTID {first}), want INTID {vector}",
        gic.iar(),
        s.x[2]
    );
    ensure!(
        second == SPURIOUS,
        "after the EOI, {} gave {:#x} (INTID {second}), want 1023 (nothing pending)",
        gic.iar(),
        s.x[3]
    );
    Ok(())
}

/// Eight vectors at once, more than the four list registers of QEMU's GIC:
/// the rest must follow through the underflow maintenance interrupt while
/// the guest runs.
fn more_than_lrs(board: &Board, resource: Handle) -> TestResult {
    let code = if board.gic_version == 3 {
        guest_code::eight_irqs_v3()
    } else {
        guest_code::eight_irqs_v2()
    };
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    for vector in 32..40 {
        ok(
            "vcpu_interrupt",
            syscalls::client::vcpu_interrupt(fx.vcpu(), vector),
        )?;
    }
    let p = ok("enter", enter(fx.vcpu()))?;
    let got = read_state(fx.vcpu())?.x[20];
    ensure!(
        p.guest_mem().addr == EXIT_TEST_ADDR,
        "the guest gave up with vectors {got:#x} of 0xff (the ones beyond the list registers never came)"
    );
    ensure!(got == 0xff, "vectors received: {got:#x}, want 0xff");
    Ok(())
}
