//! Time slicing of vCPUs on one physical CPU: where a vCPU runs, and each
//! CPU's run queue. Pure logic, used under the CPU's lock by the target's
//! run loop (`cpu_loop.rs`) and host-tested here.
//!
//! A vCPU belongs to the CPU that creates it (docs/abi.md §4), so vCPU i
//! is placed on CPU i mod N for good ([`cpu_of`]). Each CPU runs its
//! vCPUs round-robin: the one running (`current`) keeps its CPU until a
//! host tick finds that it has had its slice (10 ms, see [`RunQueue::tick`])
//! while another is ready, until it waits in WFI, or until it turns off.
//! A waiting vCPU is in no queue and costs nothing; a wake-up (an
//! interrupt, its timer's deadline) puts it at the head of the queue, since
//! it has used less than its share. With nothing ready, the CPU runs the
//! waiting vCPU whose timer is due first, and lets the monitor wait in WFI
//! for it.

use arrayvec::ArrayVec;

/// The most vCPUs of all guests together, and so on one CPU (the command
/// line may not ask for more).
pub const MAX_VCPUS: usize = crate::config::MAX_MACHINE_CPUS;

/// The time slice, in ms.
pub const SLICE_MS: u64 = 10;

/// The physical CPU, of `cpus`, that creates and runs vCPU `vcpu`.
pub fn cpu_of(vcpu: usize, cpus: usize) -> usize {
    vcpu % cpus.max(1)
}

/// The vCPU holding the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Current {
    vcpu: usize,
    /// The counter when its turn began.
    since: u64,
    /// Whether it was given the CPU with no other vCPU ready: then its WFI
    /// waits in the monitor, and it must be kicked when another is ready.
    alone: bool,
}

/// What a CPU's run loop is told to run next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    pub vcpu: usize,
    /// Another vCPU is ready: a WFI should give the CPU back rather than
    /// wait in the monitor.
    pub yield_wfi: bool,
}

/// One CPU's vCPUs: the one running, those ready in round-robin order, and
/// those waiting in WFI with the counter value their timers fire at.
pub struct RunQueue {
    current: Option<Current>,
    ready: ArrayVec<usize, MAX_VCPUS>,
    waiting: ArrayVec<(usize, u64), MAX_VCPUS>,
    /// The slice in counter ticks, and the host tick's period.
    slice: u64,
    tick: u64,
}

/// No deadline: a waiting vCPU whose timers are off.
pub const NEVER: u64 = u64::MAX;

impl RunQueue {
    pub const fn new() -> Self {
        RunQueue {
            current: None,
            ready: ArrayVec::new_const(),
            waiting: ArrayVec::new_const(),
            slice: 0,
            tick: 0,
        }
    }

    /// Sets the slice and the host tick's period, in counter ticks.
    pub fn set_clock(&mut self, slice: u64, tick: u64) {
        self.slice = slice;
        self.tick = tick;
    }

    /// Whether no vCPU of this CPU is on.
    pub fn is_empty(&self) -> bool {
        self.current.is_none() && self.ready.is_empty() && self.waiting.is_empty()
    }

    /// The vCPU holding the CPU.
    pub fn current(&self) -> Option<usize> {
        self.current.map(|c| c.vcpu)
    }

    fn holds(&self, vcpu: usize) -> bool {
        self.current() == Some(vcpu)
            || self.ready.contains(&vcpu)
            || self.waiting.iter().any(|&(v, _)| v == vcpu)
    }

    /// The current vCPU, if it must be kicked because another became ready
    /// while it ran alone.
    fn kick_if_alone(&mut self) -> Option<usize> {
        let c = self.current.as_mut().filter(|c| c.alone)?;
        c.alone = false;
        Some(c.vcpu)
    }

    /// vCPU `vcpu` turned on: ready, at the tail. Returns the vCPU to kick
    /// so that it runs soon.
    pub fn add(&mut self, vcpu: usize) -> Option<usize> {
        if self.holds(vcpu) || self.ready.is_full() {
            return None;
        }
        self.ready.push(vcpu);
        self.kick_if_alone()
    }

    /// vCPU `vcpu` turned off.
    pub fn remove(&mut self, vcpu: usize) {
        if self.current() == Some(vcpu) {
            self.current = None;
        }
        self.ready.retain(|v| *v != vcpu);
        self.waiting.retain(|(v, _)| *v != vcpu);
    }

    /// The current vCPU waits in WFI until `deadline` (or [`NEVER`]).
    pub fn wait(&mut self, deadline: u64) {
        if let Some(c) = self.current.take() {
            self.waiting.push((c.vcpu, deadline));
        }
    }

