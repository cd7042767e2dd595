//! The cases: for every device, stray register accesses, broken bring-ups and malformed
//! queues; then each device's own bad requests (the disk's beyond its end, with overflowing
//! sector numbers, read-only, without a header or a status; entropy and console buffers the
//! wrong way round; frames the network cannot send, and malformed receive queues found when
//! a frame from QEMU's user network comes in). After each case the device must come back from a reset and serve a
//! good request.

use crate::arch::{read32, read64, read8, write32, write64, write8};
use crate::driver::{
    all, fill, peek, Dev, Outcome, Ram, Vq, Why, CONFIG, CONFIG_GENERATION, DESC_F_INDIRECT,
    DEVICE_FEATURES, DEVICE_FEATURES_SEL, DEVICE_ID, DRIVER_FEATURES, DRIVER_FEATURES_SEL,
    INTERRUPT_STATUS, MAGIC, QUEUE_NUM, QUEUE_NUM_MAX, QUEUE_READY, QUEUE_SEL, STATUS, VENDOR,
    VERSION,
};
use crate::mode::Mode;
use crate::{expect, say, why};
use arrayvec::ArrayVec;
use zxv_devices::virtio::{
    BLK_SECTOR, BLK_S_IOERR, BLK_S_OK, BLK_S_UNSUPP, BLK_T_FLUSH, BLK_T_GET_ID, BLK_T_IN,
    BLK_T_OUT, DESC_F_NEXT, DESC_F_WRITE, FRAME_MAX, F_VERSION_1, ID_BLOCK, ID_CONSOLE, ID_ENTROPY,
    ID_NET, MMIO_SIZE, NET_HDR, QUEUE_MAX, STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK,
    STATUS_FEATURES_OK,
};

const W: u16 = DESC_F_WRITE;
/// What the guest finds where: its RAM, its GIC, and a 4 MiB buffer for big requests.
struct Ctx {
    ram: Ram,
    gic: u64,
    big: u64,
    cpus: usize,
}

/// Where each device's rings and buffers lie, from guest RAM's start.
const AREAS: u64 = 4 << 20;
const BUFS: u64 = 8 << 20;
const BIG: u64 = 16 << 20;
const BIG_SIZE: u64 = 4 << 20;
/// 126 descriptors over all of it make more than 8 GiB.
const RAM_NEEDED: u64 = 64 << 20;

struct Run {
    cases: u32,
    failed: u32,
}

impl Run {
    /// Runs one case on `dev`, then the reset and good request every case ends with.
    fn case(&mut self, dev: &mut Dev, name: &str, attack: impl FnOnce(&mut Dev) -> Outcome) {
        let outcome =
            attack(dev).and_then(|()| recover(dev).map_err(|w| why!("after a reset: {w}")));
        self.cases += 1;
        match outcome {
            Ok(()) => say!("hostile: {}.{name} ok", dev.name),
            Err(w) => {
                self.failed += 1;
                say!("hostile: {}.{name} FAIL {w}", dev.name);
            }
        }
    }

    /// A case whose line the device prints itself (the console's transmit): counted here.
    fn counted(&mut self) {
        self.cases += 1;
    }
}

#[no_mangle]
extern "C" fn hostile_main(dtb: u64) -> ! {
    // SAFETY: the VMM passes the guest's DTB in x0; it stays in place for the whole run.
    let fdt = match unsafe { fdt::Fdt::from_ptr(dtb as *const u8) } {
        Ok(f) => f,
        Err(e) => {
            say!("hostile: FAIL no device tree at {dtb:#x}: {e:?}");
            crate::arch::system_off()
        }
    };
    let mode = match crate::mode::parse(fdt.chosen().bootargs()) {
        Ok(mode) => mode,
        Err(word) => {
            say!("hostile: FAIL `{word}` on the command line: it is empty, ldp, scan or scan-self-test [key], or victim");
            crate::arch::system_off()
        }
    };
    match mode {
        Mode::Scan { self_test, key } => crate::scan::run(&fdt, self_test, key),
        Mode::Victim => crate::victim::run(&fdt, dtb),
        Mode::Cases | Mode::Ldp => {}
    }
    let mem = fdt
        .memory()
        .regions()
        .next()
        .map(|r| (r.starting_address as u64, r.size.unwrap_or(0) as u64));
    let gic = fdt
        .find_compatible(&["arm,gic-v3", "arm,cortex-a15-gic"])
        .and_then(|n| n.reg().and_then(|mut r| r.next()))
        .map(|r| r.starting_address as u64);
    let (Some((base, size)), Some(gic)) = (mem, gic) else {
        say!("hostile: FAIL the device tree has no memory or GIC");
        crate::arch::system_off()
    };
    let ctx = Ctx {
        ram: Ram {
            base,
            end: base + size,
        },
        gic,
        big: base + BIG,
        cpus: fdt.cpus().count(),
    };
    if size < RAM_NEEDED {
        say!(
            "hostile: FAIL guest RAM is {} MiB; the cases need {} MiB",
            size >> 20,
            RAM_NEEDED >> 20
        );
        crate::arch::system_off()
    }
    let mut bases: ArrayVec<u64, 8> = fdt
        .all_nodes()
        .filter(|n| {
            n.compatible()
                .is_some_and(|c| c.all().any(|c| c == "virtio,mmio"))
        })
        .filter_map(|n| {
            n.reg()
                .and_then(|mut r| r.next())
                .map(|r| r.starting_address as u64)
        })
        .take(8)
        .collect();
    bases.sort_unstable();
    if mode == Mode::Ldp {
        // An access the monitor cannot decode for a MEM trap (no valid syndrome): the VMM
        // must stop the guest with the reason, not serve or crash.
        if let Some(&at) = bases.first() {
            let _ = crate::arch::read_pair(at);
        }
        say!("hostile: FAIL an LDP from device space returned");
        crate::arch::system_off()
    }
    say!(
        "hostile: {} virtio devices, {} vCPUs, RAM {base:#x}..{:#x}",
        bases.len(),
        ctx.cpus,
        base + size
    );
    let mut run = Run {
        cases: 0,
        failed: 0,
    };
    for (k, &at) in bases.iter().enumerate() {
        let id = read32(at + DEVICE_ID);
        let (name, queues, work) = match id {
            ID_BLOCK => ("virtio-blk", 1, 0),
            ID_CONSOLE => ("virtio-console", 2, 1),
            ID_ENTROPY => ("virtio-rng", 1, 0),
            ID_NET => ("virtio-net", 2, 1),
            _ => {
                say!("hostile: FAIL device {id} at {at:#x} is unknown");
                run.failed += 1;
                continue;
            }
        };
        let mut dev = Dev {
            base: at,
            id,
            name,
            queues,
            work,
            area: base + AREAS + 0x10000 * k as u64,
            bufs: base + BUFS + 0x100000 * k as u64,
            vq: [Vq::default(); 2],
            offered: 0,
        };
        transport_cases(&mut run, &mut dev, &ctx);
        queue_cases(&mut run, &mut dev, &ctx);
        match id {
            ID_BLOCK => blk_cases(&mut run, &mut dev, &ctx),
            ID_ENTROPY => rng_cases(&mut run, &mut dev, &ctx),
            ID_CONSOLE => console_cases(&mut run, &mut dev, &ctx),
            ID_NET => net_cases(&mut run, &mut dev, &ctx),
            _ => {}
        }
        dev.set(STATUS, 0);
    }
    say!("hostile: {} cases, {} failed", run.cases, run.failed);
    crate::arch::system_off()
}

