//! The GIC virtual CPU interface of this CPU, as [`gic::VirtualInterface`]:
//! GICv3 through the ICH_* system registers, GICv2 through the GICH frame.
//! Each vCPU's list registers, VMCR and active priorities are loaded before
//! it enters and saved after it exits (virtual_cpu.rs).

use crate::arch::mmio::Frame;
use aarch64_cpu::registers::*;
use gic::{InterfaceState, ListRegister, VirtualInterface};

/// GICv3: the ICH_*_EL2 system registers.
pub struct V3 {
    pub num_lrs: usize,
}

/// The list registers' accessors, one straight run of `mrs`/`msr` over the
/// first ones (no jump table or loop per register).
macro_rules! ich_lr {
    ($($n:literal => $reg:ident),* $(,)?) => {
        /// Reads ICH_LR0_EL2.. into `out`, decoded, as many as it holds.
        fn read_lrs_into(out: &mut [ListRegister]) {
            $(
                let Some(lr) = out.get_mut($n) else { return };
                *lr = ListRegister::decode_v3($reg.get());
            )*
        }
        /// Writes `lrs` to ICH_LR0_EL2.., as many as it holds.
        fn write_lrs_from(lrs: &[ListRegister]) {
            $(
                let Some(lr) = lrs.get($n) else { return };
                $reg.set(lr.encode_v3());
            )*
        }
        /// Empties the first `count` of ICH_LR0_EL2...
        fn clear_first(count: usize) {
            $(
                if $n >= count {
                    return;
                }
                $reg.set(0);
            )*
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
        let count = out.len().min(self.num_lrs);
        read_lrs_into(&mut out[..count]);
    }

    fn write_lrs(&self, lrs: &[ListRegister]) {
        write_lrs_from(&lrs[..lrs.len().min(self.num_lrs)]);
    }

    fn clear_lrs(&self, count: usize) {
        clear_first(count.min(self.num_lrs));
    }

    fn set_underflow_irq(&self, on: bool) {
        let hcr = ICH_HCR_EL2.get();
        ICH_HCR_EL2.set(if on {
            hcr | ICH_HCR_UIE
        } else {
            hcr & !ICH_HCR_UIE
        });
    }

    fn open(&self, state: InterfaceState) {
        ICH_VMCR_EL2.set(state.vmcr.into());
        ICH_AP1R0_EL2.set(state.apr.into());
        ICH_HCR_EL2.set(ICH_HCR_EN);
    }

    fn close(&self) -> InterfaceState {
        let state = InterfaceState {
            vmcr: ICH_VMCR_EL2.get() as u32,
            apr: ICH_AP1R0_EL2.get() as u32,
        };
        ICH_HCR_EL2.set(0);
        state
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

    fn open(&self, state: InterfaceState) {
        self.write(GICH_VMCR, state.vmcr);
        self.write(GICH_APR, state.apr);
        self.write(GICH_HCR, ICH_HCR_EN as u32);
    }

    fn close(&self) -> InterfaceState {
        let state = InterfaceState {
            vmcr: self.read(GICH_VMCR),
            apr: self.read(GICH_APR),
        };
        self.write(GICH_HCR, 0);
        state
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
