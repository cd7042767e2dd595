//! ZXV_VCPU_WFI (docs/abi.md §6): the host's choice for a vCPU's WFI. By
//! default a WFI with nothing to wake it waits in the monitor; a host that
//! runs several vCPUs on one CPU can ask for it to return SHOULD_WAIT
//! instead, with the deadline of the guest's timers, and run another.

use syscalls::hypervisor::{VcpuWfi, VCPU_WFI_YIELD};
use syscalls::{Status, ZxResult};

/// ZXV_VCPU_WFI: whether a WFI that would wait returns SHOULD_WAIT to the
/// host instead (so that its CPU can run another vCPU), and the deadline
/// of the last that did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WfiChoice {
    pub yield_cpu: bool,
    /// The counter value the guest's timers would have ended that WFI at;
    /// u64::MAX for none.
    pub deadline: u64,
}

impl Default for WfiChoice {
    fn default() -> Self {
        WfiChoice {
            yield_cpu: false,
            deadline: u64::MAX,
        }
    }
}

impl WfiChoice {
    /// ZXV_VCPU_WFI read.
    pub fn record(&self) -> VcpuWfi {
        VcpuWfi {
            flags: if self.yield_cpu { VCPU_WFI_YIELD } else { 0 },
            reserved: 0,
            deadline: self.deadline,
        }
    }

    /// ZXV_VCPU_WFI write: `flags` 0 or VCPU_WFI_YIELD, every other field
    /// 0; else INVALID_ARGS, and nothing changes.
    pub fn set(&mut self, record: &VcpuWfi) -> ZxResult {
        if record.flags & !VCPU_WFI_YIELD != 0 || record.reserved != 0 || record.deadline != 0 {
            return Err(Status::INVALID_ARGS);
        }
        self.yield_cpu = record.flags == VCPU_WFI_YIELD;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_in_the_monitor_until_told_otherwise() {
        let w = WfiChoice::default();
        assert!(!w.yield_cpu);
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
        let mut w = WfiChoice::default();
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
            assert!(w.yield_cpu, "a refused write changes nothing");
        }
        assert_eq!(w.set(&VcpuWfi::default()), Ok(()));
        assert!(!w.yield_cpu);
    }
}
