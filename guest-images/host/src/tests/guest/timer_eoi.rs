//! The virtual timer's line through the sequence that lost it for a Linux
//! guest under load (fixed in 5186053): the guest EOIs its timer interrupt
//! and exits at once, and the refill before the next entry puts another
//! interrupt into the list register that asked for the EOI maintenance
//! interrupt, which clears that request. The line must be let through again
//! all the same, so the next expiry interrupts the guest.
//!
//! Here the exit is an unknown hvc and the refill is for an SPI that did not
//! fit in the list registers, so the sequence runs the same way every time.
//! It does not reproduce that bug's race: QEMU still delivers the
//! maintenance interrupt in this order (a monitor without the fix, which
//! settled the line only on that interrupt, passes too), and the loss
//! needed a second physical interrupt taken first, which a test cannot time.

use super::fixture::*;
use crate::guest_code;
use crate::platform::Board;
use crate::suite::{Reason, Suite, TestResult};
use crate::{ensure, why};
use syscalls::client::{vcpu_interrupt, vcpu_write_state};
use syscalls::Handle;

/// The SPIs injected while PPI 27 sits in a list register: with the 4 list
/// registers of QEMU's GICs, one of them stays pending in the monitor.
const SPIS: core::ops::RangeInclusive<u32> = 32..=35;
/// The guest's exit to the host between its steps (timer_eoi.S).
const EXIT_TO_HOST: u64 = EXIT_TEST_ADDR + 0x10;

pub fn run(suite: &mut Suite, board: &Board, resource: Handle) {
    suite.run("guest_timer_after_eoi_exit_and_refill", || {
        timer_eoi_refill(board, resource)
    });
}

/// What the guest's x6 code says went wrong (timer_eoi.S).
fn failure(x6: u64, x7: u64) -> Reason {
    match x6 {
        1 => why!("the due timer never showed as the highest pending interrupt"),
        2 => why!(
            "the second timer interrupt did not come within 1 s of its deadline: the line \
             stayed quiet after the first one's EOI"
        ),
        4 => why!("the guest acknowledged IAR {x7:#x}, want INTID 27 or 32-35"),
        6 => why!("the guest did not take its timer interrupt and SPIs 32-35 within 1 s"),
        0x200 => why!("the guest took a synchronous exception: ESR_EL1 {x7:#x}"),
        code => why!("the guest reported test_failure with x6 = {code:#x}"),
    }
}

/// Enters, and explains a test_failure exit.
fn enter_step(vcpu: Handle, step: &str) -> Result<syscalls::port::PortPacket, Reason> {
    let p = enter(vcpu).map_err(|s| why!("{step}: enter got {s}, want ZX_OK"))?;
    if p.guest_mem().addr == EXIT_TEST_FAILURE_ADDR {
        let s = read_state(vcpu)?;
        return Err(why!("{step}: {}", failure(s.x[6], s.x[7])));
    }
    Ok(p)
}

fn timer_eoi_refill(board: &Board, resource: Handle) -> TestResult {
    let code = if board.gic_version == 3 {
        guest_code::timer_eoi_refill_v3()
    } else {
        guest_code::timer_eoi_refill_v2()
    };
    let fx = Fixture::new(resource, GUEST_RAM, code)?;
    let vcpu = fx.vcpu();
    let (_, freq) = counter();
    let mut s = read_state(vcpu)?;
    s.x[10] = freq / 1000;
    s.x[11] = freq;
    ok("write_state", vcpu_write_state(vcpu, &s))?;
    let p = enter_step(vcpu, "with the timer due")?;
    ensure!(
        p.guest_mem().addr == EXIT_TO_HOST,
        "first enter: exit at {:#x}, want the guest's exit to the host at {EXIT_TO_HOST:#x}",
        p.guest_mem().addr
    );
    for spi in SPIS {
        vcpu_interrupt(vcpu, spi)
            .map_err(|st| why!("vcpu_interrupt({spi}): got {st}, want ZX_OK"))?;
    }
    let p = enter_step(vcpu, "after the SPIs")?;
    clean_exit(&p)?;
    let s = read_state(vcpu)?;
    ensure!(
        s.x[21] == 2 && s.x[23] == 4,
        "the guest counted {} timer interrupts and {} SPIs, want 2 and 4",
        s.x[21],
        s.x[23]
    );
    Ok(())
}
