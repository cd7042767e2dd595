//! The transport and devices driven as Linux's virtio_mmio and virtio_ring drive them, then
//! by a hostile driver: malformed queues must end in DEVICE_NEEDS_RESET or an error status,
//! never a panic or an endless loop.

use super::testmem::{Driver, VecMemory, RAM_BASE};
use super::*;

const RAM: usize = 1 << 20;
const RINGS: u64 = RAM_BASE + 0x1000;
const BUFS: u64 = RAM_BASE + 0x10000;

/// A backend in a vector, counting flushes.
struct VecDisk {
    data: Vec<u8>,
    flushes: usize,
}

impl BlockBackend for VecDisk {
    fn capacity(&self) -> u64 {
        self.data.len() as u64
    }

    fn read(
        &mut self,
        mem: &dyn GuestMemory,
        offset: u64,
        segments: &[(u64, u32)],
    ) -> Result<(), IoError> {
        let mut at = offset as usize;
        for &(addr, len) in segments {
            mem.write(addr, &self.data[at..at + len as usize])
                .map_err(|_| IoError)?;
            at += len as usize;
        }
        Ok(())
    }

    fn write(
        &mut self,
        mem: &dyn GuestMemory,
        offset: u64,
        segments: &[(u64, u32)],
    ) -> Result<(), IoError> {
        let mut at = offset as usize;
        for &(addr, len) in segments {
            mem.read(addr, &mut self.data[at..at + len as usize])
                .map_err(|_| IoError)?;
            at += len as usize;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.flushes += 1;
        Ok(())
    }
}

fn disk(sectors: usize, read_only: bool) -> MmioTransport<Blk<VecDisk>> {
    let data = (0..sectors * 512)
        .map(|i| (i / 512) as u8 ^ i as u8)
        .collect();
    MmioTransport::new(Blk::new(VecDisk { data, flushes: 0 }, read_only))
}

fn r(t: &mut MmioTransport<impl VirtioDevice>, offset: u64) -> u32 {
    t.read(offset, 4) as u32
}

fn w(t: &mut MmioTransport<impl VirtioDevice>, mem: &VecMemory, offset: u64, value: u32) {
    t.write(offset, 4, u64::from(value), mem);
}

/// What Linux's virtio_mmio probe and virtio core do up to DRIVER_OK, with one queue set up
/// per driver in `queues`, accepting `features`.
fn bring_up(
    t: &mut MmioTransport<impl VirtioDevice>,
    mem: &VecMemory,
    features: u64,
    queues: &[&Driver],
) {
    assert_eq!(r(t, 0x000), 0x7472_6976);
    assert_eq!(r(t, 0x004), 2);
    w(t, mem, 0x070, 0);
    w(t, mem, 0x070, STATUS_ACKNOWLEDGE);
    w(t, mem, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(t, mem, 0x014, 1);
    assert_eq!(r(t, 0x010) & 1, 1, "VERSION_1 offered");
    for (sel, word) in [(0, features as u32), (1, (features >> 32) as u32)] {
        w(t, mem, 0x024, sel);
        w(t, mem, 0x020, word);
    }
    w(
        t,
        mem,
        0x070,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    assert_ne!(r(t, 0x070) & STATUS_FEATURES_OK, 0, "features accepted");
    for (i, d) in queues.iter().enumerate() {
        w(t, mem, 0x030, i as u32);
        assert_eq!(r(t, 0x044), 0);
        assert!(r(t, 0x034) >= u32::from(d.size));
        w(t, mem, 0x038, u32::from(d.size));
        for (reg, addr) in [(0x080, d.desc), (0x090, d.avail), (0x0a0, d.used)] {
            w(t, mem, reg, addr as u32);
            w(t, mem, reg + 4, (addr >> 32) as u32);
        }
        w(t, mem, 0x044, 1);
        assert_eq!(r(t, 0x044), 1);
    }
    w(
        t,
        mem,
        0x070,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK,
    );
    assert!(t.running());
}

fn blk_header(mem: &VecMemory, at: u64, kind: u32, sector: u64) {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&kind.to_le_bytes());
    h[8..16].copy_from_slice(&sector.to_le_bytes());
    mem.put(at, &h);
}

/// One block request: header, data buffers, status; returns (status, used length).
fn request(
    t: &mut MmioTransport<Blk<VecDisk>>,
    mem: &VecMemory,
    d: &mut Driver,
    kind: u32,
    sector: u64,
    data: &[(u64, u32)],
) -> (u8, u32) {
    blk_header(mem, BUFS, kind, sector);
    let status = BUFS + 0x100;
    mem.put(status, &[0xEE]);
    let device_writes = kind != BLK_T_OUT;
    let mut chain = vec![(BUFS, 16, false)];
    chain.extend(data.iter().map(|&(a, l)| (a, l, device_writes)));
    chain.push((status, 1, true));
    let head = d.add(mem, &chain);
    w(t, mem, 0x050, 0);
    let used = d.take_used(mem);
    assert_eq!(used.len(), 1, "one request, one used element");
    assert_eq!(used[0].0, u32::from(head));
    (mem.get(status, 1)[0], used[0].1)
}

fn ack(t: &mut MmioTransport<impl VirtioDevice>, mem: &VecMemory) -> u32 {
    let s = r(t, 0x060);
    w(t, mem, 0x064, s);
    s
}

#[test]
fn registers_identify_a_version_2_block_device() {
    let mut t = disk(8, false);
    let mem = VecMemory::new(RAM);
    assert_eq!(r(&mut t, 0x008), ID_BLOCK);
    assert_eq!(t.read(0x100, 8), 8, "capacity in sectors");
    assert_eq!(t.read(0x10c, 4), SEG_MAX_FOR_TEST);
    w(&mut t, &mem, 0x014, 0);
    assert_ne!(r(&mut t, 0x010) & (1 << 9), 0, "FLUSH offered");
    assert_eq!(r(&mut t, 0x010) & (1 << 5), 0, "not read-only");
    assert_eq!(disk(8, true).read(0x010, 4) & (1 << 5), 1 << 5);
}

const SEG_MAX_FOR_TEST: u64 = QUEUE_MAX as u64 - 2;

#[test]
fn features_without_version_1_or_not_offered_are_refused() {
    let mem = VecMemory::new(RAM);
    for features in [0, F_VERSION_1 | 1 << 40] {
        let mut t = disk(8, false);
        w(&mut t, &mem, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        for (sel, word) in [(0, features as u32), (1, (features >> 32) as u32)] {
            w(&mut t, &mem, 0x024, sel);
            w(&mut t, &mem, 0x020, word);
        }
        w(
            &mut t,
            &mem,
            0x070,
            STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
        );
        assert_eq!(
            r(&mut t, 0x070) & STATUS_FEATURES_OK,
            0,
            "features {features:#x}"
        );
    }
}

#[test]
fn block_reads_writes_and_flushes() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(64, false);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1 | 1 << 9, &[&d]);
    // A write of two sectors from two buffers, then a read back into one.
    mem.put(BUFS + 0x1000, &[0xAB; 512]);
    mem.put(BUFS + 0x3000, &[0xCD; 512]);
    let (status, len) = request(
        &mut t,
        &mem,
        &mut d,
        BLK_T_OUT,
        10,
        &[(BUFS + 0x1000, 512), (BUFS + 0x3000, 512)],
    );
    assert_eq!((status, len), (BLK_S_OK, 1));
    assert!(t.line());
    assert_eq!(ack(&mut t, &mem), 1);
    assert!(!t.line());
    let (status, len) = request(&mut t, &mem, &mut d, BLK_T_IN, 10, &[(BUFS + 0x5000, 1024)]);
    assert_eq!((status, len), (BLK_S_OK, 1025));
    let back = mem.get(BUFS + 0x5000, 1024);
    assert!(back[..512].iter().all(|&b| b == 0xAB) && back[512..].iter().all(|&b| b == 0xCD));
    assert_eq!(
        request(&mut t, &mem, &mut d, BLK_T_FLUSH, 0, &[]),
        (BLK_S_OK, 1)
    );
    assert_eq!(t.device.backend.flushes, 1);
    let (status, len) = request(
        &mut t,
        &mem,
        &mut d,
        BLK_T_GET_ID,
        0,
        &[(BUFS + 0x6000, 20)],
    );
    assert_eq!((status, len), (BLK_S_OK, 21));
    assert_eq!(&mem.get(BUFS + 0x6000, 12), b"zxvisor-disk");
    assert_eq!(request(&mut t, &mem, &mut d, 77, 0, &[]).0, BLK_S_UNSUPP);
}

#[test]
fn requests_beyond_the_disk_or_read_only_get_an_error_status() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(64, false);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    let buf = [(BUFS + 0x1000, 1024)];
    assert_eq!(
        request(&mut t, &mem, &mut d, BLK_T_IN, 63, &buf).0,
        BLK_S_IOERR,
        "crosses the end"
    );
    assert_eq!(
        request(&mut t, &mem, &mut d, BLK_T_OUT, 64, &buf).0,
        BLK_S_IOERR,
        "past the end"
    );
    assert_eq!(
        request(&mut t, &mem, &mut d, BLK_T_IN, u64::MAX / 256, &buf).0,
        BLK_S_IOERR,
        "overflows"
    );
    assert_eq!(
        request(&mut t, &mem, &mut d, BLK_T_IN, 0, &[(BUFS + 0x1000, 100)]).0,
        BLK_S_IOERR,
        "not whole sectors"
    );
    assert_eq!(
        request(&mut t, &mem, &mut d, BLK_T_IN, 62, &buf).0,
        BLK_S_OK,
        "the last two sectors"
    );
    assert!(t.running(), "errors in requests do not stop the device");

