//! The guest test fixture (reference §6.1 SetupGuest): guest RAM carved out
//! of host RAM, the stage-1 identity table, the exit checks, and raw calls
//! for arguments the typed client cannot express.

use crate::guest_code::Code;
use crate::suite::{reason, Reason, TestResult};
use el1rt::cache::clean_invalidate;
use syscalls::client::{self, hvc};
use syscalls::hypervisor::{
    VcpuState, GUEST_TRAP_MEM, VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC,
};
use syscalls::port::{PortPacket, PKT_TYPE_GUEST_MEM};
use syscalls::{ids, Handle, Rights, Status, ZxResult};

/// Guest RAM of the main CPU's guests (host RAM, identity-mapped).
pub const GUEST_RAM: u64 = 0x4400_0000;
/// Guest RAM of a guest created on a second CPU at the same time.
pub const GUEST_RAM_2: u64 = 0x4600_0000;
pub const VMO_SIZE: u64 = 0x100_0000;
pub const PAGE: u64 = 4096;
pub const TRAP_ADDR: u64 = 0xFFE000;
pub const EXIT_TEST_ADDR: u64 = 0xFFF000;
pub const EXIT_TEST_FAILURE_ADDR: u64 = 0xFFF008;
pub const TRAP_KEY: u64 = 0x1234;
pub const PAGE_TABLE_PADDR: u64 = 0x10000;
/// Guest memory the fixture zeroes: code, page tables and scratch start.
const ZEROED: u64 = 0x30000;
pub const RWX_SPECIFIC: u32 = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE | VM_SPECIFIC;

/// A failure reason from format arguments.
#[macro_export]
macro_rules! why {
    ($($arg:tt)*) => { $crate::suite::reason(format_args!($($arg)*)) };
}

/// `r`'s value, or a reason saying `what` failed.
pub fn ok<T>(what: &str, r: ZxResult<T>) -> Result<T, Reason> {
    r.map_err(|s| reason(format_args!("{what}: got {s}, want ZX_OK")))
}

/// A handle closed when dropped.
pub struct Owned(pub Handle);

impl Owned {
    pub fn h(&self) -> Handle {
        self.0
    }

    /// Closes the handle now; the guard then holds ZX_HANDLE_INVALID.
    pub fn close(&mut self) -> ZxResult {
        client::handle_close(core::mem::replace(&mut self.0, Handle::INVALID))
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.0.is_valid() {
            let _ = client::handle_close(self.0);
        }
    }
}

/// Checks that a call creating a handle failed with `want`; a handle it
/// created anyway is closed.
pub fn expect_no_handle(what: &str, got: ZxResult<Handle>, want: Status) -> TestResult {
    match got {
        Ok(h) => {
            let _ = client::handle_close(h);
            Err(reason(format_args!("{what}: got ZX_OK, want {want}")))
        }
        Err(s) if s == want => Ok(()),
        Err(s) => Err(reason(format_args!("{what}: got {s}, want {want}"))),
    }
}

/// A duplicate of `h` with exactly `rights`.
pub fn dup(h: Handle, rights: Rights) -> Result<Owned, Reason> {
    ok("handle_duplicate", client::handle_duplicate(h, rights)).map(Owned)
}

/// A duplicate of the vCPU `vcpu` with its default rights but `without`.
pub fn dup_vcpu_without(vcpu: Handle, without: Rights) -> Result<Owned, Reason> {
    dup(vcpu, Rights::DEFAULT_VCPU.difference(without))
}

/// Checks `call` (named `name`) against the handles a vCPU call refuses
/// before anything else: ZX_HANDLE_INVALID and an unused handle
/// (BAD_HANDLE), the guest (WRONG_TYPE), and `lacking`, the vCPU without
/// the call's right `right` (ACCESS_DENIED).
pub fn expect_vcpu_handle_errors<T>(
    name: &str,
    fx: &Fixture,
    lacking: Handle,
    right: &str,
    mut call: impl FnMut(Handle) -> ZxResult<T>,
) -> TestResult {
    let without = reason(format_args!("a vcpu without {right}"));
    let cases = [
        ("ZX_HANDLE_INVALID", Handle::INVALID, Status::BAD_HANDLE),
        (
            "an unused handle",
            Handle::from_raw(0xDEAD_BEEC),
            Status::BAD_HANDLE,
        ),
        ("the guest", fx.guest(), Status::WRONG_TYPE),
        (without.as_str(), lacking, Status::ACCESS_DENIED),
    ];
    for (what, h, want) in cases {
        crate::suite::expect(&reason(format_args!("{name}({what})")), call(h), want)?;
    }
    Ok(())
}