/// Bring-up and one good request; every case ends with it.
fn recover(dev: &mut Dev) -> Outcome {
    dev.init()?;
    good(dev)
}

/// A request the device must serve, on its work queue, from descriptor 0.
fn good_chain(dev: &Dev) -> ArrayVec<(u64, u32, u16), 3> {
    let b = dev.bufs;
    let mut c = ArrayVec::new();
    match dev.id {
        ID_BLOCK => {
            blk_header(dev, BLK_T_IN, 0);
            write8(b + STATUS_AT, 0xAA);
            c.extend([(b, 16, 0), (b + DATA, 512, W), (b + STATUS_AT, 1, W)]);
        }
        ID_ENTROPY => c.push((b + DATA, 16, W)),
        // A frame of a type nobody answers (local experimental), broadcast.
        ID_NET => {
            let len = net_frame(b + DATA, &[0xFF; 6], 0x88B5, &[0; 46]);
            c.push((b + DATA, len, 0));
        }
        // A console transmit of nothing: used, and nothing printed.
        _ => c.push((b + DATA, 0, 0)),
    }
    c
}

/// What the good request's used length and outcome must be.
fn check_good(dev: &Dev, len: u32) -> Outcome {
    match dev.id {
        ID_BLOCK => {
            let status = read8(dev.bufs + STATUS_AT);
            expect!(
                len == 513 && status == BLK_S_OK,
                "a read of sector 0: written {len}, status {status}"
            );
        }
        ID_ENTROPY => expect!(len == 16, "16 bytes of entropy asked, {len} given"),
        ID_NET => expect!(len == 0, "a transmit wrote {len}"),
        _ => expect!(len == 0, "a transmit of nothing wrote {len}"),
    }
    Ok(())
}

fn good(dev: &mut Dev) -> Outcome {
    let chain = good_chain(dev);
    let (_, len) = dev.request(dev.work, &chain)?;
    check_good(dev, len)?;
    dev.expect_running()
}

/// The registers that read as something; every other offset below the configuration
/// space reads 0.
const READABLE: [u64; 10] = [
    MAGIC,
    VERSION,
    DEVICE_ID,
    VENDOR,
    DEVICE_FEATURES,
    QUEUE_NUM_MAX,
    QUEUE_READY,
    INTERRUPT_STATUS,
    STATUS,
    CONFIG_GENERATION,
];

