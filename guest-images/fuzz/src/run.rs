//! CPU 0's run: the model of what it holds (handles, objects, each guest's
//! address space), and one random call after another, each checked against
//! the statuses the ABI documents and, where the model can tell, the exact
//! status and the effects a call must (or, failing, must not) have. Every
//! [`EPOCH`] calls everything is closed and the monitor's free heap must be
//! back at its baseline.

use crate::code::{self, Palette};
use crate::hvc::{self, Ret};
use crate::memory::{self, GUEST_AREA, GUEST_AREA_SIZE, PAGE, SLICE};
use crate::model::{Reads, Space, Trap, TrapKind, GICV_IPA, ZONES};
use crate::others;
use crate::report::{self, CallRecord, Check};
use crate::rng::Rng;
use crate::statuses;
use arrayvec::ArrayVec;
use core::sync::atomic::{AtomicU64, Ordering};
use el1rt::platform::Board;
use el1rt::{cpus, println};
use spin::Mutex;
use syscalls::exit_counts::ZXV_INFO_VCPU_EXITS;
use syscalls::hypervisor::{
    vm_perm_rights, GUEST_TRAP_BELL, GUEST_TRAP_IO, GUEST_TRAP_MEM, VCPU_IO, VCPU_STATE,
    VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC,
};
use syscalls::ids::*;
use syscalls::object::{INFO_HANDLE_BASIC, INFO_VCPU};
use syscalls::port::{PKT_TYPE_GUEST_BELL, PKT_TYPE_GUEST_MEM, PKT_TYPE_GUEST_VCPU, PKT_TYPE_USER};
use syscalls::{psci, ObjType, Rights, Status};

/// Calls between two full teardowns (and heap checks).
const EPOCH: u64 = 5000;
const MAX_HANDLES: usize = 160;
/// Guests per epoch: the first [`SLICES`] get guest RAM and code.
const MAX_GUESTS: usize = 6;
const SLICES: usize = (GUEST_AREA_SIZE / SLICE) as usize;
const MAX_VCPUS: usize = 48;
const MAX_VMOS: usize = 32;
const MAX_PORTS: usize = 12;
/// 64 GiB of guest-physical space.
const IPA_SIZE: u64 = 1 << 36;
/// Guest layout: random code at 0 (also the vectors, VBAR_EL1 = 0), the
/// probe program, the exit page (a MEM trap), the reserved 64 KiB.
const CODE: u64 = 0;
const CODE_WORDS: usize = 2048;
const PROBE: u64 = 0x2000;
const EXIT: u64 = 0x3000;
const EXIT_KEY: u64 = 0xE417;
const RESERVED: u64 = 0x1_0000;
/// Size of the guest's code VMO and mapping.
const CODE_MAP: u64 = 0x3000;
const STATE_SIZE: u64 = 264;

static SPACES: Mutex<[Space; MAX_GUESTS]> = Mutex::new([const { Space::empty() }; MAX_GUESTS]);
static SEED: AtomicU64 = AtomicU64::new(0);

