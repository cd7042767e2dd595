//! The register frame the EL2 vectors save on entry and restore on return
//! (layout shared with arch/vectors.S).

/// x0-x30, ELR_EL2 and SPSR_EL2 of the interrupted context.
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pad: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 272);
const _: () = assert!(core::mem::offset_of!(TrapFrame, elr) == 248);
const _: () = assert!(core::mem::offset_of!(TrapFrame, spsr) == 256);

/// SPSR for EL1h with D, A, I and F masked: how the host and guests start.
pub const SPSR_EL1H_MASKED: u64 = 0x3c5;

impl TrapFrame {
    /// A frame that enters EL1h at `entry` with all interrupts masked.
    pub fn el1_entry(entry: u64, x0: u64, x1: u64) -> Self {
        let mut frame = Self {
            elr: entry,
            spsr: SPSR_EL1H_MASKED,
            ..Self::default()
        };
        frame.x[0] = x0;
        frame.x[1] = x1;
        frame
    }

    /// Sets the status/results of a service call: x0 = status (sign-extended),
    /// x1 and x2 = outputs.
    pub fn set_result(&mut self, status: i32, out1: u64, out2: u64) {
        self.x[0] = status as i64 as u64;
        self.x[1] = out1;
        self.x[2] = out2;
    }
}