fn transport_cases(run: &mut Run, dev: &mut Dev, ctx: &Ctx) {
    run.case(dev, "every-register-read", |d| {
        d.init()?;
        for off in (0..CONFIG).step_by(4) {
            let v = d.reg(off);
            let want = match off {
                MAGIC => 0x7472_6976,
                VERSION => 2,
                DEVICE_ID => d.id,
                _ if READABLE.contains(&off) => v,
                _ => 0,
            };
            expect!(v == want, "offset {off:#x} reads {v:#x}, want {want:#x}");
        }
        // The rest of the page past any device's configuration space.
        for off in (CONFIG + 0x100..MMIO_SIZE).step_by(4) {
            expect!(d.reg(off) == 0, "offset {off:#x} reads {:#x}", d.reg(off));
        }
        d.expect_running()
    });
    run.case(dev, "sized-register-reads", |d| {
        d.init()?;
        for (off, size) in [
            (MAGIC, 1),
            (MAGIC + 1, 1),
            (MAGIC + 2, 2),
            (MAGIC, 8),
            (STATUS, 1),
            (STATUS + 3, 1),
            (STATUS, 2),
            (INTERRUPT_STATUS, 8),
            (0x0fe, 2),
            (0x0ff, 1),
        ] {
            let v = d.read_sized(off, size);
            expect!(
                v == 0,
                "a {size}-byte read at {off:#x} gives {v:#x}, want 0 (ignored)"
            );
        }
        d.expect_running()
    });
    run.case(dev, "sized-register-writes", |d| {
        d.init()?;
        // Status 0 would reset the device; a QueueNotify would serve the chain.
        for (off, size) in [
            (STATUS, 1),
            (STATUS, 2),
            (STATUS, 8),
            (STATUS + 1, 1),
            (STATUS + 2, 2),
        ] {
            d.write_sized(off, size, 0);
        }
        d.expect_running()?;
        let chain = good_chain(d);
        let work = d.work;
        d.chain(work, &chain);
        d.vq[work].offer(0);
        for (off, size) in [(0x050, 1), (0x050, 2), (0x050, 8), (0x052, 2), (0x051, 1)] {
            d.write_sized(off, size, work as u64);
        }
        d.nothing_used(work)?;
        d.notify(work as u32);
        let used = d.vq[work].take_used();
        let Some((_, len)) = used else {
            return Err(why!("a 4-byte notify served nothing"));
        };
        check_good(d, len)?;
        d.expect_running()
    });
    // The monitor forces the guest's memory Normal while its MMU is off (HCR_EL2.DC), so
    // misaligned accesses reach device space as they are, one trap each; the one at 0xffc
    // runs into the next page.
    run.case(dev, "misaligned-register-accesses", |d| {
        d.init()?;
        for (off, size) in [
            (STATUS + 1, 4),
            (STATUS + 2, 4),
            (STATUS + 3, 4),
            (VERSION, 8),
            (MAGIC + 1, 2),
            (MAGIC + 3, 2),
            (STATUS + 1, 8),
        ] {
            let v = d.read_sized(off, size);
            expect!(
                v == 0,
                "a {size}-byte read at {off:#x} gives {v:#x}, want 0 (ignored)"
            );
        }
        let edge = d.read_sized(MMIO_SIZE - 4, 8);
        expect!(
            edge == 0,
            "an 8-byte read at {:#x} gives {edge:#x}",
            MMIO_SIZE - 4
        );
        for (off, size) in [
            (STATUS + 1, 4),
            (STATUS + 2, 2),
            (STATUS - 4, 8),
            (STATUS - 1, 4),
            (0x051, 4),
            (0x04e, 4),
        ] {
            d.write_sized(off, size, 0);
        }
        d.write_sized(MMIO_SIZE - 4, 8, 0);
        d.expect_running()?;
        good(d)
    });
    run.case(dev, "config-space-sized-reads", |d| {
        d.init()?;
        for off in (0..0x40).step_by(8) {
            let word = d.config64(off);
            let bytes = (0..8).fold(0u64, |v, i| v | d.read_sized(CONFIG + off + i, 1) << (8 * i));
            let halves = (0..4).fold(0u64, |v, i| v | d.read_sized(CONFIG + off + 2 * i, 2) << (16 * i));
            let whole = d.read_sized(CONFIG + off, 8);
            expect!(bytes == word && halves == word && whole == word, "config {off:#x}: {word:#x} by words, {bytes:#x} by bytes, {halves:#x} by halves, {whole:#x} at once");
        }
        d.expect_running()
    });
    run.case(dev, "config-space-writes-ignored", |d| {
        d.init()?;
        let mut before = [0u32; 64];
        for (i, v) in before.iter_mut().enumerate() {
            *v = d.reg(CONFIG + 4 * i as u64);
        }
        let generation = d.reg(CONFIG_GENERATION);
        for i in 0..64u64 {
            d.set(CONFIG + 4 * i, u32::MAX);
            d.write_sized(CONFIG + 4 * i + 1, 1, 0x5A);
            d.write_sized(CONFIG + 4 * i, 8, u64::MAX);
        }
        for (i, &v) in before.iter().enumerate() {
            let now = d.reg(CONFIG + 4 * i as u64);
            expect!(
                now == v,
                "config {:#x} was {v:#x}, reads {now:#x} after writes",
                4 * i
            );
        }
        expect!(
            d.reg(CONFIG_GENERATION) == generation,
            "ConfigGeneration moved"
        );
        d.expect_running()
    });
    run.case(dev, "features-not-offered-refused", |d| {
        d.begin()?;
        d.write_features(u64::MAX);
        d.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        expect!(
            d.status() & STATUS_FEATURES_OK == 0,
            "FEATURES_OK kept with every feature bit set"
        );
        Ok(())
    });
    run.case(dev, "features-without-version-1-refused", |d| {
        d.begin()?;
        d.write_features(d.offered & !F_VERSION_1);
        d.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        expect!(
            d.status() & STATUS_FEATURES_OK == 0,
            "FEATURES_OK kept without VERSION_1"
        );
        Ok(())
    });
    run.case(dev, "features-renegotiated-after-driver-ok", |d| {
        d.init()?;
        d.write_features(0);
        d.set(DRIVER_FEATURES_SEL, 7);
        d.set(DRIVER_FEATURES, u32::MAX);
        d.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        d.set(DEVICE_FEATURES_SEL, 2);
        expect!(
            d.reg(DEVICE_FEATURES) == 0,
            "DeviceFeatures word 2 reads {:#x}",
            d.reg(DEVICE_FEATURES)
        );
        d.set(DEVICE_FEATURES_SEL, u32::MAX);
        expect!(
            d.reg(DEVICE_FEATURES) == 0,
            "DeviceFeatures word 0xffffffff reads {:#x}",
            d.reg(DEVICE_FEATURES)
        );
        good(d)
    });
    run.case(dev, "status-bits-only-added", |d| {
        d.init()?;
        d.set(STATUS, STATUS_ACKNOWLEDGE);
        let want = STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK;
        expect!(
            d.status() == want,
            "Status {:#x} after writing ACKNOWLEDGE alone, want {want:#x}",
            d.status()
        );
        good(d)
    });
    run.case(dev, "driver-ok-without-features-ok", |d| {
        d.begin()?;
        d.write_features(F_VERSION_1);
        for q in 0..d.queues {
            d.lay_out(q, QUEUE_MAX)?;
            d.set(QUEUE_READY, 1);
        }
        d.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK,
        );
        let chain = good_chain(d);
        d.post(d.work, &chain);
        d.nothing_used(d.work)
    });
    let sizes: [(&str, u32); 5] = [
        ("queue-size-0", 0),
        ("queue-size-3", 3),
        ("queue-size-above-max", u32::from(QUEUE_MAX) * 2),
        ("queue-size-65535", 0xFFFF),
        ("queue-size-65536", 0x1_0000),
    ];
    for (name, size) in sizes {
        run.case(dev, name, |d| {
            d.begin()?;
            d.negotiate()?;
            d.lay_out(d.work, QUEUE_MAX)?;
            d.set(QUEUE_NUM, size);
            refused_ready(d)
        });
    }
    run.case(dev, "queue-ready-without-addresses", |d| {
        d.begin()?;
        d.negotiate()?;
        d.set(QUEUE_SEL, d.work as u32);
        d.set(QUEUE_NUM, u32::from(QUEUE_MAX));
        refused_ready(d)
    });
    let (ram, gic) = (ctx.ram, ctx.gic);
    let own = dev.base;
    // (name, ring: descriptors 0, available 1, used 2, moved by or placed at).
    let rings: [(&str, usize, Place); 9] = [
        ("desc-ring-unaligned", 0, Place::By(8)),
        ("avail-ring-unaligned", 1, Place::By(1)),
        ("used-ring-unaligned", 2, Place::By(2)),
        ("desc-ring-in-own-registers", 0, Place::At(own)),
        ("used-ring-in-the-gic", 2, Place::At(gic)),
        ("used-ring-past-ram", 2, Place::At(ram.end - 0x100)),
        ("avail-ring-below-ram", 1, Place::At(ram.base - 0x100)),
        ("desc-ring-wraps", 0, Place::At(u64::MAX - 0xFFF)),
        ("used-ring-at-zero", 2, Place::At(0)),
    ];
    for (name, ring, place) in rings {
        run.case(dev, name, |d| {
            d.begin()?;
            d.negotiate()?;
            d.lay_out(d.work, QUEUE_MAX)?;
            let vq = d.vq[d.work];
            let mut at = [vq.desc, vq.avail, vq.used];
            at[ring] = match place {
                Place::By(n) => at[ring] + n,
                Place::At(addr) => addr,
            };
            d.set_rings(at[0], at[1], at[2]);
            refused_ready(d)
        });
    }
    run.case(dev, "queue-select-out-of-range", |d| {
        d.init()?;
        for sel in [d.queues as u32, 7, u32::MAX] {
            d.set(QUEUE_SEL, sel);
            expect!(
                d.reg(QUEUE_NUM_MAX) == 0,
                "queue {sel}: QueueNumMax {}",
                d.reg(QUEUE_NUM_MAX)
            );
            d.set(QUEUE_NUM, 4);
            d.set_rings(1, 2, 3);
            d.set(QUEUE_READY, 1);
            expect!(d.reg(QUEUE_READY) == 0, "queue {sel} reads ready");
        }
        d.set(QUEUE_SEL, d.work as u32);
        expect!(d.reg(QUEUE_READY) == 1, "the real queue is no longer ready");
        good(d)
    });
    run.case(dev, "notify-missing-queue", |d| {
        d.init()?;
        for q in [d.queues as u32, 7, 0xFFFF, u32::MAX] {
            d.notify(q);
        }
        good(d)
    });
    run.case(dev, "queue-set-up-changed-while-ready", |d| {
        d.init()?;
        d.set(QUEUE_SEL, d.work as u32);
        d.set(QUEUE_NUM, 3);
        d.set_rings(0, 0, 0);
        good(d)
    });
    run.case(dev, "queue-ready-twice", |d| {
        d.init()?;
        d.set(QUEUE_SEL, d.work as u32);
        d.set(QUEUE_READY, 1);
        good(d)
    });
    run.case(dev, "notify-before-driver-ok", |d| {
        d.begin()?;
        d.negotiate()?;
        for q in 0..d.queues {
            d.lay_out(q, QUEUE_MAX)?;
            d.set(QUEUE_READY, 1);
        }
        let chain = good_chain(d);
        d.post(d.work, &chain);
        d.nothing_used(d.work)?;
        d.set(
            STATUS,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
        );
        d.notify(d.work as u32);
        let Some((_, len)) = d.vq[d.work].take_used() else {
            return Err(why!("nothing served after DRIVER_OK"));
        };
        check_good(d, len)
    });
    run.case(dev, "notify-of-unready-queue", |d| {
        d.init()?;
        d.set(QUEUE_SEL, d.work as u32);
        d.set(QUEUE_READY, 0);
        expect!(d.reg(QUEUE_READY) == 0, "QueueReady 0 not taken");
        let chain = good_chain(d);
        d.post(d.work, &chain);
        d.nothing_used(d.work)?;
        d.expect_running()
    });
}

