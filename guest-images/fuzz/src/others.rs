//! The other CPUs. CPU 1 is also CPU 0's watchdog: it kicks an enter that
//! has not returned after [`KICK_AFTER_MS`], reports a call that has not
//! returned within [`BOUND_MS`] and stops the machine, and closes handles
//! CPU 0 names while CPU 0 is inside an enter (destroys mid-run). Every
//! other CPU pokes: kicks and interrupts CPU 0's vCPUs, calls that only
//! their owner may make (BAD_STATE), get_info on CPU 0's handles, and
//! objects of its own (ports, duplicates, guests with a vCPU it kicks and
//! enters), checking each status against the documented ones.

use crate::hvc::{self, Ret};
use crate::report::{self, CallRecord, Check};
use crate::rng::Rng;
use crate::statuses;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use el1rt::platform::MAX_CPUS;
use spin::Mutex;
use syscalls::ids::*;
use syscalls::object::INFO_HANDLE_BASIC;
use syscalls::{Rights, Status};

/// An enter not back after this long is kicked.
pub const KICK_AFTER_MS: u64 = 5;
/// A call not back after this long is a finding (and the end of the run).
pub const BOUND_MS: u64 = 10_000;

/// Handles of CPU 0's the others poke (raw values; stale ones are fine).
pub static VCPUS: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
pub static OTHERS: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];
/// The hypervisor resource, for the others' own guests.
pub static RESOURCE: AtomicU32 = AtomicU32::new(0);

/// CPU 0's call in progress: its number (odd while in a call), when it
/// started (counter ticks), and the record for a report.
static CALL_SEQ: AtomicU64 = AtomicU64::new(0);
static CALL_START: AtomicU64 = AtomicU64::new(0);
const NO_CALL: CallRecord = CallRecord {
    index: 0,
    id: 0,
    args: [0; 6],
    ret: Ret {
        x0: 0,
        x1: 0,
        x2: 0,
        clobbered: None,
    },
};
/// CPU 0's last calls, the one in progress last.
static CALLS: Mutex<[CallRecord; 6]> = Mutex::new([NO_CALL; 6]);
/// The handles CPU 1 closed during CPU 0's call number LAST_DESTROY[0].
static LAST_DESTROY: Mutex<[u64; 4]> = Mutex::new([0; 4]);
/// The vCPU of CPU 0's enter in progress (0: not in an enter).
static ENTER_VCPU: AtomicU32 = AtomicU32::new(0);
/// Handles CPU 1 closes while CPU 0 is in its next enter, and how far that
/// got: IDLE, ASKED (CPU 0), CLOSING (CPU 1 took them), CLOSED.
static DESTROY: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
static DESTROY_STATE: AtomicU32 = AtomicU32::new(IDLE);
const IDLE: u32 = 0;
const ASKED: u32 = 1;
const CLOSING: u32 = 2;
const CLOSED: u32 = 3;
/// CPU 0 asks the others to close what they hold and wait (PAUSE), or to end.
static PAUSE: AtomicBool = AtomicBool::new(false);
static PAUSED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static STOP: AtomicBool = AtomicBool::new(false);
/// Set once the watchdog has ended the run.
pub static ENDED: AtomicBool = AtomicBool::new(false);

pub fn ticks() -> u64 {
    let t: u64;
    // SAFETY: reading the counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) t) };
    t
}

pub fn ticks_per_ms() -> u64 {
    let f: u64;
    // SAFETY: reading the counter frequency has no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) f) };
    (f / 1000).max(1)
}

/// CPU 0 starts a call (`vcpu` != 0 for an enter of it).
pub fn call_begins(record: &CallRecord, vcpu: u32) {
    {
        let mut calls = CALLS.lock();
        calls.rotate_left(1);
        calls[5] = *record;
    }
    CALL_START.store(ticks(), Ordering::SeqCst);
    ENTER_VCPU.store(vcpu, Ordering::SeqCst);
    CALL_SEQ.fetch_add(1, Ordering::SeqCst);
}

pub fn call_ends() {
    ENTER_VCPU.store(0, Ordering::SeqCst);
    CALL_SEQ.fetch_add(1, Ordering::SeqCst);
}

/// CPU 0: close `handles` (not empty) during the next enter.
pub fn destroy_during_next_enter(handles: &[u32]) {
    for (slot, &h) in DESTROY
        .iter()
        .zip(handles.iter().chain(core::iter::repeat(&0)))
    {
        slot.store(h, Ordering::SeqCst);
    }
    DESTROY_STATE.store(ASKED, Ordering::SeqCst);
}