    /// vCPU `vcpu` has something to do: a waiting one goes to the head of
    /// the queue. Returns the vCPU to kick so that it runs soon.
    pub fn wake(&mut self, vcpu: usize) -> Option<usize> {
        let i = self.waiting.iter().position(|&(v, _)| v == vcpu)?;
        self.waiting.remove(i);
        self.ready.insert(0, vcpu);
        self.kick_if_alone()
    }

    /// Wakes the waiting vCPUs whose deadline has come; whether any did.
    fn wake_due(&mut self, now: u64) -> bool {
        let mut woke = false;
        while let Some(i) = self.waiting.iter().position(|&(_, d)| d <= now) {
            let (vcpu, _) = self.waiting.remove(i);
            self.ready.insert(0, vcpu);
            woke = true;
        }
        woke
    }

    /// The host tick at `now`: wakes vCPUs whose timer is due, and returns
    /// the current vCPU if it must give the CPU up: it ran alone and
    /// another is ready now, or it has had its slice and another is ready.
    /// Ticks come every `tick`, so a turn is over at the first tick at
    /// least `slice - tick / 2` after it began: turns are `slice` long on
    /// average, whatever the phase of the tick.
    pub fn tick(&mut self, now: u64) -> Option<usize> {
        let woke = self.wake_due(now);
        let c = self.current?;
        if self.ready.is_empty() {
            return None;
        }
        if woke && c.alone {
            return self.kick_if_alone();
        }
        let used = now.saturating_sub(c.since);
        (used >= self.slice.saturating_sub(self.tick / 2)).then_some(c.vcpu)
    }

    /// Ends the current vCPU's turn (if it still has the CPU, it goes to
    /// the tail of the queue) and gives the CPU to the next: the head of
    /// the queue, or with none ready the waiting vCPU due first. None when
    /// this CPU has no vCPU on.
    pub fn next(&mut self, now: u64) -> Option<Turn> {
        if let Some(c) = self.current.take() {
            self.ready.push(c.vcpu);
        }
        self.wake_due(now);
        let vcpu = if self.ready.is_empty() {
            let (i, _) = self
                .waiting
                .iter()
                .enumerate()
                .min_by_key(|(_, &(_, deadline))| deadline)?;
            self.waiting.remove(i).0
        } else {
            self.ready.remove(0)
        };
        let alone = self.ready.is_empty();
        self.current = Some(Current {
            vcpu,
            since: now,
            alone,
        });
        Some(Turn {
            vcpu,
            yield_wfi: !alone,
        })
    }
}

impl Default for RunQueue {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    fn queue() -> RunQueue {
        let mut q = RunQueue::new();
        q.set_clock(SLICE_MS * MS, 10 * MS);
        q
    }

    /// vCPUs 0 and 1 on; 0 waits with no deadline, 1 runs alone.
    fn zero_waits_one_runs() -> RunQueue {
        let mut q = queue();
        q.add(0);
        q.add(1);
        q.next(0);
        q.wait(NEVER);
        assert_eq!(
            q.next(0),
            Some(Turn {
                vcpu: 1,
                yield_wfi: false
            })
        );
        q
    }

