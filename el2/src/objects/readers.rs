//! Read sections of the handle table: how a close knows that no CPU still
//! uses the object it takes out (`handles`' module comment).
//!
//! Each CPU has a counter, odd while it is inside a read section. A reader
//! enters (the counter becomes odd, then a full barrier), looks handles up
//! and uses their objects in place, and leaves (the counter becomes even,
//! a release store). A close clears the handle's open bit, issues a full
//! barrier and then [`wait`]s: every other CPU whose counter it sees odd
//! is waited for until the counter moves on. The barriers on both sides
//! make sure that either the reader sees the handle closed, or the close
//! sees the reader's section and waits for its end, whose release store
//! orders all the reader's uses of the object before the close drops it.
//!
//! A section is short and never blocks: it covers a lookup and what a call
//! does with the object in place (copying a vCPU's state, marking an
//! interrupt pending, cloning a reference for a call that runs for long,
//! such as `zx_vcpu_enter`). The monitor runs with interrupts masked, so
//! nothing else runs on a CPU inside its section, and a close waits for at
//! most one section per CPU. A close may not hold a lock a section takes
//! (it holds none while it waits). Sections nest: an inner one leaves the
//! counter to the outer one.

use crate::platform::{percpu, MAX_CPUS};
use core::sync::atomic::{fence, AtomicU64, Ordering};

/// One CPU's counter, alone in its cache line.
#[repr(align(64))]
struct Counter(AtomicU64);

static SECTIONS: [Counter; MAX_CPUS] = [const { Counter(AtomicU64::new(0)) }; MAX_CPUS];

/// A read section of this CPU, left when dropped. Not `Send`: it belongs
/// to its CPU.
pub struct Section {
    /// The counter to make even again on leaving, and its new value; None
    /// for a nested section.
    leave: Option<(&'static AtomicU64, u64)>,
    _not_send: core::marker::PhantomData<*const ()>,
}

impl Section {
    /// Enters a read section on this CPU.
    #[inline(always)]
    pub fn enter() -> Section {
        let counter = &SECTIONS[percpu::current()].0;
        // Only this CPU writes its counter.
        let now = counter.load(Ordering::Relaxed);
        let leave = if now & 1 == 0 {
            counter.store(now + 1, Ordering::Relaxed);
            // The counter's store before the handle table's loads
            // (the store-load order a plain release would not give).
            fence(Ordering::SeqCst);
            Some((counter, now + 2))
        } else {
            None
        };
        Section {
            leave,
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for Section {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some((counter, even)) = self.leave {
            // Release: every use of a looked-up object comes before.
            counter.store(even, Ordering::Release);
        }
    }
}

/// Waits until every read section another CPU was in at the time of the
/// call has ended. Called by a close after it has unpublished a handle,
/// with no lock held.
pub fn wait() {
    // The unpublishing store before the counters' loads.
    fence(Ordering::SeqCst);
    let me = percpu::current();
    for (cpu, counter) in SECTIONS.iter().enumerate() {
        if cpu == me {
            continue;
        }
        let seen = counter.0.load(Ordering::Acquire);
        if seen & 1 == 0 {
            continue;
        }
        while counter.0.load(Ordering::Acquire) == seen {
            core::hint::spin_loop();
        }
    }
}
