//! The GIC virtual CPU interface of this CPU, as [`gic::VirtualInterface`]:
//! GICv3 through the ICH_* system registers, GICv2 through the GICH frame.
//! Each vCPU's list registers, VMCR and active priorities are loaded before
//! it enters and saved after it exits (virtual_cpu.rs).

use crate::arch::mmio::Frame;
use aarch64_cpu::registers::*;
use gic::{ListRegister, VirtualInterface};

/// GICv3: the ICH_*_EL2 system registers.
pub struct V3 {
    pub num_lrs: usize,
}

macro_rules! ich_lr {
    ($($n:literal => $reg:ident),* $(,)?) => {
        fn read_lr(n: usize) -> u64 {
            match n { $($n => $reg.get(),)* _ => 0 }
        }
        fn write_lr(n: usize, value: u64) {
            match n { $($n => $reg.set(value),)* _ => {} }
        }
    };
}

ich_lr!(
    0 => ICH_LR0_EL2, 1 => ICH_LR1_EL2, 2 => ICH_LR2_EL2, 3 => ICH_LR3_EL2,
    4 => ICH_LR4_EL2, 5 => ICH_LR5_EL2, 6 => ICH_LR6_EL2, 7 => ICH_LR7_EL2,
    8 => ICH_LR8_EL2, 9 => ICH_LR9_EL2, 10 => ICH_LR10_EL2, 11 => ICH_LR11_EL2,
    12 => ICH_LR12_EL2, 13 => ICH_LR13_EL2, 14 => ICH_LR14_EL2, 15 => ICH_LR15_EL2,
);

/// ICH_HCR_EL2 (and GICH_HCR, which has the same layout) En: the virtual
/// CPU interface works.
const ICH_HCR_EN: u64 = ICH_HCR_EL2::En::SET.value;
/// ICH_HCR_EL2 / GICH_HCR UIE: the underflow maintenance interrupt.
const ICH_HCR_UIE: u64 = ICH_HCR_EL2::UIE::SET.value;

impl VirtualInterface for V3 {
    fn num_lrs(&self) -> usize {
        self.num_lrs
    }

    fn read_lrs(&self, out: &mut [ListRegister]) {
        for (n, lr) in out.iter_mut().enumerate().take(self.num_lrs) {
            *lr = ListRegister::decode_v3(read_lr(n));
        }
    }

    fn write_lrs(&self, lrs: &[ListRegister]) {
        for (n, lr) in lrs.iter().enumerate().take(self.num_lrs) {
            write_lr(n, lr.encode_v3());
        }
    }

    fn clear_lrs(&self, count: usize) {
        for n in 0..count.min(self.num_lrs) {
            write_lr(n, 0);
        }
    }

    fn set_underflow_irq(&self, on: bool) {
        let hcr = ICH_HCR_EL2.get();
        ICH_HCR_EL2.set(if on {
            hcr | ICH_HCR_UIE
        } else {
            hcr & !ICH_HCR_UIE
        });
    }

    fn enable(&self, on: bool) {
        ICH_HCR_EL2.set(if on { ICH_HCR_EN } else { 0 });
    }

    fn vmcr(&self) -> u32 {
        ICH_VMCR_EL2.get() as u32
    }

    fn set_vmcr(&self, v: u32) {
        ICH_VMCR_EL2.set(v as u64);
    }

    fn apr(&self) -> u32 {
        ICH_AP1R0_EL2.get() as u32
    }

    fn set_apr(&self, v: u32) {
        ICH_AP1R0_EL2.set(v as u64);
    }
}

/// GICv2: the GICH frame.
pub struct V2 {
    pub gich: Frame,
    pub num_lrs: usize,
}

const GICH_HCR: u64 = 0x00;
const GICH_VMCR: u64 = 0x08;
const GICH_APR: u64 = 0xf0;
const GICH_LR0: u64 = 0x100;

impl V2 {
    fn read(&self, offset: u64) -> u32 {
        self.gich.read(offset)
    }

    fn write(&self, offset: u64, value: u32) {
        self.gich.write(offset, value)
    }
}

impl VirtualInterface for V2 {
    fn num_lrs(&self) -> usize {
        self.num_lrs
    }

    fn read_lrs(&self, out: &mut [ListRegister]) {
        let count = out.len().min(self.num_lrs);
        for (lr, raw) in out.iter_mut().zip(self.gich.read_run(GICH_LR0, count)) {
            *lr = ListRegister::decode_v2(raw);
        }
    }

    fn write_lrs(&self, lrs: &[ListRegister]) {
        let count = lrs.len().min(self.num_lrs);
        self.gich
            .write_run(GICH_LR0, lrs[..count].iter().map(|lr| lr.encode_v2()));
    }

    fn clear_lrs(&self, count: usize) {
        let count = count.min(self.num_lrs);
        self.gich
            .write_run(GICH_LR0, core::iter::repeat_n(0, count));
    }

    fn set_underflow_irq(&self, on: bool) {
        let hcr = self.read(GICH_HCR);
        self.write(
            GICH_HCR,
            if on {
                hcr | ICH_HCR_UIE as u32
            } else {
                hcr & !(ICH_HCR_UIE as u32)
            },
        );
    }

    fn enable(&self, on: bool) {
        self.write(GICH_HCR, if on { ICH_HCR_EN as u32 } else { 0 });
    }

    fn vmcr(&self) -> u32 {
        self.read(GICH_VMCR)
    }

    fn set_vmcr(&self, v: u32) {
        self.write(GICH_VMCR, v);
    }

    fn apr(&self) -> u32 {
        self.read(GICH_APR)
    }

    fn set_apr(&self, v: u32) {
        self.write(GICH_APR, v);
    }
}

/// This machine's virtual interface, if it has one.
pub enum Vgic {
    V3(V3),
    V2(V2),
}

impl Vgic {
    pub fn interface(&self) -> &dyn VirtualInterface {
        match self {
            Vgic::V3(v) => v,
            Vgic::V2(v) => v,
        }
    }

    /// The VMCR a new vCPU starts with, and whether its interrupts are Group 1.
    pub fn reset_state(&self) -> (u32, bool) {
        match self {
            Vgic::V3(_) => (gic::VMCR_V3_DEFAULT, true),
            Vgic::V2(_) => (gic::VMCR_V2_DEFAULT, false),
        }
    }
}