/// CPU 0, after the enter: Some(true) once CPU 1 has closed the handles,
/// Some(false) if the enter ended before CPU 1 took them (they stay
/// open), None if CPU 1 took them and did not finish within 1 s.
pub fn destroyed() -> Option<bool> {
    if DESTROY_STATE
        .compare_exchange(ASKED, IDLE, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        return Some(false);
    }
    let deadline = ticks() + 1000 * ticks_per_ms();
    while DESTROY_STATE.load(Ordering::SeqCst) != CLOSED {
        if ticks() > deadline {
            return None;
        }
        core::hint::spin_loop();
    }
    DESTROY_STATE.store(IDLE, Ordering::SeqCst);
    Some(true)
}

/// CPU 0: the others close what they hold and wait; returns when all have.
pub fn pause(cpus: usize) {
    PAUSE.store(true, Ordering::SeqCst);
    for p in &PAUSED[1..cpus] {
        while !p.load(Ordering::SeqCst) && !ENDED.load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
    }
}

/// CPU 0: the others go on; returns once each has (so that a pause right
/// after cannot be missed).
pub fn resume(cpus: usize) {
    PAUSE.store(false, Ordering::SeqCst);
    for p in &PAUSED[1..cpus] {
        while p.load(Ordering::SeqCst) && !ENDED.load(Ordering::SeqCst) {
            core::hint::spin_loop();
        }
    }
}

/// CPU 0: the run is over; the others stop once paused.
pub fn stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// What a poking CPU holds and has done.
struct Poker {
    cpu: usize,
    rng: Rng,
    index: u64,
    recent: [CallRecord; 4],
    held: arrayvec::ArrayVec<u32, 16>,
    /// The port it queues to (0: none) and the buffer its calls use.
    port: u32,
    buf: [u64; 64],
}

impl Poker {
    fn call(&mut self, id: u32, args: [u64; 6]) -> Ret {
        self.index += 1;
        // SAFETY: the pokers pass their own `buf` as the only pointer, big
        // enough for any record, or no pointer.
        let ret = unsafe { hvc::call(id, args) };
        let record = CallRecord {
            index: self.index,
            id,
            args,
            ret,
        };
        self.recent.rotate_left(1);
        self.recent[3] = record;
        let documented = statuses::documented(id).unwrap_or(&[]);
        if !documented.contains(&ret.status()) {
            self.found(
                Check::Status,
                format_args!(
                    "{} returned {}, not a documented status",
                    statuses::name(id),
                    ret.status()
                ),
            );
        }
        if ret.clobbered.is_some()
            || (ret.status() != Status::OK
                && ret.status() != Status::BUFFER_TOO_SMALL
                && (ret.x1, ret.x2) != (0, 0))
        {
            self.found(
                Check::Registers,
                format_args!(
                    "{}: registers not as documented ({:?}, x1 {:#x}, x2 {:#x})",
                    statuses::name(id),
                    ret.clobbered,
                    ret.x1,
                    ret.x2
                ),
            );
        }
        ret
    }

    fn found(&self, check: Check, what: core::fmt::Arguments) {
        report::finding(
            check,
            self.cpu,
            what,
            Some(&self.recent[3]),
            &self.recent[..3],
        );
    }

    fn buf(&mut self) -> u64 {
        self.buf.as_mut_ptr() as u64
    }

    fn public(&mut self, list: &[AtomicU32]) -> u32 {
        list[self.rng.below(list.len() as u64) as usize].load(Ordering::SeqCst)
    }

    fn close_all(&mut self) {
        while let Some(h) = self.held.pop() {
            self.call(HANDLE_CLOSE, [h.into(), 0, 0, 0, 0, 0]);
        }
        self.port = 0;
    }

    fn keep(&mut self, ret: Ret, second: bool) {
        if ret.status() == Status::OK {
            for h in [ret.x1, ret.x2]
                .into_iter()
                .take(if second { 2 } else { 1 })
            {
                if self.held.try_push(h as u32).is_err() {
                    self.call(HANDLE_CLOSE, [h, 0, 0, 0, 0, 0]);
                }
            }
        }
    }

