//! Each physical CPU's run queue (`sched::RunQueue`) and loop: the CPU
//! takes the next turn from its queue, runs it (`vcpus::turn`) and files
//! how it ended. The queues hold the vCPUs of every guest, by their number
//! in one row (vm.rs). The boot CPU's host tick (ticks.rs) looks at every queue:
//! it wakes the vCPUs whose timer is due, and kicks a vCPU whose slice is
//! over while another is ready. A secondary CPU's loop runs as an el1rt
//! job, launched when the first of its vCPUs turns on and over when its
//! last is off; the boot CPU's runs between its waits for the tick.
//!
//! The locks are held only to look at or change a queue, never across
//! `zx_vcpu_enter` or a kick.

use crate::sched::{self, RunQueue};
use crate::stop;
use crate::vcpus::{self, Ended};
use crate::{ticks, vm};
use core::sync::atomic::{AtomicBool, Ordering};
use el1rt::cpus;
use el1rt::platform::MAX_CPUS;

struct Cpu {
    queue: spin::Mutex<RunQueue>,
    /// A secondary CPU's loop has been launched and has not ended.
    looping: AtomicBool,
}

static CPUS: [Cpu; MAX_CPUS] = [const {
    Cpu {
        queue: spin::Mutex::new(RunQueue::new()),
        looping: AtomicBool::new(false),
    }
}; MAX_CPUS];

/// The CPU that creates and runs vCPU `vcpu`.
fn cpu_of(vcpu: usize) -> usize {
    sched::cpu_of(vcpu, vm::get().board.cpus.len())
}

/// Sets every queue's slice ([`sched::SLICE_MS`]) and tick period, from
/// the counter's frequency `freq`.
pub fn set_clock(freq: u64, tick: u64) {
    for cpu in &CPUS {
        cpu.queue
            .lock()
            .set_clock(freq * sched::SLICE_MS / 1000, tick);
    }
}

/// vCPU `vcpu` turned on (its slot is starting): into its CPU's queue, and
/// that CPU's loop launched if it is not running.
pub fn add(vcpu: usize) {
    let cpu = cpu_of(vcpu);
    let (kick, launch) = {
        let mut queue = CPUS[cpu].queue.lock();
        let kick = queue.add(vcpu);
        (
            kick,
            cpu != 0 && !CPUS[cpu].looping.swap(true, Ordering::SeqCst),
        )
    };
    if let Some(current) = kick {
        preempt(current);
    }
    if launch {
        if let Err(why) = cpus::launch(&vm::get().board, cpu, job, cpu) {
            stop::fail(err!("starting CPU {cpu} for vCPU {vcpu}: {why}"));
        }
    }
}

/// An interrupt for the waiting vCPU `vcpu`: to the head of its queue.
pub fn wake(vcpu: usize) {
    let kick = {
        let mut queue = CPUS[cpu_of(vcpu)].queue.lock();
        let (g, index) = vm::get().vcpu(vcpu);
        if vcpus::end_waiting(g, index) {
            queue.wake(vcpu)
        } else {
            None
        }
    };
    if let Some(current) = kick {
        preempt(current);
    }
}

/// Kicks vCPU `vcpu` out of its turn.
fn preempt(vcpu: usize) {
    let (g, index) = vm::get().vcpu(vcpu);
    vcpus::preempt(g, index);
}

/// The host tick, on the boot CPU: every CPU's queue at this time.
pub fn tick() {
    let now = ticks::now();
    for cpu in &CPUS[..vm::get().board.cpus.len()] {
        let kick = cpu.queue.lock().tick(now);
        if let Some(current) = kick {
            preempt(current);
        }
    }
}

/// el1rt job for a secondary CPU.
fn job(cpu: usize) -> i32 {
    run(cpu);
    0
}

/// Runs the turns of CPU `cpu`'s vCPUs until none is on.
pub fn run(cpu: usize) {
    let this = &CPUS[cpu];
    loop {
        let turn = {
            let mut queue = this.queue.lock();
            match queue.next(ticks::now()) {
                Some(turn) => turn,
                None => {
                    this.looping.store(false, Ordering::SeqCst);
                    return;
                }
            }
        };
        let (g, index) = vm::get().vcpu(turn.vcpu);
        match vcpus::turn(g, index, turn.yield_wfi) {
            Ended::Preempted => {}
            Ended::Waiting { deadline, injected } => {
                let mut queue = this.queue.lock();
                if vcpus::begin_waiting(g, index, injected) {
                    queue.wait(deadline);
                }
            }
            Ended::Off => {
                this.queue.lock().remove(turn.vcpu);
                vcpus::turn_off(g, index);
            }
        }
    }
}