    let mut ro = disk(64, true);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut ro, &mem, F_VERSION_1 | 1 << 5, &[&d]);
    assert_eq!(
        request(&mut ro, &mem, &mut d, BLK_T_OUT, 0, &buf).0,
        BLK_S_IOERR
    );
    assert_eq!(ro.device.backend.data[0], 0, "nothing written");
    assert_eq!(
        request(&mut ro, &mem, &mut d, BLK_T_IN, 0, &buf).0,
        BLK_S_OK
    );
}

#[test]
fn indices_wrap_around_16_bits() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(8, false);
    let mut d = Driver::new(4, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    for _ in 0..70_000 / 64 {
        for _ in 0..64 {
            let (s, _) = request(&mut t, &mem, &mut d, BLK_T_FLUSH, 0, &[]);
            assert_eq!(s, BLK_S_OK);
        }
    }
    assert!(t.running());
}

/// A device that needed a reset: its status says so, the config interrupt is raised, it
/// serves nothing more, and a reset brings it back.
fn assert_needs_reset(t: &mut MmioTransport<Blk<VecDisk>>, mem: &VecMemory, d: &mut Driver) {
    assert_ne!(
        r(t, 0x070) & STATUS_DEVICE_NEEDS_RESET,
        0,
        "DEVICE_NEEDS_RESET"
    );
    assert_ne!(r(t, 0x060) & 2, 0, "configuration change interrupt");
    assert!(t.take_error().is_some());
    assert!(!t.running());
    w(t, mem, 0x050, 0);
    let _ = d.take_used(mem);
    w(t, mem, 0x070, 0);
    assert_eq!(r(t, 0x070), 0);
    assert_eq!(r(t, 0x060), 0);
    let mut fresh = Driver::new(8, RINGS + 0x4000);
    mem.put(fresh.avail, &[0; 4]);
    bring_up(t, mem, F_VERSION_1, &[&fresh]);
    blk_header(mem, BUFS, BLK_T_FLUSH, 0);
    fresh.add(mem, &[(BUFS, 16, false), (BUFS + 0x100, 1, true)]);
    w(t, mem, 0x050, 0);
    assert_eq!(
        fresh.take_used(mem).len(),
        1,
        "served again after the reset"
    );
}

