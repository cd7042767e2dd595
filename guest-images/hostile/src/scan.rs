//! The isolation scan (command line `scan`): the guest maps its IPA space from its device
//! tree (`regions.rs`, up to the VMM's 64 GiB or PARange if less) and probes it
//! (`probes.rs`) with loads and stores whose aborts its vector skips. Its own RAM must read
//! and write back and hold no isolation canary (the VMM's, `zxv_vmm::canary`: a magic the
//! scan computes, never keeps, and 8 random bytes); each device must answer its ID
//! registers as its compatible string says; everything else must abort or read 0, keep no
//! store and never show the canary. One line per region, `isolation: BASE..END NAME: ok
//! ...` or `... FAIL why`, then `isolation: N regions, M failed`, and the guest powers off.
//! The scan knows nothing of the VMM but what its device tree says, so it scans a second
//! guest of the same VMM as it scans the first.

use crate::arch::{probe_load32, probe_load64, probe_store64, read64};
use crate::driver::Why;
use crate::probes::{pages, BLOCK};
use crate::regions::{self, Check, Kind, Region, PAGE};
use crate::{canary, say, why};
use syscalls::hypervisor::GUEST_PHYS_ASPACE_SIZE;

/// What the scan stores outside RAM and devices.
const PATTERN: u64 = 0xa5c3_5a3c_0ff0_f00f;
/// ESR_EL1.EC of a data abort taken without a change of level.
const EC_DATA_ABORT: u64 = 0x25;

/// What a region's scan found: a summary, or the first thing that is wrong.
type Found = Result<Why, Why>;

/// Runs the scan; a `self_test` plants a canary in RAM and scans 2 MiB of RAM (below the
/// DTB's) as if it were outside, so that exactly those two regions must fail. With `key`
/// it first waits for a key on the console (so that another guest can be made ready).
pub fn run(fdt: &fdt::Fdt, self_test: bool, key: bool) -> ! {
    if key {
        say!("isolation: waiting for a key on the console");
        say!("isolation: key {:#04x}", crate::arch::wait_for_key());
    }
    let pa_bits = crate::arch::pa_bits();
    let top = GUEST_PHYS_ASPACE_SIZE.min(1 << pa_bits);
    say!(
        "isolation: scanning {} GiB of IPA space (the VMM's guest space is {} GiB, PARange {pa_bits} bits)",
        top >> 30,
        GUEST_PHYS_ASPACE_SIZE >> 30
    );
    let map =
        regions::map(fdt, top).and_then(|map| match map.iter().find(|r| r.kind == Kind::Ram) {
            Some(ram) if self_test => {
                plant(ram.base + ram.size / 2);
                let hole = ram.end() - 2 * BLOCK..ram.end() - BLOCK;
                say!(
                    "isolation: self-test: a canary at {:#x}, RAM at {:#x}..{:#x} taken as outside",
                    ram.base + ram.size / 2,
                    hole.start,
                    hole.end
                );
                regions::punch(&map, hole, top)
            }
            _ => Ok(map),
        });
    let map = match map {
        Ok(map) => map,
        Err(e) => {
            say!("isolation: FAIL the device tree cannot be mapped: {e:?}");
            say!("isolation: 0 regions, 1 failed");
            crate::arch::system_off()
        }
    };
    let mut failed = 0;
    for r in &map {
        let found = match r.kind {
            Kind::Ram => ram(r),
            Kind::Device(check) => device(r, check),
            Kind::Outside => outside(r),
        };
        match found {
            Ok(what) => say!(
                "isolation: {:#x}..{:#x} {}: ok {what}",
                r.base,
                r.end(),
                r.name
            ),
            Err(why) => {
                failed += 1;
                say!(
                    "isolation: {:#x}..{:#x} {}: FAIL {why}",
                    r.base,
                    r.end(),
                    r.name
                );
            }
        }
    }
    say!("isolation: {} regions, {failed} failed", map.len());
    crate::arch::system_off()
}

/// A canary of the scan's own at `addr` in RAM (16-byte aligned, outside this image).
fn plant(addr: u64) {
    probe_store64(addr, canary::magic());
    probe_store64(addr + 8, 0x0123_4567_89ab_cdef);
}

/// The 16 bytes at `addr`, in hex in memory order (as the VMM reports the canary); a word
/// that aborts shows as 0.
fn hex16(addr: u64) -> arrayvec::ArrayString<32> {
    let mut s = arrayvec::ArrayString::new();
    for word in [probe_load64(addr).value, probe_load64(addr + 8).value] {
        for b in word.to_le_bytes() {
            let _ = core::fmt::Write::write_fmt(&mut s, format_args!("{b:02x}"));
        }
    }
    s
}

