//! The guest register file that the monitor's world switch saves and loads, and the rules by
//! which the host reads and writes it: `ZX_VCPU_STATE` and the `ZX_VCPU_IO` completion of a
//! trapped MMIO read (docs/abi.md §4).

use core::mem::{offset_of, size_of};

use syscalls::hypervisor::{VcpuIo, VcpuState, CPSR_NZCV_MASK};
use syscalls::Status;

/// The general-purpose state of a CPU at EL1 or EL0 as EL2 sees it: a guest vCPU's, which the
/// monitor's world switch saves and loads, and the frame the monitor's exception vectors save
/// for the host (which leave `sp_el1` alone).
#[repr(C)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterFile {
    /// X0..X30, at offset 0.
    pub x: [u64; 31],
    /// The guest PC (ELR_EL2), at offset 248.
    pub pc: u64,
    /// The guest PSTATE (SPSR_EL2), at offset 256.
    pub pstate: u64,
    /// The guest's SP_EL1, at offset 264.
    pub sp_el1: u64,
}

const _: () = {
    assert!(offset_of!(RegisterFile, x) == 0);
    assert!(offset_of!(RegisterFile, pc) == 248);
    assert!(offset_of!(RegisterFile, pstate) == 256);
    assert!(offset_of!(RegisterFile, sp_el1) == 264);
    assert!(size_of::<RegisterFile>() == 272);
};

/// PSTATE a vCPU, and the host, starts with: EL1h (M = 0b0101) with D, A, I and F masked.
pub const INITIAL_PSTATE: u64 = 0x3C5;

impl RegisterFile {
    /// Registers that enter EL1h at `entry` with D, A, I and F masked, with `x0` and `x1` as
    /// given and everything else 0.
    pub fn el1_entry(entry: u64, x0: u64, x1: u64) -> Self {
        let mut file = Self {
            pc: entry,
            pstate: INITIAL_PSTATE,
            ..Self::default()
        };
        file.x[0] = x0;
        file.x[1] = x1;
        file
    }
}

/// The MMIO read a vCPU is waiting for: what its last exit (a `ZX_PKT_TYPE_GUEST_MEM` packet
/// with `read = true`) asked the host to complete with `ZX_VCPU_IO`. Decoded from the
/// data-abort syndrome (ISS.SAS, SSE, SRT and SF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingRead {
    /// The target register (0..30; 31 means XZR/WZR, which discards the value).
    pub xt: u8,
    /// Bytes read: 1, 2, 4 or 8.
    pub access_size: u8,
    /// The loaded value is sign-extended.
    pub sign_extend: bool,
    /// The target is an X register (ISS.SF = 1), not a W register.
    pub sixty_four: bool,
}

/// A vCPU's register file together with its pending MMIO read, if any.
#[derive(Clone, Debug)]
pub struct GuestRegs {
    /// The registers the world switch loads and saves.
    pub file: RegisterFile,
    pending: Option<PendingRead>,
}

impl GuestRegs {
    /// The state of a new vCPU: PC = `entry`, PSTATE = [`INITIAL_PSTATE`], everything else 0.
    pub fn new(entry: u64) -> Self {
        GuestRegs {
            file: RegisterFile::el1_entry(entry, 0, 0),
            pending: None,
        }
    }

    /// `zx_vcpu_read_state(ZX_VCPU_STATE)`: X0-X30, SP_EL1 and NZCV (every other `cpsr` bit 0).
    pub fn read_state(&self) -> VcpuState {
        let [sp, cpsr] = self.state_tail();
        VcpuState {
            x: self.file.x,
            sp,
            cpsr: cpsr as u32,
            padding1: [0; 4],
        }
    }