/// Where a case puts a ring: moved from where it was laid out, or at an address.
#[derive(Clone, Copy)]
enum Place {
    By(u64),
    At(u64),
}

/// QueueReady on a queue set up wrong: refused, and the device needs a reset.
fn refused_ready(d: &mut Dev) -> Outcome {
    d.set(QUEUE_READY, 1);
    expect!(d.reg(QUEUE_READY) == 0, "QueueReady reads 1");
    d.expect_needs_reset()
}

/// The flags a lone descriptor of the device's work queue naturally has.
fn natural(d: &Dev) -> u16 {
    if d.id == ID_ENTROPY {
        W
    } else {
        0
    }
}

fn queue_cases(run: &mut Run, dev: &mut Dev, ctx: &Ctx) {
    let (ram, gic) = (ctx.ram, ctx.gic);
    let buf = dev.bufs + DATA;
    let own = dev.base;
    // (name, head, [(addr, len, flags, next)]) on the work queue of 128 entries.
    type Descs = ArrayVec<(u64, u32, u16, u16), 2>;
    let chains: [(&str, u16, Descs); 13] = [
        ("head-out-of-range", QUEUE_MAX, ArrayVec::new()),
        ("head-0xffff", 0xFFFF, ArrayVec::new()),
        (
            "next-out-of-range",
            0,
            [(buf, 16, DESC_F_NEXT, QUEUE_MAX)].into_iter().collect(),
        ),
        (
            "chain-loops",
            0,
            [(buf, 16, DESC_F_NEXT, 1), (buf, 16, DESC_F_NEXT, 0)]
                .into_iter()
                .collect(),
        ),
        (
            "chain-loops-on-itself",
            0,
            [(buf, 16, DESC_F_NEXT, 0)].into_iter().collect(),
        ),
        (
            "buffer-past-ram",
            0,
            [(ram.end - 8, 16, 0, 0)].into_iter().collect(),
        ),
        (
            "buffer-below-ram",
            0,
            [(ram.base - 8, 16, 0, 0)].into_iter().collect(),
        ),
        (
            "buffer-wraps",
            0,
            [(u64::MAX - 7, 16, 0, 0)].into_iter().collect(),
        ),
        (
            "buffer-length-past-ram",
            0,
            [(ram.base, u32::MAX, 0, 0)].into_iter().collect(),
        ),
        (
            "buffer-in-own-registers",
            0,
            [(own, 16, 0, 0)].into_iter().collect(),
        ),
        (
            "buffer-in-the-gic",
            0,
            [(gic, 16, 0, 0)].into_iter().collect(),
        ),
        ("buffer-at-zero", 0, [(0, 16, 0, 0)].into_iter().collect()),
        (
            "indirect-descriptor",
            0,
            [(buf, 16, DESC_F_INDIRECT, 0)].into_iter().collect(),
        ),
    ];
    for (name, head, descs) in chains {
        run.case(dev, name, |d| {
            d.init()?;
            let flags = natural(d);
            let work = d.work;
            for (i, &(addr, len, f, next)) in descs.iter().enumerate() {
                d.vq[work].set_desc(i as u16, addr, len, f | flags, next);
            }
            d.vq[work].offer(head);
            d.notify(work as u32);
            d.nothing_used(work)?;
            d.expect_needs_reset()
        });
    }
    run.case(dev, "chain-longer-than-queue", |d| {
        d.init_with(8)?;
        let flags = natural(d);
        for i in 0..8u16 {
            d.vq[d.work].set_desc(i, buf, 16, flags | DESC_F_NEXT, (i + 1) % 8);
        }
        d.vq[d.work].offer(0);
        d.notify(d.work as u32);
        d.nothing_used(d.work)?;
        d.expect_needs_reset()
    });
    for (name, ahead) in [
        ("avail-index-runs-ahead", QUEUE_MAX + 1),
        ("avail-index-far-ahead", 0x8000),
    ] {
        run.case(dev, name, |d| {
            d.init()?;
            let chain = good_chain(d);
            d.chain(d.work, &chain);
            let idx = d.vq[d.work].avail_idx().wrapping_add(ahead);
            d.vq[d.work].set_avail_idx(idx);
            d.notify(d.work as u32);
            d.nothing_used(d.work)?;
            d.expect_needs_reset()
        });
    }
}

// A block request's places in the device's buffers: header, status byte, data.
const STATUS_AT: u64 = 0x100;
const DATA: u64 = 0x1000;
/// A second data buffer, to compare two reads.
const DATA2: u64 = 0x40000;
const MARKER: &[u8; 16] = b"zxv-hostile-disk";

fn blk_header(d: &Dev, kind: u32, sector: u64) {
    write32(d.bufs, kind);
    write32(d.bufs + 4, 0);
    write64(d.bufs + 8, sector);
}

/// One block request: the header, `data`, the status byte; returns (written, status).
fn blk(d: &mut Dev, kind: u32, sector: u64, data: &[(u64, u32, u16)]) -> Result<(u32, u8), Why> {
    blk_header(d, kind, sector);
    write8(d.bufs + STATUS_AT, 0xAA);
    let mut chain: ArrayVec<(u64, u32, u16), { QUEUE_MAX as usize }> = ArrayVec::new();
    chain.push((d.bufs, 16, 0));
    chain.extend(data.iter().copied());
    chain.push((d.bufs + STATUS_AT, 1, W));
    let (_, len) = d.request(0, &chain)?;
    Ok((len, read8(d.bufs + STATUS_AT)))
}

/// A read or write of `len` bytes at `sector` from or to `addr` that must end with `want`.
fn blk_io(d: &mut Dev, write: bool, sector: u64, addr: u64, len: u32, want: u8) -> Outcome {
    let (kind, flags, what) = if write {
        (BLK_T_OUT, 0, "write")
    } else {
        (BLK_T_IN, W, "read")
    };
    let (_, status) = blk(d, kind, sector, &[(addr, len, flags)])?;
    expect!(
        status == want,
        "a {what} of {len} bytes at sector {sector:#x}: status {status}, want {want}"
    );
    Ok(())
}

fn same(a: u64, b: u64, len: u64) -> bool {
    (0..len)
        .step_by(8)
        .all(|off| read64(a + off) == read64(b + off))
}