    /// One random poke.
    fn poke(&mut self) {
        let vcpu = self.public(&VCPUS);
        let buf = self.buf();
        match self.rng.below(12) {
            // A kick waits for the vCPU's next enter: now and then only, or
            // most of CPU 0's enters would be canceled at once.
            0 if self.rng.chance(20) => {
                self.call(VCPU_KICK, [vcpu.into(), 0, 0, 0, 0, 0]);
            }
            0 | 1 => {}
            2 | 3 => {
                let vector = if self.rng.chance(90) {
                    self.rng.below(256)
                } else {
                    self.rng.next_u64()
                };
                self.call(VCPU_INTERRUPT, [vcpu.into(), vector, 0, 0, 0, 0]);
            }
            4 => {
                // Calls only the vCPU's own CPU may make.
                let (id, args) = match self.rng.below(3) {
                    0 => (VCPU_ENTER, [vcpu.into(), buf, 0, 0, 0, 0]),
                    1 => (VCPU_READ_STATE, [vcpu.into(), 0, buf, 264, 0, 0]),
                    _ => (VCPU_WRITE_STATE, [vcpu.into(), 0, buf, 264, 0, 0]),
                };
                let ret = self.call(id, args);
                if ret.status() == Status::OK {
                    self.found(
                        Check::Status,
                        format_args!(
                            "{} of CPU 0's vCPU from CPU {} returned ZX_OK, want BAD_STATE",
                            statuses::name(id),
                            self.cpu
                        ),
                    );
                }
            }
            5 => {
                let h = self.public(&OTHERS);
                let any = self.rng.word();
                let topic = self.rng.pick(&[INFO_HANDLE_BASIC, 32, 0x7A58_0001, any]);
                let size = self.rng.pick(&[0, 4, 32, 88, 512]);
                self.call(OBJECT_GET_INFO, [h.into(), topic.into(), buf, size, 0, 0]);
            }
            6 => {
                let h = self.public(&OTHERS);
                let any = self.rng.word();
                let rights = self
                    .rng
                    .pick(&[Rights::SAME_RIGHTS.bits(), Rights::NONE.bits(), any]);
                let ret = self.call(HANDLE_DUPLICATE, [h.into(), rights.into(), 0, 0, 0, 0]);
                self.keep(ret, false);
            }
            7 | 8 => self.own_port(),
            9 => self.own_guest(),
            _ => self.close_all(),
        }
    }

    fn own_port(&mut self) {
        if self.port == 0 {
            let ret = self.call(PORT_CREATE, [0; 6]);
            if ret.status() == Status::OK && self.held.try_push(ret.x1 as u32).is_ok() {
                self.port = ret.x1 as u32;
            }
            return;
        }
        let buf = self.buf();
        let port = u64::from(self.port);
        if self.rng.chance(50) {
            self.call(PORT_QUEUE, [port, buf, 0, 0, 0, 0]);
        } else {
            let deadline = if self.rng.chance(80) {
                0
            } else {
                now_ns() + 100_000
            };
            self.call(PORT_WAIT, [port, deadline, buf, 0, 0, 0]);
        }
    }

    /// A guest of its own with a vCPU it kicks first: the enter must be
    /// CANCELED (a kick before an enter cancels it, docs/abi.md §3).
    fn own_guest(&mut self) {
        let resource = RESOURCE.load(Ordering::SeqCst);
        let ret = self.call(GUEST_CREATE, [resource.into(), 0, 0, 0, 0, 0]);
        if ret.status() != Status::OK {
            return;
        }
        let (guest, vmar) = (ret.x1, ret.x2);
        let vcpu = self.call(VCPU_CREATE, [guest, 0, 0, 0, 0, 0]);
        if vcpu.status() == Status::OK {
            self.call(VCPU_KICK, [vcpu.x1, 0, 0, 0, 0, 0]);
            let buf = self.buf();
            let entered = self.call(VCPU_ENTER, [vcpu.x1, buf, 0, 0, 0, 0]);
            if entered.status() != Status::CANCELED {
                self.found(
                    Check::Status,
                    format_args!(
                        "enter after a kick returned {}, want ZX_ERR_CANCELED",
                        entered.status()
                    ),
                );
            }
            self.call(HANDLE_CLOSE, [vcpu.x1, 0, 0, 0, 0, 0]);
        }
        self.call(HANDLE_CLOSE, [guest, 0, 0, 0, 0, 0]);
        self.call(HANDLE_CLOSE, [vmar, 0, 0, 0, 0, 0]);
    }

    /// What a vCPU whose enter does not return is doing: its kick flag and
    /// its exits by kind, twice 100 ms apart (ZXV_INFO_VCPU_EXITS).
    fn describe_stuck(&mut self, vcpu: u32) {
        let buf = self.buf();
        for _ in 0..2 {
            let flags = self.call(OBJECT_GET_INFO, [vcpu.into(), 32, buf, 4, 0, 0]);
            let kicked = self.buf[0] as u32;
            let exits = self.call(OBJECT_GET_INFO, [vcpu.into(), 0x7A58_0001, buf, 88, 0, 0]);
            el1rt::println!(
                "  stuck vCPU {vcpu:#x}: info {} kicked flag {kicked}; exits {} (MEM, BELL, HVC, SMC, WFI, WFE, sysreg, SGI, FP, IRQ, other) {:?}",
                flags.status(),
                exits.status(),
                &self.buf[..11]
            );
            let until = ticks() + 100 * ticks_per_ms();
            while ticks() < until {
                core::hint::spin_loop();
            }
        }
    }

