//! Exit accounting: what each vCPU's `zx_vcpu_enter` returned to the VMM
//! (MEM traps by device, PSCI CPU_ON and SGI packets, host interrupts),
//! counted without locks, and the closing summary, which adds the exits the
//! monitor handled itself (`ZXV_INFO_VCPU_EXITS`).

use crate::devmap::Device;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};
use syscalls::exit_counts::{ExitKind, VcpuExits};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmmExit {
    Mem(Device),
    CpuOn,
    Sgi,
    /// `ZX_ERR_INTERNAL_INTR_RETRY`: the host had an interrupt to take.
    HostInterrupt,
    /// `ZX_ERR_CANCELED` after the VMM's kick: the end of a time slice.
    Preempted,
    /// `ZX_ERR_SHOULD_WAIT`: a WFI gave the CPU back (ZXV_VCPU_WFI).
    Wait,
}

const KINDS: usize = Device::ALL.len() + 5;

impl VmmExit {
    fn index(self) -> usize {
        match self {
            VmmExit::Mem(d) => d as usize,
            VmmExit::CpuOn => Device::ALL.len(),
            VmmExit::Sgi => Device::ALL.len() + 1,
            VmmExit::HostInterrupt => Device::ALL.len() + 2,
            VmmExit::Preempted => Device::ALL.len() + 3,
            VmmExit::Wait => Device::ALL.len() + 4,
        }
    }

    fn name(index: usize) -> &'static str {
        match index.checked_sub(Device::ALL.len()) {
            None => Device::ALL[index].name(),
            Some(0) => "cpu_on",
            Some(1) => "sgi",
            Some(2) => "host_irq",
            Some(3) => "preempted",
            _ => "wfi_yield",
        }
    }
}

/// One vCPU's counts; its own CPU adds, any CPU may read.
pub struct ExitCounts {
    counts: [AtomicU64; KINDS],
}

impl ExitCounts {
    pub const fn new() -> Self {
        ExitCounts {
            counts: [const { AtomicU64::new(0) }; KINDS],
        }
    }

    pub fn count(&self, exit: VmmExit) {
        self.counts[exit.index()].fetch_add(1, Ordering::Relaxed);
    }
}

impl Default for ExitCounts {
    fn default() -> Self {
        Self::new()
    }
}

/// Every vCPU's exits added up.
#[derive(Default)]
pub struct Summary {
    vmm: [u64; KINDS],
    monitor: VcpuExits,
}

impl Summary {
    pub fn add_vmm(&mut self, counts: &ExitCounts) {
        for (sum, c) in self.vmm.iter_mut().zip(&counts.counts) {
            *sum += c.load(Ordering::Relaxed);
        }
    }

    pub fn add_monitor(&mut self, exits: &VcpuExits) {
        for (sum, c) in self.monitor.counts.iter_mut().zip(exits.counts) {
            *sum += c;
        }
    }

    /// Two lines: the exits the VMM handled, and all exits as the monitor
    /// counted them (kinds with none left out).
    pub fn write(&self, name: &str, out: &mut dyn Write) -> fmt::Result {
        write!(out, "vmm: guest {name}: exits to the VMM:")?;
        for (i, n) in self.vmm.iter().enumerate() {
            write!(out, " {} {n},", VmmExit::name(i))?;
        }
        writeln!(out, " total {}", self.vmm.iter().sum::<u64>())?;
        write!(out, "vmm: guest {name}: exits counted by the monitor:")?;
        for kind in ExitKind::ALL.iter().filter(|&&k| self.monitor.get(k) > 0) {
            write!(out, " {} {},", kind.name(), self.monitor.get(*kind))?;
        }
        writeln!(out, " total {}", self.monitor.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_reports() {
        let (a, b) = (ExitCounts::new(), ExitCounts::new());
        a.count(VmmExit::Mem(Device::Uart));
        a.count(VmmExit::Mem(Device::Uart));
        b.count(VmmExit::Mem(Device::Distributor));
        b.count(VmmExit::CpuOn);
        b.count(VmmExit::HostInterrupt);
        b.count(VmmExit::Preempted);
        let mut monitor = VcpuExits::default();
        monitor.counts[ExitKind::MemTrap as usize] = 4;
        monitor.counts[ExitKind::Wfi as usize] = 7;
        let mut s = Summary::default();
        s.add_vmm(&a);
        s.add_vmm(&b);
        s.add_monitor(&monitor);
        s.add_monitor(&monitor);
        let mut out = String::new();
        s.write("linux", &mut out).unwrap();
        assert_eq!(
            out,
            "vmm: guest linux: exits to the VMM: gicd 1, gicr 0, pl011 2, pl031 0, virtio-console 0, \
             virtio-rng 0, virtio-blk 0, virtio-net 0, unclaimed 0, \
             cpu_on 1, sgi 0, host_irq 1, preempted 1, wfi_yield 0, total 6\n\
             vmm: guest linux: exits counted by the monitor: mem-trap 8, wfi 14, total 22\n"
        );
    }

    #[test]
    fn every_kind_has_its_own_name() {
        let names: Vec<_> = (0..KINDS).map(VmmExit::name).collect();
        for (i, a) in names.iter().enumerate() {
            assert_eq!(names.iter().filter(|b| *b == a).count(), 1, "{a} at {i}");
        }
        assert_eq!(VmmExit::Sgi.index(), Device::ALL.len() + 1);
    }
}