fn blk_cases(run: &mut Run, dev: &mut Dev, ctx: &Ctx) {
    const F_SEG_MAX: u64 = 1 << 2;
    const F_RO: u64 = 1 << 5;
    const F_FLUSH: u64 = 1 << 9;
    if dev.init().is_err() {
        say!("hostile: FAIL virtio-blk does not come up");
        return;
    }
    let ro = dev.offered & F_RO != 0;
    let sectors = dev.config64(0);
    let (a, b) = (dev.bufs + DATA, dev.bufs + DATA2);
    say!(
        "hostile: virtio-blk: {sectors} sectors, {}",
        if ro { "read-only" } else { "read-write" }
    );
    run.case(dev, "blk-identity", |d| {
        let want = F_VERSION_1 | F_SEG_MAX | F_FLUSH | if ro { F_RO } else { 0 };
        expect!(
            d.offered == want,
            "features {:#x}, want {want:#x}",
            d.offered
        );
        expect!(sectors > 128, "capacity {sectors} sectors");
        let seg_max = d.reg(CONFIG + 12);
        expect!(seg_max == u32::from(QUEUE_MAX) - 2, "seg_max {seg_max}");
        Ok(())
    });
    // A disk the suite made holds the marker and the number n of patterned sectors in
    // sector 0, sector i's low byte in each byte of sectors 1..n, and zeroes after them; a
    // disk never written is all zeroes.
    run.case(dev, "blk-reads-the-image", |d| {
        d.init()?;
        blk_io(d, false, 0, a, 512, BLK_S_OK)?;
        let marked = (0..16).all(|i| read8(a + i) == MARKER[i as usize]);
        if marked {
            let n = read64(a + 16);
            expect!(
                n > 256 && n <= sectors,
                "the image says {n} patterned sectors of {sectors}"
            );
            for s in [1, 2, 255, 256, n - 1] {
                blk_io(d, false, s, a, 512, BLK_S_OK)?;
                expect!(
                    all(a, 512, s as u8),
                    "sector {s} reads {}, want bytes {:#x}",
                    peek(a),
                    s as u8
                );
            }
            if n < sectors {
                blk_io(d, false, sectors - 1, a, 512, BLK_S_OK)?;
                expect!(
                    all(a, 512, 0),
                    "the last sector reads {}, want zeroes",
                    peek(a)
                );
            }
        } else {
            expect!(
                all(a, 512, 0),
                "sector 0 is neither the suite's image nor zeroes: {}",
                peek(a)
            );
        }
        Ok(())
    });
    run.case(dev, "blk-last-sector", |d| {
        d.init()?;
        blk_io(d, false, sectors - 1, a, 512, BLK_S_OK)?;
        if !ro {
            fill(b, 512, 0x6C);
            blk_io(d, true, sectors - 1, b, 512, BLK_S_OK)?;
            fill(a, 512, 0);
            blk_io(d, false, sectors - 1, a, 512, BLK_S_OK)?;
            expect!(
                same(a, b, 512),
                "the last sector reads {} after a write",
                peek(a)
            );
        }
        Ok(())
    });
    if ro {
        run.case(dev, "blk-read-only-write-refused", |d| {
            d.init()?;
            blk_io(d, false, 3, a, 512, BLK_S_OK)?;
            fill(b, 512, 0xC3);
            blk_io(d, true, 3, b, 512, BLK_S_IOERR)?;
            blk_io(d, true, sectors, b, 512, BLK_S_IOERR)?;
            blk_io(d, false, 3, b, 512, BLK_S_OK)?;
            expect!(
                same(a, b, 512),
                "sector 3 changed on a read-only disk: {}",
                peek(b)
            );
            let (_, status) = blk(d, BLK_T_FLUSH, 0, &[])?;
            expect!(
                status == BLK_S_OK,
                "a flush of a read-only disk: status {status}"
            );
            Ok(())
        });
    } else {
        run.case(dev, "blk-write-read-back", |d| {
            d.init()?;
            fill(b, 4096, 0x5A);
            blk_io(d, true, 8, b, 4096, BLK_S_OK)?;
            fill(a, 4096, 0);
            blk_io(d, false, 8, a, 4096, BLK_S_OK)?;
            expect!(
                same(a, b, 4096),
                "sectors 8..16 read {} after a write",
                peek(a)
            );
            Ok(())
        });
    }
    run.case(dev, "blk-beyond-the-end", |d| {
        d.init()?;
        for s in [sectors, sectors + 1, sectors + 0x1000] {
            blk_io(d, false, s, a, 512, BLK_S_IOERR)?;
            blk_io(d, true, s, a, 512, BLK_S_IOERR)?;
        }
        let (len, status) = blk(d, BLK_T_IN, sectors, &[(a, 4096, W)])?;
        expect!(
            status == BLK_S_IOERR && len == 1,
            "a failed read: status {status}, written {len}, want the status byte alone"
        );
        Ok(())
    });
    let ram = ctx.ram;
    run.case(dev, "blk-read-into-8-gib-of-buffers", |d| {
        // 126 descriptors over all of guest RAM: more than the disk, and than 32 bits count.
        d.init()?;
        let segs: ArrayVec<(u64, u32, u16), 126> = (0..126)
            .map(|_| (ram.base, (ram.end - ram.base) as u32, W))
            .collect();
        let (len, status) = blk(d, BLK_T_IN, 0, &segs)?;
        expect!(
            status == BLK_S_IOERR && len == 1,
            "status {status}, written {len}"
        );
        Ok(())
    });
    run.case(dev, "blk-straddles-the-end", |d| {
        d.init()?;
        blk_io(d, false, sectors - 1, a, 1024, BLK_S_IOERR)?;
        blk_io(d, true, sectors - 1, a, 1024, BLK_S_IOERR)
    });
    run.case(dev, "blk-sector-times-512-overflows", |d| {
        d.init()?;
        // Wrapped to 64 bits, sector * 512 would land on sectors 0 and 1.
        blk_io(d, false, 0, a, 1024, BLK_S_OK)?;
        for s in [
            1 << 55,
            (1 << 55) + 1,
            u64::MAX,
            u64::MAX / 512 + 1,
            1 << 63,
        ] {
            blk_io(d, false, s, b, 512, BLK_S_IOERR)?;
            fill(b, 512, 0x99);
            blk_io(d, true, s, b, 512, BLK_S_IOERR)?;
        }
        blk_io(d, false, 0, b, 1024, BLK_S_OK)?;
        expect!(same(a, b, 1024), "sectors 0 and 1 changed: {}", peek(b));
        Ok(())
    });
    run.case(dev, "blk-partial-sector", |d| {
        d.init()?;
        blk_io(d, false, 0, a, 100, BLK_S_IOERR)?;
        blk_io(d, false, 0, a, 513, BLK_S_IOERR)?;
        blk_io(d, true, 0, a, 100, BLK_S_IOERR)
    });
    run.case(dev, "blk-unknown-type", |d| {
        d.init()?;
        for kind in [2, 7, 11, 13, u32::MAX] {
            let (_, status) = blk(d, kind, 0, &[(a, 512, W)])?;
            expect!(
                status == BLK_S_UNSUPP,
                "type {kind}: status {status}, want UNSUPP"
            );
        }
        Ok(())
    });
    run.case(dev, "blk-get-id", |d| {
        d.init()?;
        fill(a, 32, 0);
        let (len, status) = blk(d, BLK_T_GET_ID, 0, &[(a, 20, W)])?;
        let id = b"zxvisor-disk";
        expect!(
            status == BLK_S_OK && (0..12).all(|i| read8(a + i) == id[i as usize]),
            "GET_ID: status {status}, {}",
            peek(a)
        );
        expect!(len == 21, "GET_ID wrote {len}");
        Ok(())
    });
    run.case(dev, "blk-flush", |d| {
        d.init()?;
        let (len, status) = blk(d, BLK_T_FLUSH, 0, &[])?;
        expect!(
            status == BLK_S_OK && len == 1,
            "FLUSH: status {status}, written {len}"
        );
        Ok(())
    });
    run.case(dev, "blk-header-too-short", |d| {
        d.init()?;
        blk_header(d, BLK_T_IN, 0);
        write8(d.bufs + STATUS_AT, 0xAA);
        let (_, len) = d.request(0, &[(d.bufs, 8, 0), (d.bufs + STATUS_AT, 1, W)])?;
        let status = read8(d.bufs + STATUS_AT);
        expect!(
            len == 0 && status == 0xAA,
            "written {len}, status byte {status:#x}: want nothing written"
        );
        Ok(())
    });
    run.case(dev, "blk-header-split-in-two", |d| {
        d.init()?;
        blk_io(d, false, 1, a, 512, BLK_S_OK)?;
        blk_header(d, BLK_T_IN, 1);
        write8(d.bufs + STATUS_AT, 0xAA);
        fill(b, 512, 0xEE);
        let (_, len) = d.request(
            0,
            &[
                (d.bufs, 8, 0),
                (d.bufs + 8, 8, 0),
                (b, 512, W),
                (d.bufs + STATUS_AT, 1, W),
            ],
        )?;
        let status = read8(d.bufs + STATUS_AT);
        expect!(
            len == 513 && status == BLK_S_OK && same(a, b, 512),
            "written {len}, status {status}, data {}",
            peek(b)
        );
        Ok(())
    });
    run.case(dev, "blk-status-not-device-writable", |d| {
        d.init()?;
        blk_io(d, false, 2, a, 512, BLK_S_OK)?;
        blk_header(d, BLK_T_OUT, 2);
        write8(d.bufs + STATUS_AT, 0xAA);
        fill(b, 512, 0x77);
        let (_, len) = d.request(
            0,
            &[(d.bufs, 16, 0), (b, 512, 0), (d.bufs + STATUS_AT, 1, 0)],
        )?;
        let status = read8(d.bufs + STATUS_AT);
        expect!(
            len == 0 && status == 0xAA,
            "written {len}, status byte {status:#x}: want nothing written"
        );
        blk_io(d, false, 2, b, 512, BLK_S_OK)?;
        expect!(same(a, b, 512), "sector 2 was written: {}", peek(b));
        Ok(())
    });
    run.case(dev, "blk-status-zero-length", |d| {
        d.init()?;
        blk_header(d, BLK_T_IN, 0);
        write8(d.bufs + STATUS_AT, 0xAA);
        d.request(
            0,
            &[(d.bufs, 16, 0), (a, 512, W), (d.bufs + STATUS_AT, 0, W)],
        )?;
        let status = read8(d.bufs + STATUS_AT);
        expect!(
            status == 0xAA,
            "the zero-length status descriptor was written ({status:#x})"
        );
        Ok(())
    });
    run.case(dev, "blk-data-zero-length", |d| {
        d.init()?;
        let (len, status) = blk(d, BLK_T_IN, 0, &[(a, 0, W)])?;
        expect!(
            status == BLK_S_OK && len == 1,
            "a read of 0 bytes: status {status}, written {len}"
        );
        if !ro {
            let (_, status) = blk(d, BLK_T_OUT, 0, &[(a, 0, 0)])?;
            expect!(status == BLK_S_OK, "a write of 0 bytes: status {status}");
        }
        Ok(())
    });
    run.case(dev, "blk-read-into-device-readable-buffer", |d| {
        d.init()?;
        fill(a, 512, 0xEE);
        blk(d, BLK_T_IN, 0, &[(a, 512, 0)])?;
        expect!(
            all(a, 512, 0xEE),
            "the device wrote a buffer it may only read: {}",
            peek(a)
        );
        Ok(())
    });
    run.case(dev, "blk-126-segments", |d| {
        d.init()?;
        let n = u64::from(QUEUE_MAX) - 2;
        blk_io(d, false, 0, a, (n * 512) as u32, BLK_S_OK)?;
        fill(b, n * 512, 0xEE);
        let segs: ArrayVec<(u64, u32, u16), 126> = (0..n).map(|i| (b + 512 * i, 512, W)).collect();
        let (len, status) = blk(d, BLK_T_IN, 0, &segs)?;
        expect!(
            status == BLK_S_OK && len == (n * 512 + 1) as u32,
            "status {status}, written {len}"
        );
        expect!(
            same(a, b, n * 512),
            "126 segments read other data than one buffer"
        );
        Ok(())
    });
    let big = ctx.big;
    run.case(dev, "blk-4-mib-request", |d| {
        d.init()?;
        fill(big, BIG_SIZE, 0xEE);
        let (len, status) = blk(d, BLK_T_IN, 0, &[(big, BIG_SIZE as u32, W)])?;
        expect!(
            status == BLK_S_OK && len == BIG_SIZE as u32 + 1,
            "status {status}, written {len}"
        );
        blk_io(d, false, 0, a, 4096, BLK_S_OK)?;
        expect!(same(a, big, 4096), "the 4 MiB read's first 4 KiB differ");
        Ok(())
    });
    run.case(dev, "blk-read-over-its-own-rings", |d| {
        d.init()?;
        // The disk's data lands on the descriptor table and the available ring: whatever
        // the device then finds there, it must neither hang nor fault.
        let rings = d.vq[0].desc;
        blk(d, BLK_T_IN, 0, &[(rings, 4096, W)])
            .map(|_| ())
            .or_else(|_| d.expect_needs_reset())
    });
    // Byte offsets past 4 GiB: a disk this large has sectors whose offset needs more than
    // 32 bits; a sector written there must not land at the offset's low 32 bits.
    if sectors > (4 << 30) / BLK_SECTOR + 1 && !ro {
        run.case(dev, "blk-offsets-past-4-gib", |d| {
            d.init()?;
            let high = (4 << 30) / BLK_SECTOR + 1;
            blk_io(d, false, 1, a, 512, BLK_S_OK)?;
            fill(b, 512, 0x4B);
            blk_io(d, true, high, b, 512, BLK_S_OK)?;
            fill(b, 512, 0);
            blk_io(d, false, high, b, 512, BLK_S_OK)?;
            expect!(
                all(b, 512, 0x4B),
                "sector {high:#x} reads {} after a write",
                peek(b)
            );
            blk_io(d, false, 1, b, 512, BLK_S_OK)?;
            expect!(
                same(a, b, 512),
                "a write at sector {high:#x} changed sector 1: {}",
                peek(b)
            );
            Ok(())
        });
    }
}

