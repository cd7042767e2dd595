//! ZXV_VCPU_WFI (docs/abi.md §6): the host's choice for a vCPU's WFI. By
//! default a WFI with nothing to wake it waits in the monitor; a host that
//! runs several vCPUs on one CPU can ask for it to return SHOULD_WAIT
//! instead, with the deadline of the guest's timers, and run another.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use syscalls::hypervisor::{VcpuWfi, VCPU_WFI_YIELD};
use syscalls::{Status, ZxResult};

/// ZXV_VCPU_WFI: whether a WFI that would wait returns SHOULD_WAIT to the
/// host instead (so that its CPU can run another vCPU), and the deadline
/// of the last that did. Only the vCPU's owner CPU reads or writes it (the
/// calls check); atomics let it sit beside the vCPU's other flags, where
/// the run loop already looks.
pub struct WfiChoice {
    yield_cpu: AtomicBool,
    /// The counter value the guest's timers would have ended that WFI at;
    /// u64::MAX for none.
    deadline: AtomicU64,
}

impl WfiChoice {
    /// A new vCPU's: its WFI waits in the monitor.
    pub const fn new() -> Self {
        WfiChoice {
            yield_cpu: AtomicBool::new(false),
            deadline: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether a WFI that would wait gives the CPU back.
    pub fn yields(&self) -> bool {
        self.yield_cpu.load(Ordering::Relaxed)
    }

    /// A WFI gave the CPU back; the guest's timers would have ended it at
    /// `deadline`.
    pub fn yielded(&self, deadline: Option<u64>) {
        self.deadline
            .store(deadline.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// ZXV_VCPU_WFI read.
    pub fn record(&self) -> VcpuWfi {
        VcpuWfi {
            flags: if self.yields() { VCPU_WFI_YIELD } else { 0 },
            reserved: 0,
            deadline: self.deadline.load(Ordering::Relaxed),
        }
    }

    /// ZXV_VCPU_WFI write: `flags` 0 or VCPU_WFI_YIELD, every other field
    /// 0; else INVALID_ARGS, and nothing changes.
    pub fn set(&self, record: &VcpuWfi) -> ZxResult {
        if record.flags & !VCPU_WFI_YIELD != 0 || record.reserved != 0 || record.deadline != 0 {
            return Err(Status::INVALID_ARGS);
        }
        self.yield_cpu
            .store(record.flags == VCPU_WFI_YIELD, Ordering::Relaxed);
        Ok(())
    }
}

impl Default for WfiChoice {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_in_the_monitor_until_told_otherwise() {
        let w = WfiChoice::default();
        assert!(!w.yields());
        assert_eq!(
            w.record(),
            VcpuWfi {
                flags: 0,
                reserved: 0,
                deadline: u64::MAX
            }
        );
    }

    #[test]
    fn takes_the_yield_flag_and_refuses_anything_else() {
        let w = WfiChoice::default();
        let yield_cpu = VcpuWfi {
            flags: VCPU_WFI_YIELD,
            ..VcpuWfi::default()
        };
        assert_eq!(w.set(&yield_cpu), Ok(()));
        assert_eq!(w.record().flags, VCPU_WFI_YIELD);
        for bad in [
            VcpuWfi {
                flags: 2,
                ..yield_cpu
            },
            VcpuWfi {
                reserved: 1,
                ..yield_cpu
            },
            VcpuWfi {
                deadline: 5,
                ..VcpuWfi::default()
            },
        ] {
            assert_eq!(w.set(&bad), Err(Status::INVALID_ARGS));
            assert!(w.yields(), "a refused write changes nothing");
        }
        w.yielded(Some(7));
        assert_eq!(w.record().deadline, 7);
        assert_eq!(w.set(&VcpuWfi::default()), Ok(()));
        assert!(!w.yields());
        assert_eq!(w.record().deadline, 7, "the last yield's deadline stays");
    }
}