/// Sets up a running disk with a 16-entry queue and lets `attack` corrupt it before a notify.
fn attacked(attack: impl FnOnce(&VecMemory, &mut Driver)) {
    let mem = VecMemory::new(RAM);
    let mut t = disk(64, false);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    attack(&mem, &mut d);
    w(&mut t, &mem, 0x050, 0);
    assert_needs_reset(&mut t, &mem, &mut d);
}

#[test]
fn a_head_index_out_of_range_needs_a_reset() {
    attacked(|mem, d| d.offer(mem, 16));
}

#[test]
fn a_next_index_out_of_range_needs_a_reset() {
    attacked(|mem, d| {
        d.set_desc(mem, 0, BUFS, 16, DESC_F_NEXT, 500);
        d.offer(mem, 0);
    });
}

#[test]
fn a_chain_that_loops_needs_a_reset() {
    attacked(|mem, d| {
        d.set_desc(mem, 0, BUFS, 16, DESC_F_NEXT, 1);
        d.set_desc(mem, 1, BUFS, 16, DESC_F_NEXT, 0);
        d.offer(mem, 0);
    });
    attacked(|mem, d| {
        d.set_desc(mem, 3, BUFS, 16, DESC_F_NEXT, 3);
        d.offer(mem, 3);
    });
}

#[test]
fn a_buffer_past_the_end_of_ram_needs_a_reset() {
    let end = RAM_BASE + RAM as u64;
    for (addr, len) in [
        (end - 8, 16),
        (end, 1),
        (u64::MAX - 4, 16),
        (0x1000, 16),
        (BUFS, u32::MAX),
    ] {
        attacked(|mem, d| {
            d.set_desc(mem, 0, addr, len, 0, 0);
            d.offer(mem, 0);
        });
    }
}

#[test]
fn an_available_index_running_ahead_needs_a_reset() {
    attacked(|mem, d| d.set_avail_idx(mem, 17));
    attacked(|mem, d| d.set_avail_idx(mem, 0x8000));
}

#[test]
fn indirect_descriptors_need_a_reset() {
    attacked(|mem, d| {
        d.set_desc(mem, 0, BUFS, 16, 4, 0);
        d.offer(mem, 0);
    });
}