pub fn seed() -> u64 {
    SEED.load(Ordering::Relaxed)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Obj {
    Resource,
    Guest(usize),
    Vmar(usize),
    Vmo(usize),
    Vcpu(usize),
    Port(usize),
}

impl Obj {
    fn same_type(self, other: Obj) -> bool {
        core::mem::discriminant(&self) == core::mem::discriminant(&other)
    }

    fn obj_type(self) -> ObjType {
        match self {
            Obj::Resource => ObjType::RESOURCE,
            Obj::Guest(_) => ObjType::GUEST,
            Obj::Vmar(_) => ObjType::VMAR,
            Obj::Vmo(_) => ObjType::VMO,
            Obj::Vcpu(_) => ObjType::VCPU,
            Obj::Port(_) => ObjType::PORT,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct H {
    raw: u32,
    obj: Obj,
    rights: Rights,
    /// Closed only at a teardown (or rarely): the resource, guests'
    /// handles, code VMOs.
    kept: bool,
}

#[derive(Clone, Copy, Debug)]
struct GuestObj {
    koid: u64,
    vmar_koid: u64,
    /// Host RAM of its own (code at its start), for the first guests.
    slice: Option<u64>,
    handle: u32,
    vmar: u32,
    code_vmo: u32,
}

#[derive(Clone, Copy, Debug)]
struct VcpuObj {
    guest: usize,
    koid: u64,
    /// A MEM-trap load waiting for ZX_VCPU_IO: its size and register.
    pending: Option<(u8, u8, bool)>,
}

#[derive(Clone, Copy, Debug)]
struct VmoObj {
    koid: u64,
    base: u64,
    size: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct PortObj {
    koid: u64,
    queued: u64,
    popped: u64,
    bells: u32,
}

/// What a call must return.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// This status (or NO_MEMORY where the call may run out).
    Exact(Status),
    /// Any of these.
    OneOf(&'static [Status]),
    /// Any the ABI documents for the call.
    Documented,
}

struct Fuzz<'b> {
    board: &'b Board,
    rng: Rng,
    calls: u64,
    entries: u64,
    recent: [CallRecord; 6],
    monitor: (u64, u64),
    gic_v2: bool,
    handles: ArrayVec<H, MAX_HANDLES>,
    closed: [u32; 16],
    guests: ArrayVec<GuestObj, MAX_GUESTS>,
    vcpus: ArrayVec<VcpuObj, MAX_VCPUS>,
    vmos: ArrayVec<VmoObj, MAX_VMOS>,
    ports: ArrayVec<PortObj, MAX_PORTS>,
    resource: u32,
    baseline: u64,
    trace: u64,
    /// Per call (statuses::CALLS order): made, and returned ZX_OK.
    made: [[u32; 2]; statuses::CALLS.len()],
    /// zx_vcpu_enter's statuses: ENTER_STATUSES order, then any other.
    entered: [u32; ENTER_STATUSES.len() + 1],
    /// Guest reads compared with the model.
    probes: u32,
}

/// The enter statuses the closing statistics count apart.
const ENTER_STATUSES: [Status; 8] = [
    Status::OK,
    Status::CANCELED,
    Status::NOT_FOUND,
    Status::NOT_SUPPORTED,
    Status::STOP,
    Status::UNAVAILABLE,
    Status::IO_DATA_INTEGRITY,
    Status::INTERNAL_INTR_RETRY,
];

/// The key and payload of port `port`'s `n`th user packet.
fn user_packet(port: usize, n: u64) -> [u64; 6] {
    let key = (port as u64) << 48 | n;
    [
        key,
        u64::from(PKT_TYPE_GUEST_MEM) | 0x1234 << 32,
        key ^ 1,
        key ^ 2,
        key ^ 3,
        key ^ 4,
    ]
}

impl<'b> Fuzz<'b> {
    // ---- handles --------------------------------------------------------

    fn find(&self, raw: u32) -> Option<usize> {
        if raw == 0 {
            return None;
        }
        self.handles.iter().position(|h| h.raw == raw)
    }

    /// The status the handle checks give `raw` as a `want` with `need`
    /// (docs/abi.md §3: BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED), or its
    /// object.
    fn check(&self, raw: u32, want: Obj, need: Rights) -> Result<Obj, Status> {
        let h = self
            .find(raw)
            .map(|i| self.handles[i])
            .ok_or(Status::BAD_HANDLE)?;
        if !h.obj.same_type(want) {
            return Err(Status::WRONG_TYPE);
        }
        if !h.rights.contains(need) {
            return Err(Status::ACCESS_DENIED);
        }
        Ok(h.obj)
    }

    /// A handle to pass where a `kind` is wanted: mostly a live one of
    /// that type, else one of another type, a closed one, 0 or garbage.
    fn pick(&mut self, kind: Obj) -> u32 {
        let roll = self.rng.below(100);
        let of_kind: ArrayVec<u32, MAX_HANDLES> = self
            .handles
            .iter()
            .filter(|h| h.obj.same_type(kind))
            .map(|h| h.raw)
            .collect();
        if roll < 78 && !of_kind.is_empty() {
            return self.rng.pick(&of_kind);
        }
        match roll % 5 {
            0 if !self.handles.is_empty() => {
                self.handles[self.rng.below(self.handles.len() as u64) as usize].raw
            }
            1 => self.rng.pick(&self.closed),
            2 => 0,
            _ => self.rng.word(),
        }
    }

    fn remember_closed(&mut self, raw: u32) {
        self.closed.rotate_left(1);
        self.closed[self.closed.len() - 1] = raw;
    }

    fn add_handle(&mut self, raw: u32, obj: Obj, rights: Rights, kept: bool) {
        if self
            .handles
            .try_push(H {
                raw,
                obj,
                rights,
                kept,
            })
            .is_err()
        {
            // The model is full: close it again, unchecked.
            // SAFETY: no pointer arguments.
            unsafe { hvc::call(HANDLE_CLOSE, [raw.into(), 0, 0, 0, 0, 0]) };
            return;
        }
        if let Obj::Vcpu(_) = obj {
            let slot = self.rng.below(others::VCPUS.len() as u64) as usize;
            others::VCPUS[slot].store(raw, Ordering::SeqCst);
        } else {
            let slot = self.rng.below(others::OTHERS.len() as u64) as usize;
            others::OTHERS[slot].store(raw, Ordering::SeqCst);
        }
    }

    fn drop_handle(&mut self, i: usize) {
        let h = self.handles.remove(i);
        self.remember_closed(h.raw);
    }

    /// Whether vCPU object `v` still has a handle (so its slot is taken).
    fn vcpu_alive(&self, v: usize) -> bool {
        self.handles.iter().any(|h| h.obj == Obj::Vcpu(v))
    }

    fn vcpus_of(&self, g: usize) -> usize {
        (0..self.vcpus.len())
            .filter(|&v| self.vcpus[v].guest == g && self.vcpu_alive(v))
            .count()
    }

    // ---- pointers -------------------------------------------------------

    /// A buffer of `len` bytes the call writes: in the scratch pages
    /// (crossing a page now and then), or one it must refuse.
    fn out_buf(&mut self, len: u64) -> (u64, bool) {
        if self.rng.chance(12) {
            let bad = memory::refused_pointers(self.monitor, self.board.uart, len);
            return (self.rng.pick(&bad), false);
        }
        let (base, size) = memory::scratch();
        let mut at = base + self.rng.below(size - len.max(1) - 64) + 32;
        if self.rng.chance(70) {
            at &= !7;
        }
        if self.rng.chance(20) {
            // Across a page boundary.
            at = base + PAGE - len / 2;
        }
        (at, true)
    }

    // ---- calls ----------------------------------------------------------

    /// Makes call `id`, checks its status against `want` (NO_MEMORY also
    /// where `may_run_out`) and the documented ones, and the registers.
    fn issue(&mut self, id: u32, args: [u64; 6], want: Want, may_run_out: bool) -> Ret {
        self.calls += u64::from(id != VCPU_ENTER);
        self.entries += u64::from(id == VCPU_ENTER);
        let mut record = CallRecord {
            index: self.calls + self.entries,
            id,
            args,
            ret: Ret::default(),
        };
        others::call_begins(&record, if id == VCPU_ENTER { args[0] as u32 } else { 0 });
        // SAFETY: the fuzzer passes scratch buffers it owns, large enough
        // for what the call writes, or pointers the monitor must refuse;
        // input buffers are host RAM it only lets the monitor read.
        let ret = unsafe { hvc::call(id, args) };
        others::call_ends();
        record.ret = ret;
        if record.index >= self.trace {
            println!("trace {record}");
        }
        self.recent.rotate_left(1);
        let last = self.recent.len() - 1;
        self.recent[last] = record;
        let got = ret.status();
        if let Some(i) = statuses::CALLS.iter().position(|&c| c == id) {
            self.made[i][0] += 1;
            self.made[i][1] += u32::from(got == Status::OK);
        }
        if id == VCPU_ENTER {
            let i = ENTER_STATUSES
                .iter()
                .position(|&s| s == got)
                .unwrap_or(ENTER_STATUSES.len());
            self.entered[i] += 1;
        }
        match statuses::documented(id) {
            Some(documented) if !documented.contains(&got) => {
                self.found(
                    Check::Status,
                    format_args!(
                        "{} returned {got}, not a status documented for it",
                        statuses::name(id)
                    ),
                );
            }
            Some(_) => {
                let ok = match want {
                    Want::Exact(s) => got == s || (may_run_out && got == Status::NO_MEMORY),
                    Want::OneOf(set) => {
                        set.contains(&got) || (may_run_out && got == Status::NO_MEMORY)
                    }
                    Want::Documented => true,
                };
                if !ok {
                    self.found(
                        Check::Status,
                        format_args!("{} returned {got}, want {want:?}", statuses::name(id)),
                    );
                }
                let outputs_ok = got == Status::OK
                    || (ret.x1, ret.x2) == (0, 0)
                    || (id == OBJECT_GET_INFO || id == ZXV_INFO)
                        && got == Status::BUFFER_TOO_SMALL
                        && (ret.x1, ret.x2) == (0, 1);
                if !outputs_ok {
                    self.found(
                        Check::Registers,
                        format_args!(
                            "{} failed ({got}) with x1 {:#x}, x2 {:#x}, want 0",
                            statuses::name(id),
                            ret.x1,
                            ret.x2
                        ),
                    );
                }
            }
            None => {
                if ret.x0 != u64::MAX || (ret.x1, ret.x2) != (args[0], args[1]) {
                    self.found(
                        Check::Registers,
                        format_args!("function {id:#x} is no call: want x0 = -1 and x1, x2 kept"),
                    );
                }
            }
        }
        if let Some((reg, value)) = ret.clobbered {
            self.found(
                Check::Registers,
                format_args!(
                    "{} changed x{reg} to {value:#x} (x3..x17 are kept)",
                    statuses::name(id)
                ),
            );
        }
        if !ret.sign_extended() {
            self.found(
                Check::Registers,
                format_args!(
                    "{}: x0 {:#x} is not a sign-extended status",
                    statuses::name(id),
                    ret.x0
                ),
            );
        }
        ret
    }

    /// `issue` with an output buffer `(ptr, len)`: bytes around it must
    /// stay as they were, and all of it when the call fails.
    fn issue_out(
        &mut self,
        id: u32,
        args: [u64; 6],
        want: Want,
        may_run_out: bool,
        buf: (u64, u64, bool),
    ) -> Ret {
        let (ptr, len, ours) = buf;
        let (base, size) = memory::scratch();
        let from = ptr.saturating_sub(32).max(base);
        let to = (ptr + len + 32).min(base + size);
        let byte = self.rng.word() as u8;
        if ours {
            memory::fill(from, to - from, byte);
        }
        let ret = self.issue(id, args, want, may_run_out);
        if ours {
            let written = if ret.status() == Status::OK { len } else { 0 };
            let outside = memory::differs(from, ptr - from, byte)
                .or_else(|| memory::differs(ptr + written, to - ptr - written, byte));
            if let Some(at) = outside {
                let check = blame(ret.status(), Check::Canaries);
                self.found(
                    check,
                    format_args!(
                        "{} ({}) wrote {at:#x}, outside what it may write at {ptr:#x}+{written}",
                        statuses::name(id),
                        ret.status()
                    ),
                );
            }
        }
        ret
    }

    fn found(&self, check: Check, what: core::fmt::Arguments) {
        let last = self.recent.len() - 1;
        report::finding(
            check,
            0,
            what,
            Some(&self.recent[last]),
            &self.recent[..last],
        );
    }

    // ---- the calls, one generator each ---------------------------------

    /// Any handle: mostly a live one, else a closed one, 0 or garbage.
    fn pick_any(&mut self) -> u32 {
        match self.rng.below(10) {
            0..=7 if !self.handles.is_empty() => {
                self.handles[self.rng.below(self.handles.len() as u64) as usize].raw
            }
            8 => self.rng.pick(&self.closed),
            _ => self.rng.word(),
        }
    }

    fn close(&mut self) {
        let mut raw = self.pick_any();
        if let Some(i) = self.find(raw) {
            // Kept handles only now and then; the boot resource never (the
            // heap baseline counts it).
            if raw == self.resource || self.handles[i].kept && !self.rng.chance(2) {
                raw = self.rng.pick(&self.closed);
            }
        }
        let want = if raw == 0 || self.find(raw).is_some() {
            Status::OK
        } else {
            Status::BAD_HANDLE
        };
        let ret = self.issue(
            HANDLE_CLOSE,
            [raw.into(), 0, 0, 0, 0, 0],
            Want::Exact(want),
            false,
        );
        if ret.status() == Status::OK {
            if let Some(i) = self.find(raw) {
                self.drop_handle(i);
            }
        }
    }

    fn duplicate(&mut self) {
        let raw = self.pick_any();
        let current = self.find(raw).map(|i| self.handles[i].rights);
        let rights = match (self.rng.below(4), current) {
            (0, _) => Rights::SAME_RIGHTS,
            (1, Some(r)) => Rights::from_bits(r.bits() & self.rng.word()),
            (2, Some(r)) => r.union(Rights::from_bits(1 << self.rng.below(32))),
            _ => Rights::from_bits(self.rng.word()),
        };
        let (want, new_rights) = match current {
            None => (Status::BAD_HANDLE, Rights::NONE),
            Some(r) if !r.contains(Rights::DUPLICATE) => (Status::ACCESS_DENIED, Rights::NONE),
            Some(r) if rights == Rights::SAME_RIGHTS => (Status::OK, r),
            Some(r) if r.contains(rights) => (Status::OK, rights),
            Some(_) => (Status::INVALID_ARGS, Rights::NONE),
        };
        let ret = self.issue(
            HANDLE_DUPLICATE,
            [raw.into(), rights.bits().into(), 0, 0, 0, 0],
            Want::Exact(want),
            false,
        );
        if ret.status() == Status::OK {
            if let Some(i) = self.find(raw) {
                let obj = self.handles[i].obj;
                self.add_handle(ret.x1 as u32, obj, new_rights, false);
                self.basic_info(ret.x1 as u32);
            }
        }
    }

    /// zx_object_get_info(HANDLE_BASIC) on a handle the model knows, with
    /// a good buffer: the record must say what the model says.
    fn basic_info(&mut self, raw: u32) {
        let Some(i) = self.find(raw) else { return };
        let h = self.handles[i];
        let Some((ret, ptr)) = self.handle_basic(raw) else {
            return;
        };
        let (koid, rights_type, related) = (
            memory::read_u64(ptr),
            memory::read_u64(ptr + 8),
            memory::read_u64(ptr + 16),
        );
        let (rights, ty) = (rights_type as u32, (rights_type >> 32) as u32);
        let want_koid = self.koid_of(h.obj);
        let want_related = match h.obj {
            Obj::Vmar(g) => self.guests[g].koid,
            Obj::Vcpu(v) => self.guests[self.vcpus[v].guest].koid,
            _ => 0,
        };
        if (want_koid != 0 && koid != want_koid)
            || rights != h.rights.bits()
            || ty != h.obj.obj_type().raw()
            || related != want_related
            || (ret.x1, ret.x2) != (1, 1)
        {
            self.found(Check::Unchanged, format_args!("handle {raw:#x}: koid {koid}, rights {rights:#x}, type {ty}, related {related}; want {want_koid}, {:#x}, {}, {want_related}", h.rights.bits(), h.obj.obj_type().raw()));
        }
    }

    fn koid_of(&self, obj: Obj) -> u64 {
        match obj {
            Obj::Resource => 0,
            Obj::Guest(g) => self.guests[g].koid,
            Obj::Vmar(g) => self.guests[g].vmar_koid,
            Obj::Vmo(v) => self.vmos[v].koid,
            Obj::Vcpu(v) => self.vcpus[v].koid,
            Obj::Port(p) => self.ports[p].koid,
        }
    }

    /// zx_object_get_info(HANDLE_BASIC) of a live handle into scratch: the
    /// return and where the record is, when it worked.
    fn handle_basic(&mut self, raw: u32) -> Option<(Ret, u64)> {
        let (ptr, _) = memory::scratch();
        let ret = self.issue_out(
            OBJECT_GET_INFO,
            [raw.into(), INFO_HANDLE_BASIC.into(), ptr, 32, 0, 0],
            Want::Exact(Status::OK),
            false,
            (ptr, 32, true),
        );
        (ret.status() == Status::OK).then_some((ret, ptr))
    }

    /// The koid of a new handle's object, from HANDLE_BASIC.
    fn learn_koid(&mut self, raw: u32) -> u64 {
        self.handle_basic(raw)
            .map_or(0, |(_, ptr)| memory::read_u64(ptr))
    }

    fn get_info(&mut self) {
        let raw = if self.rng.chance(50) {
            self.pick(Obj::Vcpu(0))
        } else {
            self.pick_any()
        };
        let (any_topic, any_size) = (self.rng.word(), self.rng.next_u64());
        let topic = self.rng.pick(&[
            INFO_HANDLE_BASIC,
            INFO_HANDLE_BASIC,
            INFO_VCPU,
            ZXV_INFO_VCPU_EXITS,
            0,
            3,
            any_topic,
        ]);
        let size = self
            .rng
            .pick(&[0, 3, 4, 31, 32, 87, 88, 100, 4096, any_size]);
        let record = match topic {
            INFO_HANDLE_BASIC => 32,
            INFO_VCPU => 4,
            ZXV_INFO_VCPU_EXITS => 88,
            _ => 0,
        };
        let (ptr, good) = self.out_buf(record.max(1));
        let h = self.find(raw).map(|i| self.handles[i]);
        let want = match (h, topic) {
            (None, _) => Status::BAD_HANDLE,
            (Some(_), INFO_HANDLE_BASIC) if size < 32 => Status::BUFFER_TOO_SMALL,
            (Some(_), INFO_HANDLE_BASIC) => {
                if good {
                    Status::OK
                } else {
                    Status::INVALID_ARGS
                }
            }
            (Some(h), INFO_VCPU | ZXV_INFO_VCPU_EXITS) if !matches!(h.obj, Obj::Vcpu(_)) => {
                Status::WRONG_TYPE
            }
            (Some(h), INFO_VCPU | ZXV_INFO_VCPU_EXITS) if !h.rights.contains(Rights::INSPECT) => {
                Status::ACCESS_DENIED
            }
            (Some(_), INFO_VCPU | ZXV_INFO_VCPU_EXITS) if size < record => Status::BUFFER_TOO_SMALL,
            (Some(_), INFO_VCPU | ZXV_INFO_VCPU_EXITS) => {
                if good {
                    Status::OK
                } else {
                    Status::INVALID_ARGS
                }
            }
            (Some(_), _) => Status::NOT_SUPPORTED,
        };
        let ret = self.issue_out(
            OBJECT_GET_INFO,
            [raw.into(), topic.into(), ptr, size, 0, 0],
            Want::Exact(want),
            false,
            (ptr, record, good),
        );
        if ret.status() == Status::OK && (ret.x1, ret.x2) != (1, 1) {
            self.found(
                Check::Registers,
                format_args!(
                    "get_info topic {topic:#x}: actual {}, avail {}, want 1, 1",
                    ret.x1, ret.x2
                ),
            );
        }
    }

    fn zxv_info(&mut self) {
        let size = self.rng.pick(&[0, 16, 31, 32, 39, 40, 64]);
        let (ptr, good) = self.out_buf(40);
        let len = if size >= 40 { 40 } else { 32 };
        let want = if size < 32 {
            Status::BUFFER_TOO_SMALL
        } else if good {
            Status::OK
        } else {
            Status::INVALID_ARGS
        };
        let ret = self.issue_out(
            ZXV_INFO,
            [ptr, size, 0, 0, 0, 0],
            Want::Exact(want),
            false,
            (ptr, len, good),
        );
        if ret.status() == Status::OK && good && ptr % 8 == 0 {
            let (base, msize) = (memory::read_u64(ptr + 16), memory::read_u64(ptr + 24));
            if (base, msize) != self.monitor || memory::read_u64(ptr) & 0xffff_ffff != 1 {
                self.found(
                    Check::Unchanged,
                    format_args!(
                        "zxv_info: ABI {}, monitor {base:#x}+{msize:#x}, want 1 and {:#x}+{:#x}",
                        memory::read_u64(ptr) as u32,
                        self.monitor.0,
                        self.monitor.1
                    ),
                );
            }
        }
    }

    fn guest_create(&mut self) {
        let raw = self.pick(Obj::Resource);
        let options = if self.rng.chance(90) {
            0
        } else {
            self.rng.next_u64() >> self.rng.below(64)
        };
        let want = match self.check(raw, Obj::Resource, Rights::NONE) {
            Err(s) => s,
            Ok(_) if options != 0 => Status::INVALID_ARGS,
            Ok(_) if self.guests.is_full() => return,
            Ok(_) => Status::OK,
        };
        let ret = self.issue(
            GUEST_CREATE,
            [raw.into(), options, 0, 0, 0, 0],
            Want::Exact(want),
            true,
        );
        if ret.status() == Status::OK {
            self.new_guest(ret.x1 as u32, ret.x2 as u32);
        } else if ret.status() == Status::NO_RESOURCES {
            // 255 VMIDs: not expected with a handful of guests.
            self.found(
                Check::Status,
                format_args!(
                    "guest_create: NO_RESOURCES with {} guests",
                    self.guests.len()
                ),
            );
        }
    }

    /// Records a new guest and gives the first ones their code: a VMO of
    /// their slice mapped at 0 and the exit page's MEM trap.
    fn new_guest(&mut self, guest: u32, vmar: u32) {
        let g = self.guests.len();
        let slice = (g < SLICES).then(|| GUEST_AREA + g as u64 * SLICE);
        SPACES.lock()[g].reset(self.gic_v2);
        self.guests.push(GuestObj {
            koid: 0,
            vmar_koid: 0,
            slice,
            handle: guest,
            vmar,
            code_vmo: 0,
        });
        self.add_handle(guest, Obj::Guest(g), Rights::DEFAULT_GUEST, true);
        let vmar_rights = Rights::DEFAULT_VMAR
            .union(Rights::READ)
            .union(Rights::WRITE)
            .union(Rights::EXECUTE);
        self.add_handle(vmar, Obj::Vmar(g), vmar_rights, true);
        self.guests[g].koid = self.learn_koid(guest);
        self.guests[g].vmar_koid = self.learn_koid(vmar);
        let Some(slice) = slice else { return };
        let ret = self.issue(
            VMO_CREATE_PHYSICAL,
            [self.resource.into(), slice, SLICE, 0, 0, 0],
            Want::Exact(Status::OK),
            true,
        );
        if ret.status() != Status::OK {
            return;
        }
        let vmo = self.new_vmo(ret.x1 as u32, slice, SLICE, true);
        self.guests[g].code_vmo = vmo;
        self.ensure_code(g);
        let ret = self.issue(
            GUEST_SET_TRAP,
            [guest.into(), GUEST_TRAP_MEM.into(), EXIT, PAGE, 0, EXIT_KEY],
            Want::Exact(Status::OK),
            true,
        );
        if ret.status() == Status::OK {
            SPACES.lock()[g].add_trap(Trap {
                addr: EXIT,
                size: PAGE,
                kind: TrapKind::Mem,
                key: EXIT_KEY,
                port: 0,
            });
        }
    }

    fn new_vmo(&mut self, raw: u32, base: u64, size: u64, kept: bool) -> u32 {
        let v = self.vmos.len();
        if self
            .vmos
            .try_push(VmoObj {
                koid: 0,
                base,
                size,
            })
            .is_err()
        {
            // SAFETY: no pointer arguments.
            unsafe { hvc::call(HANDLE_CLOSE, [raw.into(), 0, 0, 0, 0, 0]) };
            return 0;
        }
        self.add_handle(
            raw,
            Obj::Vmo(v),
            Rights::DEFAULT_VMO.union(Rights::EXECUTE),
            kept,
        );
        self.vmos[v].koid = self.learn_koid(raw);
        raw
    }

    /// Maps the guest's code pages where the model says they are not.
    fn ensure_code(&mut self, g: usize) {
        let guest = self.guests[g];
        if guest.code_vmo == 0
            || self.find(guest.code_vmo).is_none()
            || self.find(guest.vmar).is_none()
        {
            return;
        }
        let options = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE | VM_SPECIFIC;
        for page in (CODE..CODE_MAP).step_by(PAGE as usize) {
            if SPACES.lock()[g].is_mapped(page) {
                continue;
            }
            let args = [
                guest.vmar.into(),
                options.into(),
                page,
                guest.code_vmo.into(),
                page,
                PAGE,
            ];
            let ret = self.issue(VMAR_MAP, args, Want::Exact(Status::OK), true);
            if ret.status() == Status::OK {
                SPACES.lock()[g].map(page, PAGE, guest.slice.unwrap_or(0) + page);
                if ret.x1 != page {
                    self.found(
                        Check::Unchanged,
                        format_args!("vmar_map returned address {:#x}, want {page:#x}", ret.x1),
                    );
                }
            }
        }
    }

    fn host_ram(&self, base: u64, size: u64) -> Option<bool> {
        let end = base.checked_add(size)?;
        if self
            .board
            .memory
            .iter()
            .any(|&(b, s)| base >= b && end <= b + s)
        {
            return Some(true);
        }
        // Spanning two ranges: the model cannot tell.
        let touches = self
            .board
            .memory
            .iter()
            .filter(|&&(b, s)| base < b + s && end > b)
            .count();
        (touches <= 1).then_some(false)
    }

    fn vmo_create(&mut self) {
        let raw = self.pick(Obj::Resource);
        let (paddr, size) = match self.rng.below(6) {
            0..=2 => {
                let pages = GUEST_AREA_SIZE / PAGE;
                let first = self.rng.below(pages);
                let n = 1 + self.rng.below((pages - first).min(4096));
                (GUEST_AREA + first * PAGE, n * PAGE)
            }
            3 => (
                self.monitor.0 + self.rng.below(self.monitor.1 / PAGE) * PAGE,
                PAGE * (1 + self.rng.below(8)),
            ),
            4 => (
                self.rng
                    .pick(&[0, 0x0800_0000, 0x4000_0000, !0xfff, 1 << 44]),
                self.rng.pick(&[0, PAGE, 1 << 30, !0xfff]),
            ),
            _ => (
                self.rng.next_u64() & !0xfff | self.rng.below(2),
                self.rng.next_u64() >> self.rng.below(64),
            ),
        };
        let want = match self.check(raw, Obj::Resource, Rights::NONE) {
            Err(s) => Want::Exact(s),
            Ok(_)
                if size == 0
                    || paddr % PAGE != 0
                    || size % PAGE != 0
                    || paddr.checked_add(size).is_none() =>
            {
                Want::Exact(Status::INVALID_ARGS)
            }
            Ok(_) => match self.host_ram(paddr, size) {
                Some(true) => Want::Exact(Status::OK),
                Some(false) => Want::Exact(Status::ACCESS_DENIED),
                None => Want::OneOf(&[Status::OK, Status::ACCESS_DENIED]),
            },
        };
        let ret = self.issue(
            VMO_CREATE_PHYSICAL,
            [raw.into(), paddr, size, 0, 0, 0],
            want,
            true,
        );
        if ret.status() != Status::OK {
            return;
        }
        let inside = paddr >= GUEST_AREA && paddr + size <= GUEST_AREA + GUEST_AREA_SIZE;
        if inside && !self.vmos.is_full() {
            self.new_vmo(ret.x1 as u32, paddr, size, false);
        } else {
            // Host RAM guests must not write (the fuzzer's own): closed.
            self.issue(
                HANDLE_CLOSE,
                [ret.x1, 0, 0, 0, 0, 0],
                Want::Exact(Status::OK),
                false,
            );
        }
    }

    /// A guest-physical range: mostly page-aligned inside a zone.
    fn ipa_range(&mut self) -> (u64, u64) {
        match self.rng.below(10) {
            0..=6 => {
                let (base, size) = self.rng.pick(&ZONES);
                let pages = size / PAGE;
                let first = self.rng.below(pages);
                let most = if self.rng.chance(80) { 16 } else { 1024 };
                let n = 1 + self.rng.below((pages - first).min(most));
                let mut ipa = base + first * PAGE;
                if base == 0 && ipa < RESERVED && self.rng.chance(90) {
                    ipa += RESERVED;
                }
                (ipa, n * PAGE)
            }
            7 => (
                self.rng.pick(&[0, 0x10_0000, IPA_SIZE - PAGE, GICV_IPA]),
                self.rng.pick(&[IPA_SIZE, !0xfff, 1 << 40, 2 * PAGE]),
            ),
            8 => (
                self.rng.next_u64() & 0xF_FFFF_F000,
                PAGE << self.rng.below(12),
            ),
            _ => (
                self.rng.next_u64() >> self.rng.below(64),
                self.rng.next_u64() >> self.rng.below(64),
            ),
        }
    }

    fn vmar_map(&mut self) {
        let vmar = self.pick(Obj::Vmar(0));
        let vmo = self.pick(Obj::Vmo(0));
        let perms = self.rng.pick(&[1u32, 3, 5, 7, 7, 2, 4, 0]);
        let mut options = u64::from(perms | VM_SPECIFIC);
        if self.rng.chance(8) {
            options ^= 1 << self.rng.below(64);
        }
        let (ipa, len) = self.ipa_range();
        let vmo_obj = self.find(vmo).map(|i| self.handles[i].obj);
        let vmo_size = match vmo_obj {
            Some(Obj::Vmo(v)) => self.vmos[v].size,
            _ => 0,
        };
        let offset = if self.rng.chance(80) {
            self.rng.below(vmo_size.max(PAGE) / PAGE) * PAGE
        } else {
            self.rng.next_u64() >> self.rng.below(64)
        };
        let len = if self.rng.chance(50) && vmo_size > offset {
            len.min(vmo_size - offset)
        } else {
            len
        };
        let perms = (options as u32) & 7;
        let need = vm_perm_rights(perms);
        let want = (|| -> Result<(usize, usize), Status> {
            let Obj::Vmar(g) = self.check(vmar, Obj::Vmar(0), need)? else {
                unreachable!()
            };
            let Obj::Vmo(v) = self.check(vmo, Obj::Vmo(0), need.union(Rights::MAP))? else {
                unreachable!()
            };
            if options & !u64::from(7 | VM_SPECIFIC) != 0 || perms & VM_PERM_READ == 0 {
                return Err(Status::INVALID_ARGS);
            }
            if options & u64::from(VM_SPECIFIC) == 0 {
                return Err(Status::NOT_SUPPORTED);
            }
            if len == 0 || ipa % PAGE != 0 || offset % PAGE != 0 || len % PAGE != 0 {
                return Err(Status::INVALID_ARGS);
            }
            if offset
                .checked_add(len)
                .is_none_or(|e| e > self.vmos[v].size)
                || ipa.checked_add(len).is_none_or(|e| e > IPA_SIZE)
            {
                return Err(Status::OUT_OF_RANGE);
            }
            Ok((g, v))
        })();
        let (want, target) = match want {
            Err(s) => (s, None),
            Ok((g, v)) => {
                if !Space::covers(ipa, len) {
                    return; // a map the model could not follow
                }
                (SPACES.lock()[g].map_status(ipa, len), Some((g, v)))
            }
        };
        let w = if target.is_some() {
            Want::OneOf(&[Status::OK, Status::ALREADY_EXISTS])
        } else {
            Want::Exact(want)
        };
        let ret = self.issue(
            VMAR_MAP,
            [vmar.into(), options, ipa, vmo.into(), offset, len],
            w,
            true,
        );
        let Some((g, v)) = target else { return };
        if ret.status() == Status::OK {
            SPACES.lock()[g].map(ipa, len, self.vmos[v].base + offset);
            if ret.x1 != ipa {
                self.found(
                    Check::Unchanged,
                    format_args!("vmar_map returned address {:#x}, want {ipa:#x}", ret.x1),
                );
            }
        }
        if want != ret.status() && ret.status() != Status::NO_MEMORY {
            self.found(
                Check::VmarRecord,
                format_args!(
                    "vmar_map of {ipa:#x}+{len:#x}: {} where the record says {want}",
                    ret.status()
                ),
            );
        }
    }

    /// An unmap or protect (`id`, `args`) with valid arguments, whose
    /// status the record says is `status` (OK or NOT_FOUND). Past 64 GiB
    /// the ABI names no status (nothing may change: later predictions
    /// check that).
    fn range_call(&mut self, id: u32, args: [u64; 6], status: Status) -> Ret {
        let (addr, len) = if id == VMAR_UNMAP {
            (args[1], args[2])
        } else {
            (args[2], args[3])
        };
        let beyond = addr + len > IPA_SIZE;
        let want = if beyond {
            Want::OneOf(&[
                Status::INVALID_ARGS,
                Status::OUT_OF_RANGE,
                Status::NOT_FOUND,
            ])
        } else {
            // Which of the two is the record's to say (Check::VmarRecord).
            Want::OneOf(&[Status::OK, Status::NOT_FOUND])
        };
        let ret = self.issue(id, args, want, true);
        let got = ret.status();
        if !beyond && got != status && got != Status::NO_MEMORY {
            self.found(
                Check::VmarRecord,
                format_args!(
                    "{} of {addr:#x}+{len:#x}: {got} where the record says {status}",
                    statuses::name(id)
                ),
            );
        }
        ret
    }

    /// Whether `[addr, addr + len)` is refused as arguments: empty,
    /// unaligned or wrapping (INVALID_ARGS).
    fn bad_range(addr: u64, len: u64) -> bool {
        len == 0
            || !addr.is_multiple_of(PAGE)
            || !len.is_multiple_of(PAGE)
            || addr.checked_add(len).is_none()
    }

    fn vmar_unmap(&mut self) {
        let vmar = self.pick(Obj::Vmar(0));
        let (addr, len) = self.ipa_range();
        let want = match self.check(vmar, Obj::Vmar(0), Rights::NONE) {
            Err(s) => Err(Want::Exact(s)),
            Ok(_) if Self::bad_range(addr, len) => Err(Want::Exact(Status::INVALID_ARGS)),
            Ok(Obj::Vmar(g)) => Ok(g),
            Ok(_) => unreachable!(),
        };
        match want {
            Err(w) => {
                self.issue(VMAR_UNMAP, [vmar.into(), addr, len, 0, 0, 0], w, false);
            }
            Ok(g) => {
                let status = SPACES.lock()[g].unmap_status(addr, len);
                let ret = self.range_call(VMAR_UNMAP, [vmar.into(), addr, len, 0, 0, 0], status);
                if ret.status() == Status::OK {
                    SPACES.lock()[g].unmap(addr, len);
                }
            }
        }
    }

    fn vmar_protect(&mut self) {
        let vmar = self.pick(Obj::Vmar(0));
        let (addr, len) = self.ipa_range();
        let mut options = u64::from(self.rng.pick(&[1u32, 3, 5, 7, 2, 0]));
        if self.rng.chance(8) {
            options ^= 1 << self.rng.below(64);
        }
        let perms = (options as u32) & 7;
        let want = match self.check(vmar, Obj::Vmar(0), vm_perm_rights(perms)) {
            Err(s) => Err(s),
            Ok(_) if options & !7 != 0 || perms & VM_PERM_READ == 0 => Err(Status::INVALID_ARGS),
            Ok(_) if Self::bad_range(addr, len) => Err(Status::INVALID_ARGS),
            Ok(Obj::Vmar(g)) => Ok(g),
            Ok(_) => unreachable!(),
        };
        let args = [vmar.into(), options, addr, len, 0, 0];
        match want {
            Err(s) => {
                self.issue(VMAR_PROTECT, args, Want::Exact(s), false);
            }
            Ok(g) => {
                let status = SPACES.lock()[g].protect_status(addr, len);
                self.range_call(VMAR_PROTECT, args, status);
            }
        }
    }

    fn set_trap(&mut self) {
        let guest = self.pick(Obj::Guest(0));
        let port = if self.rng.chance(50) {
            self.pick(Obj::Port(0))
        } else {
            0
        };
        let any = self.rng.word();
        let kind = self.rng.pick(&[
            GUEST_TRAP_BELL,
            GUEST_TRAP_MEM,
            GUEST_TRAP_MEM,
            GUEST_TRAP_IO,
            3,
            any,
        ]);
        let (addr, size) = self.ipa_range();
        let size = if self.rng.chance(70) {
            size.min(4 * PAGE)
        } else {
            size
        };
        let key = self.rng.next_u64();
        let want = (|| -> Result<(usize, TrapKind, Option<usize>), Status> {
            let Obj::Guest(g) = self.check(guest, Obj::Guest(0), Rights::WRITE)? else {
                unreachable!()
            };
            let p = if port != 0 {
                let Obj::Port(p) = self.check(port, Obj::Port(0), Rights::WRITE)? else {
                    unreachable!()
                };
                Some(p)
            } else {
                None
            };
            let kind = match (kind, p) {
                (GUEST_TRAP_BELL, Some(_)) => TrapKind::Bell,
                (GUEST_TRAP_MEM, None) => TrapKind::Mem,
                (GUEST_TRAP_IO, _) => return Err(Status::NOT_SUPPORTED),
                _ => return Err(Status::INVALID_ARGS),
            };
            if addr % PAGE != 0 || size % PAGE != 0 {
                return Err(Status::INVALID_ARGS);
            }
            if size == 0 || addr.checked_add(size).is_none_or(|e| e > IPA_SIZE) {
                return Err(Status::OUT_OF_RANGE);
            }
            Ok((g, kind, p))
        })();
        let (want, trap) = match want {
            Err(s) => (s, None),
            Ok((g, kind, p)) => {
                let spaces = SPACES.lock();
                // Not over the guest's code and exit pages, and only traps
                // the model has room for.
                if addr < RESERVED || !spaces[g].has_room_for_a_trap() {
                    return;
                }
                (
                    spaces[g].trap_status(addr, size),
                    Some((g, kind, p.unwrap_or(0))),
                )
            }
        };
        let ret = self.issue(
            GUEST_SET_TRAP,
            [guest.into(), kind.into(), addr, size, port.into(), key],
            Want::Exact(want),
            true,
        );
        if let (Some((g, kind, p)), Status::OK) = (trap, ret.status()) {
            SPACES.lock()[g].add_trap(Trap {
                addr,
                size,
                kind,
                key,
                port: p,
            });
            if kind == TrapKind::Bell {
                self.ports[p].bells += 1;
            }
        }
    }

    fn vcpu_create(&mut self) {
        let guest = self.pick(Obj::Guest(0));
        let options = if self.rng.chance(92) {
            0
        } else {
            self.rng.next_u64() >> self.rng.below(64)
        };
        let any = self.rng.next_u64();
        let entry = self.rng.pick(&[
            CODE,
            CODE,
            CODE,
            PROBE,
            0x40_0000,
            IPA_SIZE - 4,
            IPA_SIZE,
            any,
        ]);
        let want = match self.check(guest, Obj::Guest(0), Rights::MANAGE_THREAD) {
            _ if options != 0 => Err(Status::INVALID_ARGS),
            Err(s) => Err(s),
            Ok(_) if entry >= IPA_SIZE => Err(Status::INVALID_ARGS),
            Ok(Obj::Guest(g)) if self.vcpus_of(g) >= 8 => Err(Status::NO_RESOURCES),
            Ok(Obj::Guest(g)) => Ok(g),
            Ok(_) => unreachable!(),
        };
        if want.is_ok() && self.vcpus.is_full() {
            return;
        }
        let w = match want {
            Ok(g) => self.vcpu_create_want(g),
            Err(s) => Want::Exact(s),
        };
        let ret = self.issue(
            VCPU_CREATE,
            [guest.into(), options, entry, 0, 0, 0],
            w,
            true,
        );
        if let (Ok(g), Status::OK) = (want, ret.status()) {
            self.new_vcpu(g, ret.x1 as u32);
        }
    }

    /// A valid zx_vcpu_create on guest `g` with a free slot: OK, or
    /// NO_RESOURCES while another CPU's call still holds a closed vCPU of
    /// the guest (its slot is free once that call is done).
    fn vcpu_create_want(&self, g: usize) -> Want {
        let closed = (0..self.vcpus.len())
            .filter(|&v| self.vcpus[v].guest == g && !self.vcpu_alive(v))
            .count();
        if self.vcpus_of(g) + closed >= 8 {
            Want::OneOf(&[Status::OK, Status::NO_RESOURCES])
        } else {
            Want::Exact(Status::OK)
        }
    }

    fn new_vcpu(&mut self, g: usize, raw: u32) -> usize {
        let v = self.vcpus.len();
        self.vcpus.push(VcpuObj {
            guest: g,
            koid: 0,
            pending: None,
        });
        self.add_handle(raw, Obj::Vcpu(v), Rights::DEFAULT_VCPU, false);
        self.vcpus[v].koid = self.learn_koid(raw);
        v
    }

    fn port_create(&mut self) {
        let options = if self.rng.chance(90) {
            0
        } else {
            self.rng.next_u64() >> self.rng.below(64)
        };
        if options == 0 && self.ports.is_full() {
            return;
        }
        let want = if options != 0 {
            Status::INVALID_ARGS
        } else {
            Status::OK
        };
        let ret = self.issue(
            PORT_CREATE,
            [options, 0, 0, 0, 0, 0],
            Want::Exact(want),
            true,
        );
        if ret.status() == Status::OK {
            let p = self.ports.len();
            self.ports.push(PortObj::default());
            self.add_handle(ret.x1 as u32, Obj::Port(p), Rights::DEFAULT_PORT, false);
            self.ports[p].koid = self.learn_koid(ret.x1 as u32);
        }
    }

    fn port_queue(&mut self) {
        let port = self.pick(Obj::Port(0));
        let target = self.find(port).map(|i| self.handles[i].obj);
        let n = match target {
            Some(Obj::Port(p)) => (p, self.ports[p].queued),
            _ => (0, 0),
        };
        let (ptr, good) = if self.rng.chance(85) {
            let (base, _) = memory::scratch();
            let at = base + 8 * self.rng.below(64);
            for (i, w) in user_packet(n.0, n.1).iter().enumerate() {
                memory::write_u64(at + 8 * i as u64, *w);
            }
            (at, true)
        } else {
            let bad = memory::refused_pointers(self.monitor, self.board.uart, 48);
            (self.rng.pick(&bad), false)
        };
        let want = match self.check(port, Obj::Port(0), Rights::WRITE) {
            Err(s) => s,
            Ok(_) if !good => Status::INVALID_ARGS,
            Ok(Obj::Port(p)) if self.ports[p].queued - self.ports[p].popped >= 2048 => {
                Status::SHOULD_WAIT
            }
            Ok(_) => Status::OK,
        };
        let ret = self.issue(
            PORT_QUEUE,
            [port.into(), ptr, 0, 0, 0, 0],
            Want::Exact(want),
            true,
        );
        if let (Some(Obj::Port(p)), Status::OK) = (target, ret.status()) {
            self.ports[p].queued += 1;
        }
    }

    fn port_wait(&mut self) {
        let port = self.pick(Obj::Port(0));
        let (ptr, good) = self.out_buf(48);
        let target = match self.check(port, Obj::Port(0), Rights::READ) {
            Ok(Obj::Port(p)) => Some(p),
            _ => None,
        };
        let has_user = target.is_some_and(|p| self.ports[p].queued > self.ports[p].popped);
        let deadline = match self.rng.below(4) {
            0 => 0,
            // In the past (negative); a future one could wait for ever.
            1 => self.rng.next_u64() | 1 << 63,
            2 if has_user => i64::MAX as u64,
            _ => others::now_ns() + 200_000,
        };
        let want = match self.check(port, Obj::Port(0), Rights::READ) {
            Err(s) => Want::Exact(s),
            Ok(_) if !good => Want::Exact(Status::INVALID_ARGS),
            Ok(Obj::Port(p)) if self.ports[p].bells > 0 => {
                Want::OneOf(&[Status::OK, Status::TIMED_OUT])
            }
            Ok(_) if has_user => Want::Exact(Status::OK),
            Ok(_) => Want::Exact(Status::TIMED_OUT),
        };
        let ret = self.issue_out(
            PORT_WAIT,
            [port.into(), deadline, ptr, 0, 0, 0],
            want,
            false,
            (ptr, 48, good),
        );
        let (Some(p), Status::OK) = (target, ret.status()) else {
            return;
        };
        let word = |i: u64| {
            let mut b = [0u8; 8];
            for (j, byte) in b.iter_mut().enumerate() {
                *byte = memory::read_u8(ptr + 8 * i + j as u64);
            }
            u64::from_le_bytes(b)
        };
        let (key, ty) = (word(0), word(1) as u32);
        if ty == PKT_TYPE_USER {
            let mut want = user_packet(p, self.ports[p].popped);
            want[1] = u64::from(PKT_TYPE_USER) | want[1] & !0xffff_ffff;
            let got: [u64; 6] = core::array::from_fn(|i| word(i as u64));
            if got != want {
                self.found(
                    Check::Packets,
                    format_args!(
                        "port_wait: user packet {got:x?}, want {want:x?} (queued in this order)"
                    ),
                );
            }
            self.ports[p].popped += 1;
        } else if ty == PKT_TYPE_GUEST_BELL {
            let addr = word(2);
            let known = SPACES.lock().iter().any(|s| {
                s.traps().iter().any(|t| {
                    t.kind == TrapKind::Bell
                        && t.port == p
                        && t.key == key
                        && addr >= t.addr
                        && addr - t.addr < t.size
                })
            });
            if !known {
                self.found(Check::Packets, format_args!("port_wait: BELL packet key {key:#x} addr {addr:#x} from no BELL trap on this port"));
            }
        } else {
            self.found(
                Check::Packets,
                format_args!("port_wait: packet type {ty}, want USER or GUEST_BELL"),
            );
        }
    }

    fn kick(&mut self) {
        let vcpu = self.pick(Obj::Vcpu(0));
        let want = self
            .check(vcpu, Obj::Vcpu(0), Rights::EXECUTE)
            .err()
            .unwrap_or(Status::OK);
        self.issue(
            VCPU_KICK,
            [vcpu.into(), 0, 0, 0, 0, 0],
            Want::Exact(want),
            false,
        );
    }

    fn interrupt(&mut self) {
        let vcpu = self.pick(Obj::Vcpu(0));
        let vector = match self.rng.below(5) {
            0..=2 => self.rng.below(256),
            3 => self.rng.below(16) | self.rng.below(8) << 10,
            _ => self.rng.next_u64() >> self.rng.below(64),
        };
        let want = match self.check(vcpu, Obj::Vcpu(0), Rights::SIGNAL) {
            Err(s) => Want::Exact(s),
            Ok(_) if vector < 256 => Want::Exact(Status::OK),
            // GICv2 SGIs may carry a source vCPU in bits 12:10 (the binding
            // ABI; docs/abi.md §7: not yet in this build).
            Ok(_) if self.gic_v2 && vector & !(7 << 10) < 16 => {
                Want::OneOf(&[Status::OK, Status::OUT_OF_RANGE])
            }
            Ok(_) => Want::Exact(Status::OUT_OF_RANGE),
        };
        self.issue(
            VCPU_INTERRUPT,
            [vcpu.into(), vector, 0, 0, 0, 0],
            want,
            false,
        );
    }

    /// zx_vcpu_read_state of `vcpu`'s object (through a handle with READ)
    /// into scratch; the state when it worked.
    fn read_state_of(&mut self, vcpu: u32) -> Option<[u64; 33]> {
        let obj = self.handles[self.find(vcpu)?].obj;
        let vcpu = self
            .handles
            .iter()
            .find(|h| h.obj == obj && h.rights.contains(Rights::READ))?
            .raw;
        let (base, _) = memory::scratch();
        let ret = self.issue_out(
            VCPU_READ_STATE,
            [vcpu.into(), VCPU_STATE.into(), base, STATE_SIZE, 0, 0],
            Want::Exact(Status::OK),
            false,
            (base, STATE_SIZE, true),
        );
        (ret.status() == Status::OK)
            .then(|| core::array::from_fn(|i| memory::read_u64(base + 8 * i as u64)))
    }

    fn read_state(&mut self) {
        let vcpu = self.pick(Obj::Vcpu(0));
        let (any_kind, any_size) = (self.rng.word(), self.rng.next_u64());
        let kind = self
            .rng
            .pick(&[VCPU_STATE, VCPU_STATE, VCPU_STATE, VCPU_IO, 2, any_kind]);
        let size = self.rng.pick(&[
            STATE_SIZE, STATE_SIZE, STATE_SIZE, 16, 8, 0, 263, 272, any_size,
        ]);
        let (ptr, good) = self.out_buf(STATE_SIZE);
        let want = match self.check(vcpu, Obj::Vcpu(0), Rights::READ) {
            Err(s) => s,
            Ok(_) if kind != VCPU_STATE || size != STATE_SIZE => Status::INVALID_ARGS,
            Ok(_) if !good => Status::INVALID_ARGS,
            Ok(_) => Status::OK,
        };
        let ret = self.issue_out(
            VCPU_READ_STATE,
            [vcpu.into(), kind.into(), ptr, size, 0, 0],
            Want::Exact(want),
            false,
            (ptr, STATE_SIZE, good),
        );
        if ret.status() == Status::OK && ptr % 8 == 0 {
            let cpsr = memory::read_u64(ptr + 256);
            if cpsr & !0xF000_0000 != 0 {
                self.found(
                    Check::Unchanged,
                    format_args!("read_state: cpsr word {cpsr:#x}, want NZCV only and padding 0"),
                );
            }
        }
    }

    /// A CPSR for write_state: NZCV only, one other bit, or any value.
    fn cpsr(&mut self) -> u32 {
        match self.rng.below(4) {
            0 | 1 => self.rng.word() & 0xF000_0000,
            2 => 1 << self.rng.below(32),
            _ => self.rng.word(),
        }
    }

    fn write_state(&mut self) {
        let vcpu = self.pick(Obj::Vcpu(0));
        let io = self.rng.chance(35);
        let (any_kind, any_size) = (self.rng.word(), self.rng.next_u64());
        let (kind, size) = match self.rng.below(10) {
            0 => (self.rng.pick(&[2, 3, any_kind]), STATE_SIZE),
            1 => (
                if io { VCPU_IO } else { VCPU_STATE },
                self.rng.pick(&[0, 8, 16, 264, 272, any_size]),
            ),
            _ if io => (VCPU_IO, 16),
            _ => (VCPU_STATE, STATE_SIZE),
        };
        let (base, _) = memory::scratch();
        let at = base + 1024 + 8 * self.rng.below(64);
        let regs: [u64; 31] = core::array::from_fn(|_| self.rng.next_u64());
        let (sp, cpsr) = (self.rng.next_u64(), self.cpsr());
        let any_io = self.rng.word() as u8;
        let io_size = self.rng.pick(&[1u8, 2, 4, 8, 0, 3, 16, any_io]);
        let io_data = self.rng.next_u64();
        if kind == VCPU_IO {
            memory::write_u64(at, u64::from(io_size) | (self.rng.next_u64() & !0xff));
            memory::write_u64(at + 8, io_data);
        } else {
            for (i, r) in regs.iter().enumerate() {
                memory::write_u64(at + 8 * i as u64, *r);
            }
            memory::write_u64(at + 248, sp);
            memory::write_u64(at + 256, u64::from(cpsr));
        }
        let (ptr, good) = if self.rng.chance(88) {
            (at, true)
        } else {
            let bad = memory::refused_pointers(self.monitor, self.board.uart, size.min(4096));
            (self.rng.pick(&bad), false)
        };
        let target = match self.check(vcpu, Obj::Vcpu(0), Rights::WRITE) {
            Ok(Obj::Vcpu(v)) => Some(v),
            _ => None,
        };
        let shapes_ok =
            (kind == VCPU_STATE && size == STATE_SIZE) || (kind == VCPU_IO && size == 16);
        let before = match target {
            Some(_) if shapes_ok && good => self.read_state_of(vcpu),
            _ => None,
        };
        let pending = target.and_then(|v| self.vcpus[v].pending);
        let mut stale = false;
        let want = match self.check(vcpu, Obj::Vcpu(0), Rights::WRITE) {
            Err(s) => s,
            Ok(_) if !shapes_ok => Status::INVALID_ARGS,
            Ok(_) if !good => Status::INVALID_ARGS,
            Ok(_) if kind == VCPU_STATE && cpsr & !0xF000_0000 != 0 => Status::INVALID_ARGS,
            Ok(_) if kind == VCPU_STATE => Status::OK,
            Ok(_) if !matches!(io_size, 1 | 2 | 4 | 8) => Status::INVALID_ARGS,
            Ok(_) => match pending {
                None => {
                    stale = true;
                    Status::BAD_STATE
                }
                Some((s, _, _)) if s != io_size => Status::INVALID_ARGS,
                Some(_) => Status::OK,
            },
        };
        let args = [vcpu.into(), kind.into(), ptr, size, 0, 0];
        let ret = if stale {
            // Accepting a completion with no load pending is issue 16 item 4.
            const WANTS: [Status; 3] = [Status::BAD_STATE, Status::OK, Status::INVALID_ARGS];
            let ret = self.issue(VCPU_WRITE_STATE, args, Want::OneOf(&WANTS), false);
            if ret.status() != Status::BAD_STATE {
                // OK, or INVALID_ARGS for the size of a stale load.
                self.found(Check::IoCompletion, format_args!("write_state(ZX_VCPU_IO) gave {} with no MEM load pending (the last enter did not return one, or it was completed), want BAD_STATE", ret.status()));
                if ret.status() == Status::OK {
                    // It wrote some register: the state is the monitor's now.
                    return;
                }
            }
            ret
        } else {
            self.issue(VCPU_WRITE_STATE, args, Want::Exact(want), false)
        };
        let (Some(v), Some(before)) = (target, before) else {
            return;
        };
        let Some(after) = self.read_state_of(vcpu) else {
            return;
        };
        let mut expected = before;
        match (ret.status(), kind) {
            (Status::OK, VCPU_STATE) => {
                expected[..31].copy_from_slice(&regs);
                expected[31] = sp;
                expected[32] = u64::from(cpsr);
                self.vcpus[v].pending = None;
            }
            (Status::OK, _) => {
                if let Some((s, xt, sign)) = pending {
                    let bits = 8 * u32::from(s);
                    let value = if bits == 64 {
                        io_data
                    } else if sign {
                        (((io_data << (64 - bits)) as i64) >> (64 - bits)) as u64
                    } else {
                        io_data & ((1 << bits) - 1)
                    };
                    if xt < 31 {
                        // A W target keeps its upper half 0 (docs/abi.md §4):
                        // not known here, so only the low bits are checked.
                        expected[usize::from(xt)] = if after[usize::from(xt)] >> 32 == 0 {
                            value & 0xffff_ffff
                        } else {
                            value
                        };
                    }
                }
                self.vcpus[v].pending = None;
            }
            _ => {}
        }
        if after != expected {
            let i = (0..33).find(|&i| after[i] != expected[i]).unwrap_or(0);
            let check = blame(ret.status(), Check::Packets);
            self.found(
                check,
                format_args!(
                    "write_state ({}): state word {i} is {:#x} after, want {:#x}",
                    ret.status(),
                    after[i],
                    expected[i]
                ),
            );
        }
    }

    fn unknown_call(&mut self) {
        let id = match self.rng.below(3) {
            0 => 0xC600_0000 | self.rng.below(256) as u32,
            1 => self.rng.pick(&[
                0xC600_0000,
                0xC600_0004,
                0xC600_0026,
                0xC600_0033,
                0xC600_00FE,
                0x8600_0001,
                0xC700_0001,
            ]),
            _ => self.rng.word(),
        };
        // Not PSCI (that could end the machine), and only IDs that are no call.
        if statuses::documented(id).is_some() || id & 0xBFFF_FF00 == 0x8400_0000 {
            return;
        }
        let args = [
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
        ];
        self.issue(id, args, Want::Documented, false);
        if self.rng.chance(10) && hvc::hvc_imm1(u64::from(id)) != u64::MAX {
            self.found(
                Check::Registers,
                format_args!("hvc #1 did not return SMCCC NOT_SUPPORTED"),
            );
        }
    }

    // ---- guests running -------------------------------------------------

    /// Addresses a guest program of guest `g` aims at.
    fn palette(&mut self, g: usize) -> ArrayVec<u64, 24> {
        let mut addrs = ArrayVec::new();
        addrs.push(EXIT);
        for t in SPACES.lock()[g].traps().iter().take(8) {
            addrs.push(t.addr);
        }
        for _ in 0..6 {
            let (base, size) = self.rng.pick(&ZONES);
            addrs.push(base + self.rng.below(size / PAGE) * PAGE);
        }
        for a in [
            GICV_IPA,
            IPA_SIZE,
            IPA_SIZE - PAGE,
            0xFFFF_FFFF_F000,
            RESERVED,
        ] {
            let _ = addrs.try_push(a);
        }
        addrs
    }

    fn enter(&mut self) {
        // Mostly a handle that can enter: entries are the rarer budget.
        let runnable: ArrayVec<u32, MAX_HANDLES> = self
            .handles
            .iter()
            .filter(|h| matches!(h.obj, Obj::Vcpu(_)) && h.rights.contains(Rights::EXECUTE))
            .map(|h| h.raw)
            .collect();
        let vcpu = if self.rng.chance(90) && !runnable.is_empty() {
            self.rng.pick(&runnable)
        } else {
            self.pick(Obj::Vcpu(0))
        };
        let (ptr, good) = self.out_buf(48);
        let target = match self.check(vcpu, Obj::Vcpu(0), Rights::EXECUTE) {
            Ok(Obj::Vcpu(v)) => Some(v),
            _ => None,
        };
        let want = match self.check(vcpu, Obj::Vcpu(0), Rights::EXECUTE) {
            Err(s) => Want::Exact(s),
            Ok(_) if !good => Want::Exact(Status::INVALID_ARGS),
            Ok(_) => Want::Documented,
        };
        let mut destroy: ArrayVec<u32, 3> = ArrayVec::new();
        if let Some(v) = target.filter(|_| good) {
            let g = self.vcpus[v].guest;
            if let Some(slice) = self.guests[g].slice {
                self.ensure_code(g);
                let palette = self.palette(g);
                let calls = [
                    u64::from(psci::PSCI_VERSION),
                    u64::from(psci::CPU_ON_64),
                    u64::from(psci::AFFINITY_INFO_64),
                    u64::from(psci::CPU_OFF),
                    u64::from(psci::SYSTEM_OFF),
                    u64::from(psci::SYSTEM_RESET),
                    u64::from(HANDLE_CLOSE),
                    u64::from(self.resource),
                    self.rng.next_u64(),
                ];
                let mut words = [0u32; CODE_WORDS];
                // Short programs reach their exit more often, and their
                // exceptions (VBAR_EL1 = 0) land on exits; long ones cover
                // the vector table with random code too.
                let len = if self.rng.chance(50) {
                    32 + self.rng.below(96) as usize
                } else {
                    CODE_WORDS
                };
                code::program(
                    &mut self.rng,
                    &mut words[..len],
                    &Palette {
                        addrs: &palette,
                        calls: &calls,
                    },
                    EXIT,
                );
                code::fill_with_exits(&mut words, len, EXIT);
                memory::write_code(slice + CODE, &words);
            }
            // Now and then CPU 1 closes handles while the guest runs.
            if self.rng.chance(3) {
                let candidates = [vcpu, self.guests[g].handle, self.guests[g].vmar];
                for h in candidates {
                    if self.rng.chance(50) && self.find(h).is_some() {
                        let _ = destroy.try_push(h);
                    }
                }
            }
        }
        if !destroy.is_empty() {
            others::destroy_during_next_enter(&destroy);
        }
        let host = host_registers::set(self.rng.next_u64());
        let ret = self.issue_out(
            VCPU_ENTER,
            [vcpu.into(), ptr, 0, 0, 0, 0],
            want,
            false,
            (ptr, 48, good),
        );
        if let Some(changed) = host_registers::changed(host) {
            self.found(
                Check::HostRegisters,
                format_args!("after an enter the host's {changed}"),
            );
        }
        if !destroy.is_empty() {
            match others::destroyed() {
                Some(true) => {
                    for h in destroy {
                        if let Some(i) = self.find(h) {
                            self.drop_handle(i);
                        }
                    }
                }
                Some(false) => {}
                None => self.found(
                    Check::Bound,
                    format_args!("CPU 1 did not close the handles within 1 s"),
                ),
            }
        }
        // An enter refused for its packet pointer never ran: a pending load
        // stays pending.
        let Some(v) = target.filter(|_| good) else {
            return;
        };
        self.vcpus[v].pending = None;
        if ret.status() != Status::OK {
            return;
        }
        self.check_packet(v, ptr);
    }

    fn check_packet(&mut self, v: usize, ptr: u64) {
        let word = |i: u64| {
            let mut b = [0u8; 8];
            for (j, byte) in b.iter_mut().enumerate() {
                *byte = memory::read_u8(ptr + 8 * i + j as u64);
            }
            u64::from_le_bytes(b)
        };
        let (key, ty) = (word(0), word(1) as u32);
        let g = self.vcpus[v].guest;
        match ty {
            PKT_TYPE_GUEST_MEM => {
                let (addr, info) = (word(2), word(3));
                let (size, sign, xt, read) = (
                    info as u8,
                    (info >> 8) as u8,
                    (info >> 16) as u8,
                    (info >> 24) as u8,
                );
                let trap = SPACES.lock()[g].trap_at(addr).copied();
                let ok = matches!(size, 1 | 2 | 4 | 8)
                    && sign <= 1
                    && xt <= 31
                    && read <= 1
                    && trap.is_some_and(|t| t.kind == TrapKind::Mem && t.key == key);
                if !ok {
                    self.found(Check::Packets, format_args!("GUEST_MEM packet key {key:#x} addr {addr:#x} size {size} sign {sign} xt {xt} read {read}: no MEM trap of this guest has them"));
                }
                if read == 1 {
                    self.vcpus[v].pending = Some((size, xt, sign == 1));
                }
            }
            PKT_TYPE_GUEST_VCPU => {
                let kind = word(2) as u32;
                if kind > 1 || (kind == 0 && (self.gic_v2 || word(4) as u8 >= 16)) || key != 0 {
                    self.found(
                        Check::Packets,
                        format_args!(
                            "GUEST_VCPU packet type {kind}, key {key:#x}, vector {}",
                            word(4) as u8
                        ),
                    );
                }
            }
            _ => self.found(
                Check::Packets,
                format_args!("enter returned packet type {ty}, want GUEST_MEM or GUEST_VCPU"),
            ),
        }
    }

    /// What the guest reads at a few pages must be what the model says: a
    /// probe vCPU loads from each and stores what it read to the exit page.
    fn probe(&mut self) {
        if self.guests.is_empty() {
            return;
        }
        let g = self.rng.below(self.guests.len() as u64) as usize;
        let guest = self.guests[g];
        let Some(slice) = guest.slice else { return };
        if self.find(guest.handle).is_none()
            || self.find(guest.code_vmo).is_none()
            || SPACES.lock()[g].trap_at(EXIT).is_none()
        {
            return;
        }
        self.ensure_code(g);
        if !(CODE..CODE_MAP)
            .step_by(PAGE as usize)
            .all(|p| SPACES.lock()[g].is_mapped(p))
            || self.vcpus_of(g) >= 8
            || self.vcpus.is_full()
        {
            return;
        }
        let (zone, size) = self.rng.pick(&ZONES);
        let ipa = zone + self.rng.below(size / 8) * 8;
        let expect = SPACES.lock()[g].reads(ipa);
        if expect == Reads::Device || ipa < RESERVED {
            return;
        }
        let mut words = [0u32; 12];
        words[..4].copy_from_slice(&code::load_constant(1, ipa));
        words[4] = 0xF940_0022; // ldr x2, [x1]
        words[5..9].copy_from_slice(&code::load_constant(0, EXIT));
        words[9] = 0xF900_0002; // str x2, [x0]
        words[10] = 0x1400_0000; // b .
        memory::write_code(slice + PROBE, &words);
        let want = self.vcpu_create_want(g);
        let ret = self.issue(
            VCPU_CREATE,
            [guest.handle.into(), 0, PROBE, 0, 0, 0],
            want,
            true,
        );
        if ret.status() != Status::OK {
            return;
        }
        let raw = ret.x1 as u32;
        self.new_vcpu(g, raw);
        let value = match expect {
            Reads::Ram(pa) => memory::read_u64(pa),
            _ => 0,
        };
        let (ptr, _) = memory::scratch();
        let want = match expect {
            Reads::Trap(TrapKind::Bell, _) => Status::NOT_SUPPORTED,
            Reads::Nothing => Status::NOT_FOUND,
            _ => Status::OK,
        };
        // Another CPU's kick may cancel it; a full BELL pool retries.
        let mut got = Status::CANCELED;
        for _ in 0..4 {
            let r = self.issue_out(
                VCPU_ENTER,
                [raw.into(), ptr, 0, 0, 0, 0],
                Want::Documented,
                false,
                (ptr, 48, true),
            );
            got = r.status();
            if got != Status::CANCELED && got != Status::INTERNAL_INTR_RETRY {
                break;
            }
        }
        if got != Status::CANCELED && got != Status::INTERNAL_INTR_RETRY {
            let (addr, data) = (memory::read_u64(ptr + 16), memory::read_u64(ptr + 32));
            let right = match expect {
                Reads::Trap(TrapKind::Mem, key) => {
                    got == want && addr == ipa && memory::read_u64(ptr) == key
                }
                Reads::Ram(_) => got == want && addr == EXIT && data == value,
                _ => got == want,
            };
            self.probes += 1;
            if !right {
                self.found(Check::GuestView, format_args!("guest read at {ipa:#x}: enter {got}, addr {addr:#x}, data {data:#x}; the record says {expect:?} (value {value:#x})"));
            }
        }
        if let Some(i) = self.find(raw) {
            self.issue(
                HANDLE_CLOSE,
                [raw.into(), 0, 0, 0, 0, 0],
                Want::Exact(Status::OK),
                false,
            );
            self.drop_handle(i);
        }
    }

    // ---- the run --------------------------------------------------------

    /// Closes everything but the resource; the free heap must be back at
    /// the baseline.
    fn teardown(&mut self, cpus: usize) {
        others::pause(cpus);
        for i in (0..self.handles.len()).rev() {
            let h = self.handles[i];
            if h.raw == self.resource {
                continue;
            }
            self.issue(
                HANDLE_CLOSE,
                [h.raw.into(), 0, 0, 0, 0, 0],
                Want::Exact(Status::OK),
                false,
            );
            self.drop_handle(i);
        }
        for slot in others::VCPUS.iter().chain(&others::OTHERS) {
            slot.store(0, Ordering::SeqCst);
        }
        self.guests.clear();
        self.vcpus.clear();
        self.vmos.clear();
        self.ports.clear();
        let free = free_heap();
        if free != self.baseline {
            self.found(
                Check::Heap,
                format_args!(
                    "free heap {free} bytes with everything closed, baseline {}",
                    self.baseline
                ),
            );
        }
        if let Some(at) = memory::canary_changed() {
            self.found(
                Check::Canaries,
                format_args!("canary byte at {at:#x} changed"),
            );
            memory::set_canaries();
        }
        others::resume(cpus);
    }

    fn monitor_unreadable(&mut self) {
        let at = self.monitor.0 + self.rng.below(self.monitor.1 / 8) * 8;
        if el1rt::probe::read(at).is_none() {
            self.found(
                Check::MonitorMemory,
                format_args!("the host read monitor memory at {at:#x}"),
            );
        }
    }

    fn step(&mut self, want_calls: bool, want_entries: bool) {
        if want_entries && (!want_calls || self.rng.chance(3)) {
            if self.rng.chance(10) {
                return self.probe();
            }
            return self.enter();
        }
        match self.rng.below(100) {
            0..=3 => self.close(),
            4..=9 => self.duplicate(),
            10..=14 => self.get_info(),
            15..=16 => self.zxv_info(),
            17..=19 => self.guest_create(),
            20..=24 => self.vmo_create(),
            25..=36 => self.vmar_map(),
            37..=44 => self.vmar_unmap(),
            45..=49 => self.vmar_protect(),
            50..=56 => self.set_trap(),
            57..=61 => self.vcpu_create(),
            62..=64 => self.port_create(),
            65..=70 => self.port_queue(),
            71..=75 => self.port_wait(),
            76 => self.kick(),
            77..=82 => self.interrupt(),
            83..=87 => self.read_state(),
            88..=94 => self.write_state(),
            95..=97 => self.unknown_call(),
            _ => self.monitor_unreadable(),
        }
    }
}

/// The host's own EL1/EL0 registers a guest could leave behind: set to a
/// pattern before an enter, compared after (docs/abi.md §4; issue 16 item 2).
mod host_registers {
    use core::arch::asm;

    const NAMES: [&str; 7] = [
        "TPIDR_EL1",
        "TPIDR_EL0",
        "TPIDRRO_EL0",
        "CONTEXTIDR_EL1",
        "PAR_EL1",
        "DBGBVR0_EL1",
        "DBGWVR0_EL1",
    ];

    pub struct Values([u64; 7]);

    fn read() -> [u64; 7] {
        let (a, b, c, d, e, f, g): (u64, u64, u64, u64, u64, u64, u64);
        // SAFETY: reading the host's own thread-ID, context-ID, address
        // translation result and (disabled) breakpoint and watchpoint value
        // registers has no side effects.
        unsafe {
            asm!("mrs {}, tpidr_el1", "mrs {}, tpidr_el0", "mrs {}, tpidrro_el0", "mrs {}, contextidr_el1",
                 "mrs {}, par_el1", "mrs {}, dbgbvr0_el1", "mrs {}, dbgwvr0_el1",
                 out(reg) a, out(reg) b, out(reg) c, out(reg) d, out(reg) e, out(reg) f, out(reg) g)
        };
        [a, b, c, d, e, f, g]
    }

    /// Writes a pattern from `seed` to them: PAR_EL1 a failed
    /// translation's form (F set), the breakpoint and watchpoint values
    /// word-aligned addresses (their control registers keep them off).
    pub fn set(seed: u64) -> Values {
        let v = [
            seed,
            seed.rotate_left(16),
            seed.rotate_left(32),
            seed & 0xffff_ffff,
            (seed & 0xf_ffff_f000) | 1,
            seed & 0x0000_ffff_ffff_fffc,
            seed.rotate_left(8) & 0x0000_ffff_ffff_fff8,
        ];
        // SAFETY: el1rt keeps nothing in these registers, and the host's
        // breakpoint and watchpoint 0 stay disabled (DBGBCR0/DBGWCR0.E = 0),
        // so their values have no effect.
        unsafe {
            asm!("msr tpidr_el1, {}", "msr tpidr_el0, {}", "msr tpidrro_el0, {}", "msr contextidr_el1, {}",
                 "msr par_el1, {}", "msr dbgbvr0_el1, {}", "msr dbgwvr0_el1, {}", "isb",
                 in(reg) v[0], in(reg) v[1], in(reg) v[2], in(reg) v[3], in(reg) v[4], in(reg) v[5], in(reg) v[6])
        };
        Values(read())
    }

    /// The first register that is not what `set` left in it.
    pub fn changed(before: Values) -> Option<&'static str> {
        let now = read();
        (0..NAMES.len())
            .find(|&i| now[i] != before.0[i])
            .map(|i| NAMES[i])
    }
}

/// What a wrong effect of a call is: `when_ok` when it succeeded, else a
/// failed call that changed something.
fn blame(status: Status, when_ok: Check) -> Check {
    if status == Status::OK {
        when_ok
    } else {
        Check::Unchanged
    }
}

fn free_heap() -> u64 {
    let mut buf = [0u64; 5];
    // SAFETY: a 40-byte local the monitor fills.
    let ret = unsafe { hvc::call(ZXV_INFO, [buf.as_mut_ptr() as u64, 40, 0, 0, 0, 0]) };
    if ret.status() == Status::OK {
        buf[4]
    } else {
        0
    }
}

static CPUS: AtomicU64 = AtomicU64::new(1);
static ENDING: Mutex<()> = Mutex::new(());

/// Prints every check's test line and the closing line, and ends the
/// machine (from the watchdog too, when CPU 0 hangs).
pub fn end_of_run() -> ! {
    let _once = ENDING.lock();
    let (passed, failed) = report::summary();
    println!("{passed} passed, {failed} failed");
    // SAFETY: SYSTEM_OFF ends the machine.
    unsafe { syscalls::client::psci_call(psci::SYSTEM_OFF, 0, 0, 0) };
    loop {
        core::hint::spin_loop();
    }
}

/// The whole run on CPU 0.
pub fn run(board: &Board, resource: u32, config: crate::config::Config) -> ! {
    let seed = config.seed.unwrap_or_else(others::ticks);
    SEED.store(seed, Ordering::Relaxed);
    report::set_seed(seed);
    println!(
        "zxv-fuzz: seed {seed:#x}, {} calls, {} entries, {} CPUs (repeat with zxv.fuzz=calls:{},entries:{},seed:{seed:#x})",
        config.calls, config.entries, board.cpus.len(), config.calls, config.entries
    );
    let info = syscalls::client::zxv_info().unwrap_or_default();
    let mut f = Fuzz {
        board,
        rng: Rng::new(seed),
        calls: 0,
        entries: 0,
        recent: [CallRecord::default(); 6],
        monitor: (info.monitor_base, info.monitor_size),
        gic_v2: info.gic_version == 2,
        handles: ArrayVec::new(),
        closed: [0; 16],
        guests: ArrayVec::new(),
        vcpus: ArrayVec::new(),
        vmos: ArrayVec::new(),
        ports: ArrayVec::new(),
        resource,
        baseline: 0,
        trace: config.trace.unwrap_or(u64::MAX),
        made: [[0; 2]; statuses::CALLS.len()],
        entered: [0; ENTER_STATUSES.len() + 1],
        probes: 0,
    };
    f.add_handle(resource, Obj::Resource, Rights::DEFAULT_RESOURCE, true);
    others::RESOURCE.store(resource, Ordering::SeqCst);
    memory::set_canaries();
    f.baseline = free_heap();
    let cpus = board.cpus.len();
    CPUS.store(cpus as u64, Ordering::SeqCst);
    for cpu in 1..cpus {
        match cpus::start(board, cpu) {
            Ok(()) => cpus::run_on(cpu, others::job, cpu),
            Err(why) => println!("zxv-fuzz: CPU {cpu} did not start: {why}"),
        }
    }
    let mut next_epoch = EPOCH;
    while f.calls < config.calls || f.entries < config.entries {
        f.step(f.calls < config.calls, f.entries < config.entries);
        if f.calls + f.entries >= next_epoch {
            next_epoch += EPOCH;
            f.teardown(cpus);
        }
    }
    f.teardown(cpus);
    others::pause(cpus);
    others::stop();
    println!(
        "zxv-fuzz: {} calls, {} entries made; {} guest reads compared with the record",
        f.calls, f.entries, f.probes
    );
    for (id, [n, ok]) in statuses::CALLS.iter().zip(f.made) {
        println!("zxv-fuzz:   {} {n} ({ok} ZX_OK)", statuses::name(*id));
    }
    for (status, n) in ENTER_STATUSES
        .iter()
        .map(|s| s.name())
        .chain(["other"])
        .zip(f.entered)
    {
        println!("zxv-fuzz:   enters {status}: {n}");
    }
    end_of_run()
}