/// A guest with its memory and one vCPU, torn down in the order vcpu,
/// guest, vmar, vmo. Guards hold ZX_HANDLE_INVALID for the parts a
/// constructor does not make.
pub struct Fixture {
    pub vcpu: Owned,
    pub guest: Owned,
    pub vmar: Owned,
    pub vmo: Owned,
}

impl Fixture {
    /// A guest and its VMAR only: no memory, no vCPU.
    pub fn bare(resource: Handle) -> Result<Self, Reason> {
        let (guest, vmar) = ok("guest_create", client::guest_create(resource, 0))?;
        Ok(Fixture {
            vcpu: Owned(Handle::INVALID),
            guest: Owned(guest),
            vmar: Owned(vmar),
            vmo: Owned(Handle::INVALID),
        })
    }

    /// A guest with a vCPU entering at 0 but no memory.
    pub fn vcpu_only(resource: Handle) -> Result<Self, Reason> {
        let mut fx = Fixture::bare(resource)?;
        fx.vcpu = Owned(ok("vcpu_create", client::vcpu_create(fx.guest.h(), 0, 0))?);
        Ok(fx)
    }

    /// SetupGuest: 16 MiB of host RAM at `ram` mapped at guest PA 0, a MEM
    /// trap (key 0) on the exit page, the stage-1 table at 0x10000, `code`
    /// at guest PA 0, and a vCPU entering there.
    pub fn new(resource: Handle, ram: u64, code: Code) -> Result<Self, Reason> {
        let end = host_image_end();
        crate::ensure!(
            ram >= end,
            "guest RAM {ram:#x} overlaps the host image (ends {end:#x})"
        );
        let vmo = Owned(ok(
            "vmo_create_physical",
            client::vmo_create_physical(resource, ram, VMO_SIZE),
        )?);
        let mut fx = Fixture::bare(resource)?;
        fx.vmo = vmo;
        let at = ok(
            "vmar_map",
            client::vmar_map(fx.vmar.h(), RWX_SPECIFIC, 0, fx.vmo.h(), 0, VMO_SIZE),
        )?;
        crate::ensure!(at == 0, "vmar_map at offset 0: mapped at {at:#x}, want 0");
        ok(
            "guest_set_trap(MEM, 0xfff000)",
            client::guest_set_trap(
                fx.guest.h(),
                GUEST_TRAP_MEM,
                EXIT_TEST_ADDR,
                PAGE,
                Handle::INVALID,
                0,
            ),
        )?;
        load_guest_memory(ram, code);
        fx.vcpu = Owned(ok("vcpu_create", client::vcpu_create(fx.guest.h(), 0, 0))?);
        Ok(fx)
    }

    pub fn vcpu(&self) -> Handle {
        self.vcpu.h()
    }

    pub fn guest(&self) -> Handle {
        self.guest.h()
    }

    pub fn vmar(&self) -> Handle {
        self.vmar.h()
    }

    /// Adds a trap on this guest (`port` INVALID for MEM traps).
    pub fn trap(&self, kind: u32, addr: u64, port: Handle, key: u64) -> TestResult {
        ok(
            "guest_set_trap",
            client::guest_set_trap(self.guest(), kind, addr, PAGE, port, key),
        )
    }
}

extern "C" {
    static __bss_end: [u8; 0];
}

/// The first address after the host image (stacks included).
fn host_image_end() -> u64 {
    core::ptr::addr_of!(__bss_end) as u64
}

/// Zeroes the start of guest memory, writes the stage-1 identity table
/// (reference §6.1 step 4) and copies `code` to guest PA 0, then makes the
/// writes visible to a guest running with caches on.
fn load_guest_memory(ram: u64, code: Code) {
    clean_invalidate(ram, ZEROED);
    for offset in (0..ZEROED).step_by(8) {
        write_u64(ram + offset, 0);
    }
    // L1 at 0x10000: entry 0 is a table descriptor for the L2 at 0x11000.
    let l2 = PAGE_TABLE_PADDR + PAGE;
    write_u64(ram + PAGE_TABLE_PADDR, l2 | 0b11);
    // L2: eight 2 MiB blocks, identity, AttrIndx 0, inner shareable (3 << 8),
    // AF (1 << 10), EL1 read/write, executable.
    for i in 0..VMO_SIZE >> 21 {
        write_u64(ram + l2 + i * 8, (i << 21) | (1 << 10) | (3 << 8) | 0b01);
    }
    for i in 0..code.word_count() {
        write_u32(ram + 4 * i as u64, code.word(i));
    }
    clean_invalidate(ram, ZEROED);
    // SAFETY: barriers and an instruction-cache invalidation have no effect
    // on the host's data.
    unsafe { core::arch::asm!("dsb sy", "ic iallu", "dsb sy", "isb") };
}