/// Sets up queue 0 with `size` and rings at the given addresses and makes it ready.
fn ready_with(desc: u64, avail: u64, used: u64, size: u32) {
    let mem = VecMemory::new(RAM);
    let mut t = disk(64, false);
    w(&mut t, &mem, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(&mut t, &mem, 0x024, 1);
    w(&mut t, &mem, 0x020, 1);
    w(
        &mut t,
        &mem,
        0x070,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK,
    );
    w(&mut t, &mem, 0x038, size);
    for (reg, addr) in [(0x080, desc), (0x090, avail), (0x0a0, used)] {
        w(&mut t, &mem, reg, addr as u32);
        w(&mut t, &mem, reg + 4, (addr >> 32) as u32);
    }
    w(&mut t, &mem, 0x044, 1);
    assert_eq!(r(&mut t, 0x044), 0, "queue refused");
    let mut d = Driver::new(16, RINGS);
    assert_needs_reset(&mut t, &mem, &mut d);
}

#[test]
fn unaligned_rings_need_a_reset() {
    ready_with(RINGS + 8, RINGS + 0x1000, RINGS + 0x2000, 16);
    ready_with(RINGS, RINGS + 0x1001, RINGS + 0x2000, 16);
    ready_with(RINGS, RINGS + 0x1000, RINGS + 0x2002, 16);
}

#[test]
fn rings_outside_ram_or_bad_sizes_need_a_reset() {
    let end = RAM_BASE + RAM as u64;
    ready_with(end - 0x10, RINGS + 0x1000, RINGS + 0x2000, 16);
    ready_with(RINGS, 0x1000, RINGS + 0x2000, 16);
    ready_with(RINGS, RINGS + 0x1000, u64::MAX - 3, 16);
    ready_with(RINGS, RINGS + 0x1000, RINGS + 0x2000, 0);
    ready_with(RINGS, RINGS + 0x1000, RINGS + 0x2000, 12);
    ready_with(RINGS, RINGS + 0x1000, RINGS + 0x2000, 256);
}

#[test]
fn a_request_without_header_or_status_is_returned_empty() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(64, false);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    d.add(&mem, &[(BUFS, 8, false), (BUFS + 0x100, 1, true)]);
    d.add(&mem, &[(BUFS, 16, false)]);
    w(&mut t, &mem, 0x050, 0);
    assert_eq!(
        d.take_used(&mem).iter().map(|u| u.1).collect::<Vec<_>>(),
        [0, 0]
    );
    assert!(t.running());
}

#[test]
fn stray_register_accesses_change_nothing() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(8, false);
    for (offset, size) in [(0x070, 1), (0x071, 4), (0x070, 8), (0x050, 2)] {
        t.write(offset, size, 0xFF, &mem);
    }
    assert_eq!(r(&mut t, 0x070), 0);
    w(&mut t, &mem, 0x030, 7);
    assert_eq!(r(&mut t, 0x034), 0, "no queue 7");
    w(&mut t, &mem, 0x044, 1);
    w(&mut t, &mem, 0x050, 7);
    w(&mut t, &mem, 0x050, u32::MAX);
    assert_eq!(r(&mut t, 0x070), 0);
    assert_eq!(t.read(0x2000, 4), 0, "config beyond its end reads 0");
}

#[test]
fn a_notify_before_driver_ok_serves_nothing() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(8, false);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    w(&mut t, &mem, 0x070, 0);
    d.add(&mem, &[(BUFS, 16, false), (BUFS + 0x100, 1, true)]);
    w(&mut t, &mem, 0x050, 0);
    assert!(d.take_used(&mem).is_empty());
}

#[test]
fn console_transmits_and_receives() {
    let mem = VecMemory::new(RAM);
    let out = core::cell::RefCell::new(Vec::new());
    let mut t = MmioTransport::new(Console::new(|b: &[u8]| {
        out.borrow_mut().extend_from_slice(b)
    }));
    assert_eq!(r(&mut t, 0x008), ID_CONSOLE);
    let mut rx = Driver::new(8, RINGS);
    let mut tx = Driver::new(8, RINGS + 0x1000);
    bring_up(&mut t, &mem, F_VERSION_1, &[&rx, &tx]);
    mem.put(BUFS, b"hello, ");
    mem.put(BUFS + 0x100, b"hvc0\n");
    tx.add(&mem, &[(BUFS, 7, false), (BUFS + 0x100, 5, false)]);
    w(&mut t, &mem, 0x050, 1);
    assert_eq!(&*out.borrow(), b"hello, hvc0\n");
    assert_eq!(tx.take_used(&mem), [(0, 0)]);
    // Input: with no receive buffer nothing is taken; then two 4-byte buffers take 8 of 10.
    let mut taken = 0;
    t.with_device(&mem, |_, q, mem| {
        Console::<fn(&[u8])>::receive(q, mem, b"0123456789", &mut taken)
    });
    assert_eq!(taken, 0);
    rx.add(&mem, &[(BUFS + 0x200, 4, true)]);
    rx.add(&mem, &[(BUFS + 0x300, 4, true)]);
    t.with_device(&mem, |_, q, mem| {
        Console::<fn(&[u8])>::receive(q, mem, b"0123456789", &mut taken)
    });
    assert_eq!(taken, 8);
    assert_eq!(rx.take_used(&mem), [(0, 4), (1, 4)]);
    assert_eq!(mem.get(BUFS + 0x300, 4), b"4567");
    assert!(t.line());
}