/// Every page of RAM: readable, free of the canary, and (outside this image) keeping a
/// store to its last word.
fn ram(r: &Region) -> Found {
    // RAM the scan reads but does not store to.
    let image = crate::arch::image();
    let mut pages_seen = 0u64;
    for page in pages(r) {
        let first = probe_load64(page);
        if first.esr != 0 {
            return Err(why!("RAM at {page:#x} aborted (ESR {:#x})", first.esr));
        }
        if let Some(at) = (page..page + PAGE)
            .step_by(canary::ALIGN)
            .find(|&a| canary::is_magic(read64(a)))
        {
            return Err(why!("the VMM's canary at {at:#x}: {}", hex16(at)));
        }
        let last = page + PAGE - 8;
        if !image.contains(&last) {
            let old = probe_load64(last).value;
            probe_store64(last, !old);
            let back = probe_load64(last);
            probe_store64(last, old);
            if back.esr != 0 || back.value != !old {
                return Err(why!(
                    "RAM at {last:#x} kept {:#x} of a store of {:#x} (ESR {:#x})",
                    back.value,
                    !old,
                    back.esr
                ));
            }
        }
        pages_seen += 1;
    }
    Ok(why!("{pages_seen} pages read and written back, no canary"))
}

/// A 32-bit register of a device, which must not abort.
fn reg(addr: u64) -> Result<u32, Why> {
    let p = probe_load32(addr);
    if p.esr != 0 {
        return Err(why!("the register at {addr:#x} aborted (ESR {:#x})", p.esr));
    }
    Ok(p.value as u32)
}

/// The device's ID registers answer as `check` says.
fn device(r: &Region, check: Check) -> Found {
    match check {
        Check::Virtio => {
            let (magic, version) = (reg(r.base)?, reg(r.base + 4)?);
            if (magic, version) != (0x7472_6976, 2) {
                return Err(why!("virtio-mmio MagicValue {magic:#x}, Version {version}"));
            }
            Ok(why!("virtio-mmio version 2"))
        }
        Check::PrimeCell { part } => {
            let periph = reg(r.base + 0xFE0)? & 0xff;
            let mut cell = 0;
            for (i, at) in (0xFF0..0x1000).step_by(4).enumerate() {
                cell |= (reg(r.base + at)? & 0xff) << (8 * i);
            }
            if (periph, cell) != (part, 0xB105_F00D) {
                return Err(why!(
                    "PeriphID0 {periph:#x}, PCellID {cell:#x}, want {part:#x}"
                ));
            }
            Ok(why!("PrimeCell part {part:#x}"))
        }
        Check::GicArch { pidr2, rev, stride } => {
            let mut frames = 0;
            for frame in (r.base..r.end()).step_by(stride as usize) {
                let arch = reg(frame + pidr2)? >> 4 & 0xf;
                if arch != rev {
                    return Err(why!("PIDR2.ArchRev {arch} at {frame:#x}, want {rev}"));
                }
                frames += 1;
            }
            Ok(why!("GIC architecture {rev}, {frames} frame(s)"))
        }
        Check::GicCpu => {
            let iidr = reg(r.base + 0xFC)?;
            if iidr >> 16 & 0xf != 2 {
                return Err(why!("GICC_IIDR {iidr:#x}, not architecture version 2"));
            }
            Ok(why!("GICv2 CPU interface"))
        }
        Check::Unchecked => Ok(why!("not probed (no check for it)")),
    }
}

/// What one load outside RAM and devices may show: nothing (an abort or 0).
fn nothing_at(addr: u64, value: u64, esr: u64, aborts: &mut u64) -> Result<(), Why> {
    if esr != 0 {
        if esr >> 26 != EC_DATA_ABORT {
            return Err(why!(
                "an exception other than a data abort at {addr:#x}: ESR {esr:#x}"
            ));
        }
        *aborts += 1;
        return Ok(());
    }
    if canary::is_magic(value) {
        return Err(why!("the VMM's canary at {addr:#x}: {}", hex16(addr)));
    }
    if value != 0 {
        return Err(why!("read {value:#x} at {addr:#x}"));
    }
    Ok(())
}

/// The probed pages of a gap: a load of the first word, a store to it and a load back,
/// and a load of the last word, each an abort or 0.
fn outside(r: &Region) -> Found {
    let (mut probed, mut aborts) = (0u64, 0u64);
    for page in pages(r) {
        let before = probe_load64(page);
        nothing_at(page, before.value, before.esr, &mut aborts)?;
        let stored = probe_store64(page, PATTERN);
        nothing_at(page, 0, stored.esr, &mut aborts)?;
        let back = probe_load64(page);
        if back.esr == 0 && back.value == PATTERN {
            probe_store64(page, before.value);
            return Err(why!("a store to {page:#x} stuck: memory is mapped there"));
        }
        nothing_at(page, back.value, back.esr, &mut aborts)?;
        let last = probe_load64(page + PAGE - 8);
        nothing_at(page + PAGE - 8, last.value, last.esr, &mut aborts)?;
        probed += 1;
    }
    Ok(why!(
        "{probed} pages probed: {aborts} of {} accesses aborted, the rest read 0",
        4 * probed
    ))
}