    /// The last two words of [`read_state`](Self::read_state)'s memory image, after X0-X30
    /// (which are `self.file.x` as they are): `sp`, then `cpsr` with its padding. The monitor
    /// copies the registers straight to the host's buffer.
    #[inline]
    pub fn state_tail(&self) -> [u64; 2] {
        [
            self.file.sp_el1,
            u64::from(self.file.pstate as u32 & CPSR_NZCV_MASK),
        ]
    }

    /// `zx_vcpu_write_state(ZX_VCPU_STATE)`: replaces X0-X30, SP_EL1 and the NZCV bits of
    /// PSTATE (unlike Zircon, which ORs them in), leaving the other PSTATE bits alone, and
    /// drops any pending MMIO read.
    ///
    /// A `cpsr` with any bit outside NZCV set is `INVALID_ARGS`, and then nothing changes.
    pub fn write_state(&mut self, state: &VcpuState) -> Result<(), Status> {
        let tail = [state.sp, u64::from(state.cpsr)];
        self.write_state_with(tail, |x| x.copy_from_slice(&state.x))
    }

    /// [`write_state`](Self::write_state) from the memory image's last two words `tail`
    /// (`sp`, then `cpsr` with its padding), checked first; only then does `load_x` fill
    /// X0-X30 in place (the monitor copies them straight from the host's buffer).
    #[inline]
    pub fn write_state_with(
        &mut self,
        tail: [u64; 2],
        load_x: impl FnOnce(&mut [u64; 31]),
    ) -> Result<(), Status> {
        let cpsr = tail[1] as u32;
        if cpsr & !CPSR_NZCV_MASK != 0 {
            return Err(Status::INVALID_ARGS);
        }
        load_x(&mut self.file.x);
        self.file.sp_el1 = tail[0];
        self.file.pstate = (self.file.pstate & !u64::from(CPSR_NZCV_MASK)) | u64::from(cpsr);
        self.pending = None;
        Ok(())
    }

    /// Records the MMIO read that the exit being reported leaves for the host to complete.
    #[inline]
    pub fn set_pending_read(&mut self, read: PendingRead) {
        self.pending = Some(read);
    }

    /// Forgets any pending MMIO read: each `zx_vcpu_enter` does before it
    /// runs the vCPU, so only the read its own last exit left is pending.
    #[inline]
    pub fn clear_pending(&mut self) {
        self.pending = None;
    }

    /// The MMIO read waiting for its `ZX_VCPU_IO` completion, if any.
    pub fn pending_read(&self) -> Option<PendingRead> {
        self.pending
    }

    /// `zx_vcpu_write_state(ZX_VCPU_IO)`: completes the pending MMIO read with `io.data`.
    ///
    /// The data is truncated to the access size, sign-extended if the load was a signed one
    /// (to 32 bits for a W register, whose write clears bits 63:32, or to 64 bits for an X
    /// register), and written to the target register (nothing for XZR). Errors, in this order:
    /// an `access_size` other than 1, 2, 4 or 8 is `INVALID_ARGS`; no pending read is
    /// `BAD_STATE`; a size different from the pending read's is `INVALID_ARGS`. On error
    /// nothing changes.
    pub fn complete_io(&mut self, io: &VcpuIo) -> Result<(), Status> {
        if !matches!(io.access_size, 1 | 2 | 4 | 8) {
            return Err(Status::INVALID_ARGS);
        }
        let read = self.pending.ok_or(Status::BAD_STATE)?;
        if io.access_size != read.access_size {
            return Err(Status::INVALID_ARGS);
        }
        let unused_bits = 64 - 8 * u32::from(read.access_size);
        let value = if read.sign_extend {
            (((io.data << unused_bits) as i64) >> unused_bits) as u64
        } else {
            (io.data << unused_bits) >> unused_bits
        };
        let value = if read.sixty_four {
            value
        } else {
            value & 0xFFFF_FFFF
        };
        self.set_reg(read.xt, value);
        self.pending = None;
        Ok(())
    }