/// What vCPU 1 feeds and how far it got: [running, available ring, used ring, queue size,
/// chains added, stop].
static mut FEED: [u64; 6] = [0; 6];

/// FEED's address; both vCPUs reach its words through `read64` and `write64` alone.
fn feed() -> u64 {
    core::ptr::addr_of_mut!(FEED) as u64
}

/// vCPU 1: keeps the queue FEED names full of chains with head 0 (never notifying) until
/// told to stop, then turns itself off.
#[no_mangle]
extern "C" fn hostile_secondary() -> ! {
    let f = feed();
    let (avail, used, size) = (read64(f + 8), read64(f + 16), read64(f + 24) as u16);
    let mut idx = crate::arch::read16(avail + 2);
    let mut added = 0;
    while read64(f + 40) == 0 {
        if idx.wrapping_sub(crate::arch::read16(used + 2)) < size {
            crate::arch::write16(avail + 4 + 2 * u64::from(idx % size), 0);
            idx = idx.wrapping_add(1);
            crate::arch::barrier();
            crate::arch::write16(avail + 2, idx);
            added += 1;
            write64(f + 32, added);
        }
    }
    write64(f, 0);
    crate::arch::cpu_off()
}

/// Spins until `cond`, for at most about `limit` tries.
fn wait(limit: u64, cond: impl Fn() -> bool) -> bool {
    (0..limit).any(|_| cond())
}