/// Writes guest-physical memory behind `pa` (host RAM set aside for guests).
pub fn write_u64(pa: u64, value: u64) {
    // SAFETY: `pa` lies in GUEST_RAM or GUEST_RAM_2 (checked against the
    // host image in `Fixture::new`), host RAM no Rust object lives in; the
    // host runs with VA = PA and the address is 8-byte aligned.
    unsafe { core::ptr::write_volatile(pa as *mut u64, value) };
}

/// Reads guest-physical memory behind `pa` (host RAM set aside for guests).
pub fn read_u64(pa: u64) -> u64 {
    // SAFETY: as for `write_u64`: callers pass an 8-byte aligned address in
    // GUEST_RAM or GUEST_RAM_2, which no Rust object uses.
    unsafe { core::ptr::read_volatile(pa as *const u64) }
}

/// Writes guest-physical memory behind `pa` (host RAM set aside for guests).
pub fn write_u32(pa: u64, value: u32) {
    // SAFETY: as for `write_u64`; callers pass a 4-byte aligned address in
    // GUEST_RAM or GUEST_RAM_2.
    unsafe { core::ptr::write_volatile(pa as *mut u32, value) };
}

/// Reads guest-physical memory behind `pa` (host RAM set aside for guests).
pub fn read_u32(pa: u64) -> u32 {
    // SAFETY: as for `read_u64`; the address is 4-byte aligned.
    unsafe { core::ptr::read_volatile(pa as *const u32) }
}

/// `zx_vcpu_enter`: the exit packet, or the status.
pub fn enter(vcpu: Handle) -> ZxResult<PortPacket> {
    let mut packet = PortPacket::default();
    client::vcpu_enter(vcpu, &mut packet).map(|()| packet)
}

/// Checks that `enter` fails with `want`.
pub fn expect_enter(vcpu: Handle, want: Status) -> TestResult {
    match enter(vcpu) {
        Ok(p) => Err(reason(format_args!(
            "enter: got ZX_OK (packet type {} addr {:#x}), want {want}",
            p.type_,
            p.guest_mem().addr
        ))),
        Err(s) if s == want => Ok(()),
        Err(s) => Err(reason(format_args!("enter: got {s}, want {want}"))),
    }
}

/// EnterAndCleanExit: enter returns ZX_OK with the MEM exit at 0xFFF000.
pub fn enter_and_clean_exit(vcpu: Handle) -> TestResult {
    let p =
        enter(vcpu).map_err(|s| reason(format_args!("enter: got {s}, want ZX_OK (clean exit)")))?;
    clean_exit(&p)
}

/// Checks that `p` is the guest's `test_complete` exit.
pub fn clean_exit(p: &PortPacket) -> TestResult {
    crate::ensure!(
        p.type_ == PKT_TYPE_GUEST_MEM,
        "exit packet type got {}, want GUEST_MEM (4)",
        p.type_
    );
    let addr = p.guest_mem().addr;
    crate::ensure!(
        addr != EXIT_TEST_FAILURE_ADDR,
        "the guest reported test_failure (store to {addr:#x})"
    );
    crate::ensure!(
        addr == EXIT_TEST_ADDR,
        "exit address got {addr:#x}, want {EXIT_TEST_ADDR:#x} (test_complete)"
    );
    Ok(())
}

/// The fields of a GUEST_MEM packet a test expects.
pub struct MemExit {
    pub key: u64,
    pub addr: u64,
    pub access_size: u8,
    pub sign_extend: bool,
    pub xt: u8,
    pub read: bool,
    pub data: u64,
}

/// The store of XZR to the trap page by `guest_set_trap`.
pub const TRAP_STORE: MemExit = MemExit {
    key: TRAP_KEY,
    addr: TRAP_ADDR,
    access_size: 8,
    sign_extend: false,
    xt: 31,
    read: false,
    data: 0,
};

/// Checks `p` against `want`; `what` names the access in the reason.
pub fn check_mem(what: &str, p: &PortPacket, want: &MemExit) -> TestResult {
    crate::ensure!(
        p.type_ == PKT_TYPE_GUEST_MEM,
        "{what}: packet type got {}, want GUEST_MEM (4)",
        p.type_
    );
    let m = p.guest_mem();
    let fields = [
        ("key", p.key, want.key),
        ("addr", m.addr, want.addr),
        ("access_size", m.access_size.into(), want.access_size.into()),
        (
            "sign_extend",
            m.sign_extend.into(),
            u64::from(want.sign_extend),
        ),
        ("xt", m.xt.into(), want.xt.into()),
        ("read", m.read.into(), u64::from(want.read)),
        ("data", m.data, want.data),
    ];
    for (name, got, want) in fields {
        crate::ensure!(got == want, "{what}: {name} got {got:#x}, want {want:#x}");
    }
    Ok(())
}