    /// CPU 1's watch over CPU 0's call in progress.
    fn watch(&mut self, kicked: &mut u64) {
        let seq = CALL_SEQ.load(Ordering::SeqCst);
        if seq.is_multiple_of(2) {
            return;
        }
        let elapsed = ticks().saturating_sub(CALL_START.load(Ordering::SeqCst));
        let vcpu = ENTER_VCPU.load(Ordering::SeqCst);
        if vcpu != 0 {
            if elapsed > self.rng.below(ticks_per_ms())
                && DESTROY_STATE
                    .compare_exchange(ASKED, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                let mut log = [CALLS.lock()[5].index, 0, 0, 0];
                for (slot, logged) in DESTROY.iter().zip(&mut log[1..]) {
                    let h = slot.swap(0, Ordering::SeqCst);
                    *logged = h.into();
                    if h == vcpu {
                        // Once its last handle is gone nothing can kick the
                        // running vCPU (its enter goes on as long as the
                        // guest does): kick it first.
                        self.call(VCPU_KICK, [h.into(), 0, 0, 0, 0, 0]);
                    }
                    if h != 0 {
                        let closed = self.call(HANDLE_CLOSE, [h.into(), 0, 0, 0, 0, 0]);
                        if closed.status() != Status::OK {
                            self.found(
                                Check::Status,
                                format_args!(
                                    "CPU 1 closing CPU 0's handle {h:#x} during its enter: {}",
                                    closed.status()
                                ),
                            );
                        }
                    }
                }
                *LAST_DESTROY.lock() = log;
                DESTROY_STATE.store(CLOSED, Ordering::SeqCst);
            }
            if *kicked != seq && elapsed > KICK_AFTER_MS * ticks_per_ms() {
                *kicked = seq;
                self.call(VCPU_KICK, [vcpu.into(), 0, 0, 0, 0, 0]);
            }
        }
        if elapsed > BOUND_MS * ticks_per_ms() && CALL_SEQ.load(Ordering::SeqCst) == seq {
            if vcpu != 0 {
                self.describe_stuck(vcpu);
            }
            let calls = *CALLS.lock();
            let destroy = *LAST_DESTROY.lock();
            report::finding(
                Check::Bound,
                0,
                format_args!("CPU 0's call did not return within {BOUND_MS} ms (a kick after {KICK_AFTER_MS} ms for an enter); CPU 1 last closed {:#x?} during call #{}", &destroy[1..], destroy[0]),
                Some(&calls[5]),
                &calls[..5],
            );
            ENDED.store(true, Ordering::SeqCst);
            crate::run::end_of_run();
        }
    }
}

/// Monotonic time in ns, as zx_port_wait's deadline counts it.
pub fn now_ns() -> u64 {
    (u128::from(ticks()) * 1_000_000 / u128::from(ticks_per_ms())) as u64
}

/// The job of CPU `cpu` (1..): pokes until told to stop; CPU 1 watches too.
pub fn job(cpu: usize) -> i32 {
    let mut p = Poker {
        cpu,
        rng: Rng::new(crate::run::seed() ^ (cpu as u64) << 56),
        index: 0,
        recent: [CallRecord::default(); 4],
        held: arrayvec::ArrayVec::new(),
        port: 0,
        buf: [0; 64],
    };
    let mut kicked = 0;
    loop {
        if cpu == 1 {
            p.watch(&mut kicked);
        }
        if PAUSE.load(Ordering::SeqCst) {
            p.close_all();
            PAUSED[cpu].store(true, Ordering::SeqCst);
            while PAUSE.load(Ordering::SeqCst) {
                if STOP.load(Ordering::SeqCst) {
                    return 0;
                }
                core::hint::spin_loop();
            }
            PAUSED[cpu].store(false, Ordering::SeqCst);
            continue;
        }
        // Pokes are rarer than CPU 0's calls, so that CPU 0 gets through.
        if p.rng.chance(if cpu == 1 { 2 } else { 5 }) {
            p.poke();
        }
        for _ in 0..1000 {
            core::hint::spin_loop();
        }
    }
}