struct Counter(u8);

impl EntropySource for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

#[test]
fn rng_fills_buffers_up_to_a_limit() {
    let mem = VecMemory::new(RAM);
    let mut t = MmioTransport::new(Rng::new(Counter(0)));
    assert_eq!(r(&mut t, 0x008), ID_ENTROPY);
    let mut d = Driver::new(8, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    d.add(&mem, &[(BUFS, 3, true), (BUFS + 0x10, 2, true)]);
    d.add(&mem, &[(BUFS + 0x1000, 0x10000, true)]);
    w(&mut t, &mem, 0x050, 0);
    assert_eq!(d.take_used(&mem), [(0, 5), (2, 4096)]);
    assert_eq!(mem.get(BUFS, 3), [1, 2, 3]);
    assert_eq!(mem.get(BUFS + 0x10, 2), [4, 5]);
}

#[test]
fn driver_ok_without_features_ok_serves_nothing() {
    let mem = VecMemory::new(RAM);
    let mut t = disk(8, false);
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    // Again, with every step but FEATURES_OK: no interface was agreed on.
    w(&mut t, &mem, 0x070, 0);
    w(&mut t, &mem, 0x070, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    w(&mut t, &mem, 0x038, 16);
    for (reg, addr) in [(0x080, d.desc), (0x090, d.avail), (0x0a0, d.used)] {
        w(&mut t, &mem, reg, addr as u32);
    }
    w(&mut t, &mem, 0x044, 1);
    w(
        &mut t,
        &mem,
        0x070,
        STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK,
    );
    d = Driver::new(16, RINGS);
    d.add(&mem, &[(BUFS, 16, false), (BUFS + 0x100, 1, true)]);
    w(&mut t, &mem, 0x050, 0);
    assert!(d.take_used(&mem).is_empty());
    assert!(!t.running());
}

#[test]
fn a_failed_request_reports_only_its_status_byte_written() {
    // 64 MiB of RAM, and a read into 64 writable descriptors of all of it and one of 512
    // bytes: 4 GiB + 512 bytes, beyond a 32-bit length and the disk.
    let mem = VecMemory::new(64 << 20);
    let mut t = disk(64, false);
    let mut d = Driver::new(128, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    let (status, len) = request(&mut t, &mem, &mut d, BLK_T_IN, 63, &[(BUFS + 0x1000, 1024)]);
    assert_eq!(
        (status, len),
        (BLK_S_IOERR, 1),
        "a read past the end writes only the status"
    );
    let mut huge = vec![(RAM_BASE, 64 << 20); 64];
    huge.push((BUFS, 512));
    let (status, len) = request(&mut t, &mem, &mut d, BLK_T_IN, 0, &huge);
    assert_eq!((status, len), (BLK_S_IOERR, 1));
    assert!(t.running());
}

#[test]
fn a_huge_console_transmit_is_cut_at_64_kib() {
    // 16 descriptors over all of RAM: 16 MiB to print, of which the first 64 KiB are.
    let mem = VecMemory::new(RAM);
    let out = core::cell::RefCell::new(Vec::new());
    let mut t = MmioTransport::new(Console::new(|b: &[u8]| {
        out.borrow_mut().extend_from_slice(b)
    }));
    let rx = Driver::new(8, RINGS);
    let mut tx = Driver::new(16, RINGS + 0x1000);
    bring_up(&mut t, &mem, F_VERSION_1, &[&rx, &tx]);
    tx.add(&mem, &[(RAM_BASE, RAM as u32, false); 16]);
    w(&mut t, &mem, 0x050, 1);
    assert_eq!(out.borrow().len(), 64 << 10);
    assert_eq!(tx.take_used(&mem), [(0, 0)]);
    assert!(t.running());
}

/// Guest RAM whose driver (another vCPU) makes a new chain available each time the device
/// reads the available index, up to `left` times.
struct Feeding<'a> {
    mem: &'a VecMemory,
    driver: core::cell::RefCell<&'a mut Driver>,
    left: core::cell::Cell<u32>,
}

impl GuestMemory for Feeding<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let mut d = self.driver.borrow_mut();
        if addr == d.avail + 2 && self.left.get() > 0 {
            self.left.set(self.left.get() - 1);
            d.add(self.mem, &[(BUFS, 16, true)]);
        }
        self.mem.read(addr, buf)
    }

    fn write(&self, addr: u64, data: &[u8]) -> Result<(), OutOfRange> {
        self.mem.write(addr, data)
    }

    fn contains(&self, addr: u64, len: u64) -> bool {
        self.mem.contains(addr, len)
    }
}