fn rng_cases(run: &mut Run, dev: &mut Dev, ctx: &Ctx) {
    let a = dev.bufs + DATA;
    if ctx.cpus > 1 {
        run.case(dev, "notify-while-vcpu-1-feeds", |d| {
            // vCPU 1 keeps 16 chains available while vCPU 0's notify is served: the notify
            // must end after one queue's worth.
            d.init_with(16)?;
            d.vq[0].set_desc(0, a, 16, W, 0);
            let f = feed();
            for (i, v) in [1, d.vq[0].avail, d.vq[0].used, 16, 0, 0]
                .into_iter()
                .enumerate()
            {
                write64(f + 8 * i as u64, v);
            }
            let status = crate::arch::start_cpu1();
            expect!(status == 0, "PSCI CPU_ON of vCPU 1: {status}");
            let full = wait(100_000_000, || read64(f + 32) >= 16);
            let before = d.vq[0].used_idx();
            if full {
                d.notify(0);
            }
            let served = d.vq[0].used_idx().wrapping_sub(before);
            write64(f + 40, 1);
            let stopped = wait(100_000_000, || read64(f) == 0);
            expect!(
                full && stopped,
                "vCPU 1 did not {}",
                if full { "stop" } else { "fill the queue" }
            );
            expect!(
                served <= 16,
                "{served} chains served in one notify ({} fed)",
                read64(f + 32)
            );
            d.expect_running()
        });
    }
    run.case(dev, "rng-gives-bytes", |d| {
        d.init()?;
        fill(a, 64, 0);
        let (_, len) = d.request(0, &[(a, 32, W)])?;
        let (x, y) = (read64(a), read64(a + 8));
        expect!(
            len == 32 && (x, y) != (0, 0) && x != y,
            "written {len}: {x:#x} {y:#x}"
        );
        expect!(all(a + 32, 32, 0), "bytes written past the buffer");
        Ok(())
    });
    run.case(dev, "rng-device-readable-buffer", |d| {
        d.init()?;
        fill(a, 64, 0xEE);
        let (_, len) = d.request(0, &[(a, 64, 0)])?;
        expect!(
            len == 0 && all(a, 64, 0xEE),
            "written {len} into a buffer the device may only read"
        );
        Ok(())
    });
    run.case(dev, "rng-zero-length-buffer", |d| {
        d.init()?;
        let (_, len) = d.request(0, &[(a, 0, W)])?;
        expect!(len == 0, "written {len}");
        Ok(())
    });
    let big = ctx.big;
    run.case(dev, "rng-4-mib-buffer-capped", |d| {
        d.init()?;
        fill(big, 1 << 20, 0xEE);
        let (_, len) = d.request(0, &[(big, BIG_SIZE as u32, W)])?;
        expect!(len == 4096, "written {len}, want the 4096-byte cap");
        expect!(
            all(big + 4096, (1 << 20) - 4096, 0xEE),
            "bytes written past the cap"
        );
        Ok(())
    });
    run.case(dev, "rng-128-descriptors-capped", |d| {
        d.init()?;
        fill(big, 128 * 64, 0xEE);
        let segs: ArrayVec<(u64, u32, u16), 128> =
            (0..128).map(|i| (big + 64 * i, 64, W)).collect();
        let (_, len) = d.request(0, &segs)?;
        expect!(len == 4096, "written {len}, want the 4096-byte cap");
        expect!(all(big + 4096, 4096, 0xEE), "bytes written past the cap");
        Ok(())
    });
}

fn console_cases(run: &mut Run, dev: &mut Dev, ctx: &Ctx) {
    let a = dev.bufs + DATA;
    // Transmitted text reaches the guest console: this case's line comes from the device.
    let line = b"hostile: virtio-console.transmit ok\n";
    if dev.init().is_ok() {
        for (i, &c) in line.iter().enumerate() {
            write8(a + i as u64, c);
        }
        if dev.request(1, &[(a, line.len() as u32, 0)]).is_ok() {
            run.counted();
        }
    }
    run.case(dev, "transmit-device-writable-buffer", |d| {
        d.init()?;
        let text = b"hostile: virtio-console printed a device-writable buffer FAIL\n";
        for (i, &c) in text.iter().enumerate() {
            write8(a + i as u64, c);
        }
        let (_, len) = d.request(1, &[(a, text.len() as u32, W)])?;
        expect!(len == 0, "written {len}");
        Ok(())
    });
    // 128 buffers over the top 48 MiB of RAM: 6 GiB to print. The device prints 64 KiB
    // of it: 512 lines of 127 dots, which the suite counts.
    let big = ctx.big;
    let top = ctx.ram.end - big;
    run.case(dev, "transmit-6-gib-chain-cut", |d| {
        d.init()?;
        fill(big, 64 << 10, b'.');
        for line in 0..512 {
            write8(big + 128 * line + 127, b'\n');
        }
        let bufs: ArrayVec<(u64, u32, u16), 128> = (0..128).map(|_| (big, top as u32, 0)).collect();
        let (_, len) = d.request(1, &bufs)?;
        expect!(len == 0, "written {len}");
        Ok(())
    });
    run.case(dev, "receive-queue-malformed", |d| {
        // Receive buffers are taken only when input arrives; a bad chain there is found
        // then. A notify of the receive queue serves nothing.
        d.init()?;
        d.vq[0].offer(QUEUE_MAX);
        d.notify(0);
        d.nothing_used(0)?;
        d.expect_running()
    });
}

/// The guest's MAC address in the frames it sends, and QEMU user networking's addresses: the
/// guest's and the gateway's (the build machine).
const MAC: [u8; 6] = [0x02, 0x5a, 0x58, 0x56, 0x00, 0x01];
const GUEST_IP: [u8; 4] = [10, 0, 2, 15];
const GATEWAY_IP: [u8; 4] = [10, 0, 2, 2];
/// A receive buffer's room: the header and the longest frame.
const RX_ROOM: u32 = (NET_HDR + FRAME_MAX) as u32;
const HDR: u32 = NET_HDR as u32;

/// Writes a transmit buffer at `at`: the header (asking for nothing), then a frame from MAC
/// to `dst` of `ethertype` carrying `payload`; returns its length.
fn net_frame(at: u64, dst: &[u8; 6], ethertype: u16, payload: &[u8]) -> u32 {
    let mut bytes: ArrayVec<u8, 128> = ArrayVec::new();
    bytes.extend([0u8; NET_HDR]);
    bytes.extend(*dst);
    bytes.extend(MAC);
    bytes.extend(ethertype.to_be_bytes());
    bytes.extend(payload.iter().copied());
    for (i, &b) in bytes.iter().enumerate() {
        write8(at + i as u64, b);
    }
    bytes.len() as u32
}