    /// Register `n` as an instruction operand sees it: X0-X30, or 0 for `n` = 31 (XZR).
    #[inline]
    pub fn reg(&self, n: u8) -> u64 {
        self.file.x.get(usize::from(n)).copied().unwrap_or(0)
    }

    /// Writes register `n` as an instruction result would: X0-X30; for `n` = 31 (XZR) the
    /// value is discarded. Does not affect a pending MMIO read.
    #[inline]
    pub fn set_reg(&mut self, n: u8, value: u64) {
        if let Some(r) = self.file.x.get_mut(usize::from(n)) {
            *r = value;
        }
    }

    /// Moves the guest PC past a trapped instruction of `len` bytes.
    #[inline]
    pub fn advance_pc(&mut self, len: u64) {
        self.file.pc = self.file.pc.wrapping_add(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(cpsr: u32) -> VcpuState {
        let mut x = [0; 31];
        for (i, r) in x.iter_mut().enumerate() {
            *r = 0x1111_0000_0000_0000 + i as u64;
        }
        VcpuState {
            x,
            sp: 0xFFFF_0000_0000_4000,
            cpsr,
            padding1: [0; 4],
        }
    }

    fn read(xt: u8, access_size: u8, sign_extend: bool, sixty_four: bool) -> PendingRead {
        PendingRead {
            xt,
            access_size,
            sign_extend,
            sixty_four,
        }
    }

    /// Registers with every X register set to a marker, and `pending` pending.
    fn regs_pending(pending: PendingRead) -> GuestRegs {
        let mut regs = GuestRegs::new(0x1000);
        regs.file.x = [0xAAAA_AAAA_AAAA_AAAA; 31];
        regs.set_pending_read(pending);
        regs
    }

    /// Completes a read of `size` bytes into X3 and returns X3.
    fn complete(size: u8, sign_extend: bool, sixty_four: bool, data: u64) -> u64 {
        let mut regs = regs_pending(read(3, size, sign_extend, sixty_four));
        regs.complete_io(&VcpuIo::new(size, data)).unwrap();
        assert_eq!(regs.pending_read(), None);
        regs.file.x[3]
    }

    #[test]
    fn new_vcpu_starts_at_entry_in_el1h_with_daif_masked() {
        let regs = GuestRegs::new(0x8_0000);
        assert_eq!(regs.file.pc, 0x8_0000);
        assert_eq!(regs.file.pstate, 0x3C5);
        assert_eq!(regs.file.x, [0; 31]);
        assert_eq!(regs.file.sp_el1, 0);
        assert_eq!(regs.pending_read(), None);
        assert_eq!(regs.read_state(), VcpuState::default());
    }

    #[test]
    fn state_round_trips() {
        let mut regs = GuestRegs::new(0x1000);
        let s = state(0x9000_0000);
        regs.write_state(&s).unwrap();
        assert_eq!(regs.read_state(), s);
        assert_eq!(regs.file.x, s.x);
        assert_eq!(regs.file.sp_el1, 0xFFFF_0000_0000_4000);
        assert_eq!(regs.file.pstate, 0x9000_03C5);
        assert_eq!(regs.file.pc, 0x1000);
    }

    #[test]
    fn vcpu_read_write_state_expectations() {
        // Zircon's VcpuReadWriteState: the guest leaves Z and C set (cmp of equal values).
        let mut regs = GuestRegs::new(0x1000);
        let mut before = VcpuState::default();
        for (i, r) in before.x.iter_mut().enumerate() {
            *r = i as u64;
        }
        before.sp = 64;
        regs.write_state(&before).unwrap();
        for i in 1..31 {
            regs.file.x[i] *= 2;
        }
        regs.file.sp_el1 = 128;
        regs.file.pstate = 0x6000_03C5;
        let after = regs.read_state();
        assert_eq!(after.cpsr, 0x6000_0000);
        assert_eq!(after.sp, 128);
        assert_eq!(after.x[30], 60);
        assert_eq!(after.padding1, [0; 4]);
        // Writing back what was read keeps the flags and the hidden PSTATE bits.
        regs.write_state(&after).unwrap();
        assert_eq!(regs.read_state(), after);
        assert_eq!(regs.file.pstate, 0x6000_03C5);
    }

    #[test]
    fn pstate_bits_outside_nzcv_are_hidden() {
        let mut regs = GuestRegs::new(0);
        regs.file.pstate = 0xF000_03C5 | 1 << 21;
        assert_eq!(regs.read_state().cpsr, 0xF000_0000);
    }

    #[test]
    fn cpsr_outside_nzcv_is_rejected_and_changes_nothing() {
        for cpsr in [0x1, 0x3C5, 0x8000_0004, 0x0800_0000] {
            let mut regs = GuestRegs::new(0x4000);
            regs.file.x[5] = 55;
            regs.file.sp_el1 = 0x77;
            regs.file.pstate = 0x2000_03C5;
            let p = read(7, 4, false, false);
            regs.set_pending_read(p);
            assert_eq!(regs.write_state(&state(cpsr)), Err(Status::INVALID_ARGS));
            assert_eq!(regs.file.x[5], 55);
            assert_eq!(regs.file.x[0], 0);
            assert_eq!(regs.file.sp_el1, 0x77);
            assert_eq!(regs.file.pstate, 0x2000_03C5);
            assert_eq!(regs.file.pc, 0x4000);
            assert_eq!(regs.pending_read(), Some(p));
        }
    }

    #[test]
    fn nzcv_is_replaced_not_ored() {
        let mut regs = GuestRegs::new(0);
        regs.file.pstate = 0xF000_03C5;
        regs.write_state(&state(0x4000_0000)).unwrap();
        assert_eq!(regs.file.pstate, 0x4000_03C5);
        regs.write_state(&state(0)).unwrap();
        assert_eq!(regs.file.pstate, 0x3C5);
        assert_eq!(regs.read_state().cpsr, 0);
    }

    #[test]
    fn write_state_drops_the_pending_read() {
        let mut regs = regs_pending(read(3, 4, false, false));
        regs.write_state(&state(0)).unwrap();
        assert_eq!(regs.pending_read(), None);
        assert_eq!(regs.complete_io(&VcpuIo::new(4, 1)), Err(Status::BAD_STATE));
        assert_eq!(regs.file.x[3], 0x1111_0000_0000_0003);
    }

    #[test]
    fn completes_each_size_zero_extended() {
        let data = 0xF234_5678_9ABC_DEF0;
        assert_eq!(complete(1, false, false, data), 0xF0);
        assert_eq!(complete(2, false, false, data), 0xDEF0);
        assert_eq!(complete(4, false, false, data), 0x9ABC_DEF0);
        assert_eq!(complete(8, false, true, data), 0xF234_5678_9ABC_DEF0);
        // Zero-extending loads into an X register (LDRB/LDRH/LDR W write bits 63:32 as 0).
        assert_eq!(complete(1, false, true, data), 0xF0);
        assert_eq!(complete(2, false, true, 0x1234_5678_9ABC_DEF0), 0xDEF0);
        assert_eq!(complete(4, false, true, data), 0x9ABC_DEF0);
    }

    #[test]
    fn sign_extends_into_w_registers() {
        assert_eq!(complete(1, true, false, 0x80), 0x0000_0000_FFFF_FF80);
        assert_eq!(complete(2, true, false, 0x8001), 0x0000_0000_FFFF_8001);
        assert_eq!(complete(1, true, false, 0x7F), 0x7F);
        // A positive value above the access size is still truncated.
        assert_eq!(complete(1, true, false, 0xFF7F), 0x7F);
    }

    #[test]
    fn sign_extends_into_x_registers() {
        assert_eq!(complete(1, true, true, 0x80), 0xFFFF_FFFF_FFFF_FF80);
        assert_eq!(complete(2, true, true, 0xFFFF_8000), 0xFFFF_FFFF_FFFF_8000);
        assert_eq!(complete(4, true, true, 0x8000_0000), 0xFFFF_FFFF_8000_0000);
        assert_eq!(complete(4, true, true, 0x1_7FFF_FFFF), 0x7FFF_FFFF);
        assert_eq!(
            complete(8, true, true, 0x8000_0000_0000_0001),
            0x8000_0000_0000_0001
        );
    }

    #[test]
    fn completion_touches_only_the_target_register() {
        let mut regs = regs_pending(read(30, 2, false, true));
        regs.complete_io(&VcpuIo::new(2, 0xBEEF)).unwrap();
        assert_eq!(regs.file.x[30], 0xBEEF);
        assert!(regs.file.x[..30]
            .iter()
            .all(|&r| r == 0xAAAA_AAAA_AAAA_AAAA));
        assert_eq!(regs.file.sp_el1, 0);
        assert_eq!(regs.file.pc, 0x1000);
    }

    #[test]
    fn completion_into_xzr_writes_nothing() {
        let mut regs = regs_pending(read(31, 8, false, true));
        let before = regs.file.clone();
        regs.complete_io(&VcpuIo::new(8, 0x1234)).unwrap();
        assert_eq!(regs.file, before);
        assert_eq!(regs.pending_read(), None);
    }

    #[test]
    fn completion_without_a_pending_read_is_bad_state() {
        let mut regs = GuestRegs::new(0);
        assert_eq!(regs.complete_io(&VcpuIo::new(4, 1)), Err(Status::BAD_STATE));
        regs.set_pending_read(read(1, 4, false, false));
        regs.complete_io(&VcpuIo::new(4, 1)).unwrap();
        assert_eq!(regs.complete_io(&VcpuIo::new(4, 2)), Err(Status::BAD_STATE));
        assert_eq!(regs.file.x[1], 1);
        regs.set_pending_read(read(1, 4, false, false));
        regs.clear_pending();
        assert_eq!(regs.complete_io(&VcpuIo::new(4, 3)), Err(Status::BAD_STATE));
        assert_eq!(regs.file.x[1], 1);
    }

    #[test]
    fn completion_with_a_bad_size_is_invalid_args() {
        let p = read(2, 4, false, false);
        for size in [0, 3, 5, 16, 2, 8] {
            let mut regs = regs_pending(p);
            assert_eq!(
                regs.complete_io(&VcpuIo::new(size, 1)),
                Err(Status::INVALID_ARGS),
                "size {size}"
            );
            assert_eq!(regs.pending_read(), Some(p));
            assert_eq!(regs.file.x[2], 0xAAAA_AAAA_AAAA_AAAA);
        }
        // An invalid size is reported even with nothing pending.
        let mut regs = GuestRegs::new(0);
        assert_eq!(
            regs.complete_io(&VcpuIo::new(3, 1)),
            Err(Status::INVALID_ARGS)
        );
        assert_eq!(
            regs.complete_io(&VcpuIo::new(0, 1)),
            Err(Status::INVALID_ARGS)
        );
    }

    #[test]
    fn xzr_reads_as_zero_and_discards_writes() {
        let mut regs = GuestRegs::new(0);
        regs.set_reg(0, 10);
        regs.set_reg(30, 40);
        regs.set_reg(31, 50);
        assert_eq!((regs.reg(0), regs.reg(30), regs.reg(31)), (10, 40, 0));
        assert_eq!(regs.file.sp_el1, 0);
    }

    #[test]
    fn advances_the_pc() {
        let mut regs = GuestRegs::new(0x1000);
        regs.advance_pc(4);
        assert_eq!(regs.file.pc, 0x1004);
        regs.advance_pc(2);
        assert_eq!(regs.file.pc, 0x1006);
    }
}