#[test]
fn a_notify_serves_at_most_one_queue_of_chains() {
    // Without a bound the device would serve all 100,000 chains in one notify, holding
    // the vCPU (and the VMM's tick on the boot CPU) for as long as the other vCPU feeds.
    let mem = VecMemory::new(RAM);
    let mut t = MmioTransport::new(Rng::new(Counter(0)));
    let mut d = Driver::new(16, RINGS);
    bring_up(&mut t, &mem, F_VERSION_1, &[&d]);
    let fed = {
        let feeding = Feeding {
            mem: &mem,
            driver: core::cell::RefCell::new(&mut d),
            left: core::cell::Cell::new(100_000),
        };
        t.write(0x050, 4, 0, &feeding);
        100_000 - feeding.left.get()
    };
    let used = d.take_used(&mem).len();
    assert!(used <= 16, "{used} chains served in one notify, {fed} fed");
    assert!(t.running());
}

type Frames = core::cell::RefCell<Vec<Vec<u8>>>;

/// A network device whose transmitted frames land in a vector.
type Nic<'a> = MmioTransport<Net<Box<dyn FnMut(&[u8]) + 'a>>>;

fn nic(out: &Frames) -> Nic<'_> {
    MmioTransport::new(Net::new(
        DEFAULT_MAC,
        Box::new(|f: &[u8]| out.borrow_mut().push(f.to_vec())),
    ))
}

/// A network device brought up as Linux's virtio_net does, with its receive and transmit
/// queues.
fn nic_up<'a>(mem: &VecMemory, out: &'a Frames) -> (Nic<'a>, Driver, Driver) {
    let mut t = nic(out);
    let rx = Driver::new(8, RINGS);
    let tx = Driver::new(8, RINGS + 0x1000);
    bring_up(&mut t, mem, F_VERSION_1 | F_NET_MAC, &[&rx, &tx]);
    (t, rx, tx)
}

/// A test frame of `len` bytes: broadcast destination, then a counting pattern.
fn frame(len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| i as u8).collect();
    f[..6].copy_from_slice(&[0xFF; 6]);
    f
}

const F_NET_MAC: u64 = 1 << 5;

/// Offers `f` to the guest as the VMM's tick does; returns whether the device consumed it.
fn deliver(t: &mut Nic, mem: &VecMemory, f: &[u8]) -> bool {
    let mut taken = false;
    t.with_device(mem, |dev, q, mem| {
        let mut used = false;
        taken = dev.receive(q, mem, f, &mut used)?;
        Ok(used)
    });
    taken
}

#[test]
fn net_identifies_itself_with_its_mac_and_no_offloads() {
    let out = Frames::default();
    let mut t = nic(&out);
    let mem = VecMemory::new(0x1000);
    assert_eq!(r(&mut t, 0x008), ID_NET);
    w(&mut t, &mem, 0x014, 0);
    assert_eq!(
        r(&mut t, 0x010),
        F_NET_MAC as u32,
        "MAC only in the low word"
    );
    w(&mut t, &mem, 0x014, 1);
    assert_eq!(r(&mut t, 0x010), 1, "VERSION_1 only in the high word");
    let mac: Vec<u8> = (0..6).map(|i| t.read(0x100 + i, 1) as u8).collect();
    assert_eq!(mac, DEFAULT_MAC);
    assert_eq!(DEFAULT_MAC[0] & 3, 2, "locally administered unicast");
    assert_eq!(t.read(0x106, 2), 0, "no status field");
}

#[test]
fn net_transmits_frames_without_their_header() {
    let mem = VecMemory::new(RAM);
    let out = Frames::default();
    let (mut t, _, mut tx) = nic_up(&mem, &out);
    // Header and frame in one buffer (as Linux sends), then split over three.
    let f = frame(60);
    mem.put(BUFS, &[0; NET_HDR]);
    mem.put(BUFS + NET_HDR as u64, &f);
    tx.add(&mem, &[(BUFS, (NET_HDR + 60) as u32, false)]);
    let big = frame(FRAME_MAX);
    mem.put(BUFS + 0x1000, &[0; NET_HDR]);
    mem.put(BUFS + 0x2000, &big[..100]);
    mem.put(BUFS + 0x3000, &big[100..]);
    tx.add(
        &mem,
        &[
            (BUFS + 0x1000, NET_HDR as u32, false),
            (BUFS + 0x2000, 100, false),
            (BUFS + 0x3000, (FRAME_MAX - 100) as u32, false),
        ],
    );
    w(&mut t, &mem, 0x050, 1);
    assert_eq!(*out.borrow(), [f, big]);
    assert_eq!(tx.take_used(&mem), [(0, 0), (1, 0)]);
    assert!(t.line());
    assert_eq!(t.device.drops, NetDrops::default());
}