/// An ARP request for the gateway, which QEMU's user network answers; returns its length.
fn arp_request(at: u64) -> u32 {
    let mut arp = [0u8; 46];
    arp[..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    arp[8..14].copy_from_slice(&MAC);
    arp[14..18].copy_from_slice(&GUEST_IP);
    arp[24..28].copy_from_slice(&GATEWAY_IP);
    net_frame(at, &[0xFF; 6], 0x0806, &arp)
}

/// Spins until `cond`, for at most `ms` milliseconds of the virtual counter.
fn within(ms: u64, cond: impl Fn() -> bool) -> bool {
    let (freq, start) = crate::arch::counter();
    while crate::arch::counter().1 - start < freq * ms / 1000 {
        if cond() {
            return true;
        }
    }
    cond()
}

/// Receive buffers are taken only when a frame comes in: one receive chain made available on
/// queue 0, then an ARP request transmitted, whose reply comes in within a host tick or two.
fn net_receive(d: &mut Dev, rx: &[(u64, u32, u16)], tx: u64) -> Outcome {
    d.chain(0, rx);
    d.vq[0].offer(0);
    d.notify(0);
    let len = arp_request(tx);
    let (_, written) = d.request(1, &[(tx, len, 0)])?;
    expect!(written == 0, "the ARP request's transmit wrote {written}");
    Ok(())
}

fn net_cases(run: &mut Run, dev: &mut Dev, ctx: &Ctx) {
    let tx = dev.bufs + DATA;
    let rx = dev.bufs + DATA2;
    let ram = ctx.ram;
    // Frames the device cannot send: each chain is used with nothing written and dropped
    // (counted by the VMM), and the device keeps running.
    let frame = [(tx, HDR + 60, 0)];
    type Bufs = ArrayVec<(u64, u32, u16), 2>;
    let bad: [(&str, u8, u8, Bufs); 6] = [
        (
            "net-transmit-too-short",
            0,
            0,
            [(tx, HDR + 13, 0)].into_iter().collect(),
        ),
        (
            "net-transmit-too-long",
            0,
            0,
            [(tx, HDR + FRAME_MAX as u32 + 1, 0)].into_iter().collect(),
        ),
        (
            "net-transmit-header-only",
            0,
            0,
            [(tx, HDR, 0)].into_iter().collect(),
        ),
        (
            "net-transmit-checksum-offload-asked",
            1,
            0,
            frame.into_iter().collect(),
        ),
        (
            "net-transmit-segmentation-asked",
            0,
            3,
            frame.into_iter().collect(),
        ),
        (
            "net-transmit-device-writable-buffer",
            0,
            0,
            [(tx, HDR + 60, W)].into_iter().collect(),
        ),
    ];
    for (name, flags, gso, chain) in bad {
        run.case(dev, name, |d| {
            d.init()?;
            net_frame(tx, &[0xFF; 6], 0x88B5, &[0; 46]);
            write8(tx, flags);
            write8(tx + 1, gso);
            let (_, len) = d.request(1, &chain)?;
            expect!(len == 0, "written {len}");
            d.expect_running()
        });
    }
    run.case(dev, "net-transmit-8-gib-chain", |d| {
        // 126 descriptors over all of guest RAM: far beyond a frame, dropped unread.
        d.init()?;
        let segs: ArrayVec<(u64, u32, u16), 126> = (0..126)
            .map(|_| (ram.base, (ram.end - ram.base) as u32, 0))
            .collect();
        let (_, len) = d.request(1, &segs)?;
        expect!(len == 0, "written {len}");
        d.expect_running()
    });
    run.case(dev, "net-transmit-header-split", |d| {
        d.init()?;
        let len = net_frame(tx, &[0xFF; 6], 0x88B5, &[0; 46]);
        let (_, written) = d.request(1, &[(tx, 5, 0), (tx + 5, 9, 0), (tx + 14, len - 14, 0)])?;
        expect!(written == 0, "written {written}");
        d.expect_running()
    });
    run.case(dev, "net-receive-arp-reply", |d| {
        d.init()?;
        fill(rx, 2048, 0xEE);
        net_receive(d, &[(rx, RX_ROOM, W)], tx)?;
        expect!(
            within(5000, || d.vq[0].used_idx() != 0),
            "no frame within 5 s of an ARP request (Status {:#x})",
            d.status()
        );
        let Some((head, len)) = d.vq[0].take_used() else {
            return Err(why!("no used element"));
        };
        expect!(
            head == 0 && len >= HDR + 42,
            "used head {head}, written {len}"
        );
        let at = |i: u64| read8(rx + u64::from(HDR) + i);
        let (kind, op) = (
            u16::from_be_bytes([at(12), at(13)]),
            u16::from_be_bytes([at(20), at(21)]),
        );
        let sender = [at(28), at(29), at(30), at(31)];
        expect!(
            kind == 0x0806 && op == 2 && sender == GATEWAY_IP,
            "not the gateway's ARP reply: {}",
            peek(rx + u64::from(HDR) + 8)
        );
        let hdr = (read64(rx), read32(rx + 8));
        expect!(
            hdr == (0, 1 << 16),
            "header {:#x} {:#x}: want no flags and one buffer",
            hdr.0,
            hdr.1
        );
        let int = d.reg(INTERRUPT_STATUS);
        expect!(
            int & 1 != 0,
            "InterruptStatus {int:#x}: no used-buffer interrupt"
        );
        d.expect_running()
    });
    run.case(dev, "net-receive-buffer-too-small", |d| {
        d.init()?;
        fill(rx, 64, 0xEE);
        net_receive(d, &[(rx, 20, W)], tx)?;
        expect!(
            within(5000, || d.vq[0].used_idx() != 0),
            "the buffer was not given back within 5 s"
        );
        let used = d.vq[0].take_used();
        expect!(
            used == Some((0, 0)) && all(rx, 64, 0xEE),
            "used {used:?}, {}: want the buffer back empty",
            peek(rx)
        );
        d.expect_running()
    });
    run.case(dev, "net-receive-device-readable-buffer", |d| {
        d.init()?;
        fill(rx, 2048, 0xEE);
        net_receive(d, &[(rx, RX_ROOM, 0)], tx)?;
        expect!(
            within(5000, || d.vq[0].used_idx() != 0),
            "the buffer was not given back within 5 s"
        );
        let used = d.vq[0].take_used();
        expect!(
            used == Some((0, 0)) && all(rx, 2048, 0xEE),
            "used {used:?}, {}: want the buffer back untouched",
            peek(rx)
        );
        d.expect_running()
    });
    run.case(dev, "net-receive-without-buffers", |d| {
        // The reply finds no buffer: dropped, never waited for.
        d.init()?;
        let len = arp_request(tx);
        d.request(1, &[(tx, len, 0)])?;
        within(200, || false);
        d.nothing_used(0)?;
        d.expect_running()
    });
    let rx_chains: [(&str, u16, (u64, u32, u16)); 3] = [
        ("net-receive-head-out-of-range", QUEUE_MAX, (rx, RX_ROOM, W)),
        ("net-receive-buffer-past-ram", 0, (ram.end - 8, RX_ROOM, W)),
        (
            "net-receive-buffer-in-own-registers",
            0,
            (dev.base, RX_ROOM, W),
        ),
    ];
    for (name, head, desc) in rx_chains {
        run.case(dev, name, |d| {
            // Found when the ARP reply comes in: the device needs a reset.
            d.init()?;
            d.vq[0].set_desc(0, desc.0, desc.1, desc.2, 0);
            d.vq[0].offer(head);
            let len = arp_request(tx);
            d.request(1, &[(tx, len, 0)])?;
            expect!(
                within(5000, || d.needs_reset()),
                "no DEVICE_NEEDS_RESET within 5 s of the ARP request"
            );
            d.nothing_used(0)?;
            d.expect_needs_reset()
        });
    }
}