/// `zx_vcpu_read_state(ZX_VCPU_STATE)`.
pub fn read_state(vcpu: Handle) -> Result<VcpuState, Reason> {
    let mut state = VcpuState::default();
    ok("read_state", client::vcpu_read_state(vcpu, &mut state))?;
    Ok(state)
}

/// A buffer for raw state calls, larger than any size a test passes.
#[repr(C, align(16))]
pub struct RawBuf(pub [u8; 512]);

/// Buffer pointers the monitor must refuse: NULL and monitor memory.
pub fn bad_pointers() -> Result<[u64; 2], Reason> {
    let info = ok("zxv_info", client::zxv_info())?;
    Ok([0, info.monitor_base])
}

/// Raw `zx_vcpu_read_state`: `buf` is a caller-owned [`RawBuf`] or an
/// address the monitor must refuse.
pub fn read_state_raw(vcpu: Handle, kind: u32, buf: u64, size: u64) -> Status {
    let args = [vcpu.raw().into(), kind.into(), buf, size, 0, 0];
    // SAFETY: tests pass either a buffer they own of at least `size` bytes
    // (a RawBuf holds more than any size they use) or an address outside
    // host memory (NULL, monitor memory, a wrapping range), which the
    // monitor must refuse without writing anywhere.
    unsafe { hvc(ids::VCPU_READ_STATE, args) }.status()
}

/// Raw `zx_vcpu_write_state`; the monitor only reads `buf`.
pub fn write_state_raw(vcpu: Handle, kind: u32, buf: u64, size: u64) -> Status {
    let args = [vcpu.raw().into(), kind.into(), buf, size, 0, 0];
    // SAFETY: the call only reads the buffer; tests pass memory they own or
    // an address the monitor must refuse.
    unsafe { hvc(ids::VCPU_WRITE_STATE, args) }.status()
}

/// Raw `zx_vcpu_enter` with a packet pointer the monitor must refuse.
pub fn enter_raw(vcpu: Handle, packet: u64) -> Status {
    let args = [vcpu.raw().into(), packet, 0, 0, 0, 0];
    // SAFETY: tests pass NULL or monitor memory, outside host memory; the
    // monitor must refuse it without writing anywhere.
    unsafe { hvc(ids::VCPU_ENTER, args) }.status()
}

/// Raw `zx_port_wait` with a packet pointer the monitor must refuse.
pub fn port_wait_raw(port: Handle, deadline: i64, packet: u64) -> Status {
    let args = [port.raw().into(), deadline as u64, packet, 0, 0, 0];
    // SAFETY: tests pass NULL or monitor memory, outside host memory; the
    // monitor must refuse it without writing anywhere.
    unsafe { hvc(ids::PORT_WAIT, args) }.status()
}

/// Raw `zx_port_queue`; the monitor only reads `packet`.
pub fn port_queue_raw(port: Handle, packet: u64) -> Status {
    let args = [port.raw().into(), packet, 0, 0, 0, 0];
    // SAFETY: the call only reads 48 bytes at `packet`; tests pass NULL or
    // monitor memory, which the monitor must refuse.
    unsafe { hvc(ids::PORT_QUEUE, args) }.status()
}

/// Checks a raw call's status.
pub fn expect_status(what: &str, got: Status, want: Status) -> TestResult {
    crate::ensure!(got == want, "{what}: got {got}, want {want}");
    Ok(())
}

/// Counter ticks now and the counter frequency.
pub fn counter() -> (u64, u64) {
    let (freq, now): (u64, u64);
    // SAFETY: reading the counter and its frequency has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) freq);
        core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) now);
    }
    (now, freq)
}

/// Monotonic time in ns, as `zx_port_wait` deadlines count it (docs/abi.md §2).
pub fn now_ns() -> i64 {
    let (now, freq) = counter();
    (u128::from(now) * 1_000_000_000 / u128::from(freq)) as i64
}

/// The monitor's free heap bytes: the u64 at offset 32 of a 40-byte zxv_info.
pub fn monitor_free_heap() -> Result<u64, Reason> {
    let mut buf = [u64::MAX; 5];
    let args = [buf.as_mut_ptr() as u64, 40, 0, 0, 0, 0];
    // SAFETY: `buf` is a 40-byte local the monitor may fill.
    let status = unsafe { hvc(ids::ZXV_INFO, args) }.status();
    crate::ensure!(
        status == Status::OK,
        "zxv_info(40 bytes): got {status}, want ZX_OK"
    );
    crate::ensure!(
        buf[4] != u64::MAX,
        "zxv_info(40 bytes) left offset 32 unwritten (want free heap bytes)"
    );
    Ok(buf[4])
}