#[test]
fn net_drops_malformed_transmitted_frames_and_goes_on() {
    let mem = VecMemory::new(RAM);
    let out = Frames::default();
    let (mut t, _, mut tx) = nic_up(&mem, &out);
    mem.put(BUFS, &[0; NET_HDR]);
    mem.put(BUFS + NET_HDR as u64, &frame(FRAME_MAX + 1));
    // Too long by one byte; too short for an Ethernet header; only a part of a header;
    // NEEDS_CSUM without the CSUM feature; GSO without any GSO feature; then a good one.
    tx.add(&mem, &[(BUFS, (NET_HDR + FRAME_MAX + 1) as u32, false)]);
    tx.add(&mem, &[(BUFS, (NET_HDR + FRAME_MIN - 1) as u32, false)]);
    tx.add(&mem, &[(BUFS, 4, false)]);
    mem.put(BUFS + 0x1000, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    mem.put(BUFS + 0x1000 + NET_HDR as u64, &frame(60));
    tx.add(&mem, &[(BUFS + 0x1000, (NET_HDR + 60) as u32, false)]);
    mem.put(BUFS + 0x2000, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    mem.put(BUFS + 0x2000 + NET_HDR as u64, &frame(60));
    tx.add(&mem, &[(BUFS + 0x2000, (NET_HDR + 60) as u32, false)]);
    tx.add(&mem, &[(BUFS, (NET_HDR + 60) as u32, false)]);
    w(&mut t, &mem, 0x050, 1);
    assert_eq!(out.borrow().len(), 1, "only the good frame goes out");
    assert_eq!(out.borrow()[0], frame(FRAME_MAX + 1)[..60]);
    assert_eq!(tx.take_used(&mem).len(), 6, "every chain goes back");
    assert_eq!(t.device.drops.tx_malformed, 5);
    assert!(t.running(), "a bad frame is not a bad queue");
}

#[test]
fn net_receives_into_whole_buffers_with_a_version_1_header() {
    let mem = VecMemory::new(RAM);
    let out = Frames::default();
    let (mut t, mut rx, _) = nic_up(&mem, &out);
    let f = frame(FRAME_MAX);
    assert!(
        !deliver(&mut t, &mem, &f),
        "no buffer: the caller keeps the frame"
    );
    assert!(!t.line());
    // Linux's small receive buffers: header and frame in one; then one split in two.
    mem.put(BUFS, &[0xEE; NET_HDR + FRAME_MAX]);
    rx.add(&mem, &[(BUFS, (NET_HDR + FRAME_MAX) as u32, true)]);
    rx.add(
        &mem,
        &[
            (BUFS + 0x1000, NET_HDR as u32, true),
            (BUFS + 0x2000, 2048, true),
        ],
    );
    assert!(deliver(&mut t, &mem, &f));
    assert!(deliver(&mut t, &mem, &f[..64]));
    assert_eq!(
        rx.take_used(&mem),
        [
            (0, (NET_HDR + FRAME_MAX) as u32),
            (1, (NET_HDR + 64) as u32)
        ]
    );
    assert_eq!(
        mem.get(BUFS, NET_HDR),
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        "num_buffers 1"
    );
    assert_eq!(mem.get(BUFS + NET_HDR as u64, FRAME_MAX), f);
    assert_eq!(mem.get(BUFS + 0x2000, 64), f[..64]);
    assert!(t.line());
    assert_eq!(t.device.drops, NetDrops::default());
}

#[test]
fn net_drops_received_frames_of_a_bad_size_or_too_big_for_the_buffer() {
    let mem = VecMemory::new(RAM);
    let out = Frames::default();
    let (mut t, mut rx, _) = nic_up(&mem, &out);
    rx.add(&mem, &[(BUFS, 100, true)]);
    assert!(
        deliver(&mut t, &mem, &frame(FRAME_MAX + 1)),
        "too long: consumed, dropped"
    );
    assert!(
        deliver(&mut t, &mem, &frame(FRAME_MIN - 1)),
        "too short: consumed, dropped"
    );
    assert_eq!(rx.take_used(&mem), [], "neither took a buffer");
    assert!(
        deliver(&mut t, &mem, &frame(200)),
        "too big for the buffer: dropped"
    );
    assert_eq!(rx.take_used(&mem), [(0, 0)], "the buffer goes back empty");
    assert_eq!(t.device.drops.rx_malformed, 3);
    assert!(t.running());
}

#[test]
fn net_queues_that_are_malformed_need_a_reset() {
    let mem = VecMemory::new(RAM);
    let out = Frames::default();
    let (mut t, _, mut tx) = nic_up(&mem, &out);
    // A transmit chain that loops, and a receive buffer past the end of RAM.
    tx.set_desc(&mem, 0, BUFS, 16, DESC_F_NEXT, 1);
    tx.set_desc(&mem, 1, BUFS, 16, DESC_F_NEXT, 0);
    tx.offer(&mem, 0);
    w(&mut t, &mem, 0x050, 1);
    assert_eq!(t.take_error(), Some(QueueError::Loop));
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
    assert!(out.borrow().is_empty());
    assert_eq!(ack(&mut t, &mem) & 2, 2, "configuration-change interrupt");
    // The reset brings it back; then the receive side breaks.
    let (mut rx, tx) = (Driver::new(8, RINGS), Driver::new(8, RINGS + 0x1000));
    bring_up(&mut t, &mem, F_VERSION_1 | F_NET_MAC, &[&rx, &tx]);
    rx.add(&mem, &[(RAM_BASE + RAM as u64 - 8, 1526, true)]);
    assert!(!deliver(&mut t, &mem, &frame(60)));
    assert!(matches!(t.take_error(), Some(QueueError::OutsideRam(..))));
    assert_ne!(t.status() & STATUS_DEVICE_NEEDS_RESET, 0);
}

/// What the VMM does with a frame when `Net::receive` takes no buffer: `can_receive` false
/// (no buffer at all) means drop it; true means the batch is used up (buffers another vCPU
/// added meanwhile) and the frame waits for the next batch.
#[test]
fn net_can_receive_tells_no_buffer_from_a_used_up_batch() {
    let mem = VecMemory::new(RAM);
    let out = Frames::default();
    let (mut t, mut rx, _) = nic_up(&mem, &out);
    let f = frame(60);
    let mut seen = Vec::new();
    t.with_device(&mem, |dev, q, m| {
        type Dev<'a> = Net<Box<dyn FnMut(&[u8]) + 'a>>;
        seen.push(Dev::can_receive(q, m)?);
        for i in 0..8 {
            rx.add(&mem, &[(BUFS + 0x800 * i, 2048, true)]);
        }
        let mut used = false;
        for _ in 0..8 {
            assert!(dev.receive(q, m, &f, &mut used)?);
        }
        seen.push(Dev::can_receive(q, m)?);
        rx.add(&mem, &[(BUFS, 2048, true)]);
        seen.push(Dev::can_receive(q, m)?);
        seen.push(dev.receive(q, m, &f, &mut used)?);
        Ok(used)
    });
    assert_eq!(seen, [false, false, true, false]);
    assert_eq!(rx.take_used(&mem).len(), 8);
    assert!(deliver(&mut t, &mem, &f), "the next batch takes the buffer");
    assert_eq!(rx.take_used(&mem).len(), 1);
    // A receive queue whose available index ran ahead: an error, not "no buffer".
    rx.set_avail_idx(&mem, 9 + 100);
    let mut error = None;
    t.with_device(&mem, |_, q, m| {
        error = Net::<Box<dyn FnMut(&[u8])>>::can_receive(q, m).err();
        Ok(false)
    });
    assert_eq!(error, Some(QueueError::AvailIndex(109)));
}

#[test]
fn parts_are_written_across_buffers_as_one_would_be() {
    let mem = VecMemory::new(RAM);
    let chain = Chain {
        head: 0,
        descs: [
            (BUFS, 5),
            (BUFS + 0x100, 0),
            (BUFS + 0x200, 3),
            (BUFS + 0x300, 10),
        ]
        .into_iter()
        .map(|(addr, len)| Desc {
            addr,
            len,
            flags: DESC_F_WRITE,
        })
        .collect(),
    };
    let written = chain.write_parts(&mem, &[b"abcdefg", b"hi", b"", b"jklmnopqrstu"]);
    assert_eq!(written, 18);
    assert_eq!(mem.get(BUFS, 5), b"abcde");
    assert_eq!(mem.get(BUFS + 0x200, 3), b"fgh");
    assert_eq!(mem.get(BUFS + 0x300, 10), b"ijklmnopqr");
    assert_eq!(chain.write(&mem, b"0123456789ABCDEFGHIJ"), 18);
    assert_eq!(mem.get(BUFS + 0x300, 10), b"89ABCDEFGH");
}