    #[test]
    fn places_vcpu_i_on_cpu_i_mod_n() {
        assert_eq!(
            (0..5).map(|v| cpu_of(v, 2)).collect::<Vec<_>>(),
            [0, 1, 0, 1, 0]
        );
        assert_eq!(
            (0..4).map(|v| cpu_of(v, 4)).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(cpu_of(3, 0), 0);
    }

    #[test]
    fn one_vcpu_is_never_preempted_nor_kicked() {
        let mut q = queue();
        assert_eq!(q.add(0), None);
        assert_eq!(
            q.next(0),
            Some(Turn {
                vcpu: 0,
                yield_wfi: false
            })
        );
        for t in 1..100 {
            assert_eq!(q.tick(t * 10 * MS), None);
        }
        q.remove(0);
        assert!(q.is_empty());
        assert_eq!(q.next(0), None);
    }

    #[test]
    fn round_robin_in_order() {
        let mut q = queue();
        for v in [0, 2, 4] {
            q.add(v);
        }
        let order: Vec<_> = (0..6).map(|t| q.next(t).unwrap().vcpu).collect();
        assert_eq!(order, [0, 2, 4, 0, 2, 4]);
        assert!(q.next(7).unwrap().yield_wfi);
    }

    #[test]
    fn a_second_vcpu_kicks_one_running_alone_once() {
        let mut q = queue();
        q.add(0);
        q.next(0);
        assert_eq!(q.add(2), Some(0));
        assert_eq!(q.add(4), None, "already kicked");
        assert_eq!(q.add(4), None, "already on");
    }

    /// Busy vCPUs with ticks at an odd phase: each gets a third of the CPU,
    /// in turns that average the slice.
    #[test]
    fn busy_vcpus_share_fairly() {
        let mut q = queue();
        for v in [1, 3, 5] {
            q.add(v);
        }
        let mut ran = [0u64; 8];
        let mut turns = 0;
        let mut now = 0;
        let mut turn = q.next(now).unwrap();
        let mut since = now;
        let end = 3000 * MS;
        let mut tick = 3 * MS;
        while tick < end {
            now = tick;
            if q.tick(now) == Some(turn.vcpu) {
                ran[turn.vcpu] += now - since;
                turns += 1;
                turn = q.next(now).unwrap();
                since = now;
            }
            tick += 10 * MS;
        }
        for v in [1, 3, 5] {
            assert!(
                ran[v].abs_diff(1000 * MS) <= 20 * MS,
                "vCPU {v} ran {} ms",
                ran[v] / MS
            );
        }
        assert!((290..=300).contains(&turns), "{turns} turns");
    }

    /// A turn that starts between ticks is over at the first tick at least
    /// half a tick before the slice's end.
    #[test]
    fn turns_are_a_slice_on_average() {
        let mut q = queue();
        q.add(0);
        q.add(1);
        q.next(3 * MS);
        assert_eq!(
            q.tick(10 * MS),
            Some(0),
            "7 ms: the next tick would make it 17"
        );
        q.next(10 * MS);
        assert_eq!(q.next(16 * MS).unwrap().vcpu, 0);
        assert_eq!(q.tick(20 * MS), None, "4 ms: the next tick makes it 14");
        assert_eq!(q.tick(30 * MS), Some(0));
        q.next(30 * MS);
        assert_eq!(q.tick(40 * MS), Some(1), "a turn from a tick is one tick");
    }

    /// A vCPU waiting in WFI is in no queue: the busy one keeps the CPU,
    /// tick after tick, until the waiting one's deadline; then it is at
    /// the head and the busy one, which ran alone, is kicked at once.
    #[test]
    fn a_waiting_vcpu_costs_nothing_until_its_deadline() {
        let mut q = queue();
        q.add(0);
        q.add(2);
        assert_eq!(q.next(0).unwrap().vcpu, 0);
        q.wait(95 * MS);
        assert_eq!(
            q.next(MS),
            Some(Turn {
                vcpu: 2,
                yield_wfi: false
            })
        );
        for t in 1..10 {
            assert_eq!(q.tick(t * 10 * MS), None);
        }
        assert_eq!(q.tick(100 * MS), Some(2));
        assert_eq!(q.next(100 * MS).unwrap().vcpu, 0);
    }

    #[test]
    fn a_wake_up_puts_the_vcpu_at_the_head() {
        let mut q = queue();
        for v in [0, 1, 2] {
            q.add(v);
        }
        q.next(0);
        q.wait(NEVER);
        assert_eq!(q.next(0).unwrap().vcpu, 1);
        assert_eq!(q.wake(0), None, "1 is not alone (2 is ready)");
        assert_eq!(q.wake(0), None, "already awake");
        assert_eq!(q.next(MS).unwrap().vcpu, 0);
        assert_eq!(q.next(2 * MS).unwrap().vcpu, 2);
        assert_eq!(q.next(3 * MS).unwrap().vcpu, 1);
    }

    #[test]
    fn a_wake_up_kicks_a_vcpu_running_alone() {
        let mut q = zero_waits_one_runs();
        assert_eq!(q.wake(0), Some(1));
        assert_eq!(
            q.next(MS),
            Some(Turn {
                vcpu: 0,
                yield_wfi: true
            })
        );
    }

    /// With every vCPU waiting the CPU runs the one due first (the monitor
    /// then waits in its WFI); the other's deadline comes with a tick.
    #[test]
    fn with_all_waiting_the_one_due_first_runs() {
        let mut q = zero_waits_one_runs();
        q.wait(50 * MS);
        assert_eq!(
            q.next(MS),
            Some(Turn {
                vcpu: 1,
                yield_wfi: false
            })
        );
        q.wait(80 * MS);
        assert_eq!(q.next(MS).unwrap().vcpu, 1);
        assert_eq!(q.tick(60 * MS), None);
        assert_eq!(q.wake(0), Some(1));
    }

    #[test]
    fn removing_the_current_or_a_waiting_vcpu() {
        let mut q = zero_waits_one_runs();
        q.remove(0);
        q.remove(1);
        assert!(q.is_empty());
        assert_eq!(q.current(), None);
    }
}
