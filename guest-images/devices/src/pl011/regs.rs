//! The PL011's register offsets and bits (ARM PrimeCell UART PL011, TRM DDI 0183), and the
//! identification registers of revision r1p5, which the AMBA bus probe reads.

pub const DR: u64 = 0x000;
pub const RSR_ECR: u64 = 0x004;
pub const FR: u64 = 0x018;
pub const ILPR: u64 = 0x020;
pub const IBRD: u64 = 0x024;
pub const FBRD: u64 = 0x028;
pub const LCR_H: u64 = 0x02C;
pub const CR: u64 = 0x030;
pub const IFLS: u64 = 0x034;
pub const IMSC: u64 = 0x038;
pub const RIS: u64 = 0x03C;
pub const MIS: u64 = 0x040;
pub const ICR: u64 = 0x044;
pub const DMACR: u64 = 0x048;

/// FR: the modem inputs CTS, DSR and DCD (a cable is attached), and the FIFO states.
pub const FR_CTS: u32 = 1 << 0;
pub const FR_DSR: u32 = 1 << 1;
pub const FR_DCD: u32 = 1 << 2;
pub const FR_RXFE: u32 = 1 << 4;
pub const FR_RXFF: u32 = 1 << 6;
pub const FR_TXFE: u32 = 1 << 7;

/// CR: UART enable, loopback, transmit and receive enables.
pub const CR_UARTEN: u16 = 1 << 0;
pub const CR_LBE: u16 = 1 << 7;
pub const CR_TXE: u16 = 1 << 8;
pub const CR_RXE: u16 = 1 << 9;

/// LCR_H.FEN: FIFOs enabled; WLEN = 0b11: 8 data bits.
pub const LCR_H_FEN: u8 = 1 << 4;
pub const LCR_H_WLEN_8: u8 = 0b11 << 5;

/// Interrupt bits of IMSC, RIS, MIS and ICR: receive, transmit, receive timeout, overrun.
pub const INT_RX: u16 = 1 << 4;
pub const INT_TX: u16 = 1 << 5;
pub const INT_RT: u16 = 1 << 6;
pub const INT_OE: u16 = 1 << 10;
/// All eleven interrupt bits.
pub const INT_ALL: u16 = 0x7FF;

/// RSR/ECR.OE: overrun error.
pub const RSR_OE: u8 = 1 << 3;

/// The implemented bits of the plain read/write registers.
pub const CR_BITS: u16 = 0xFF87;
pub const FBRD_BITS: u8 = 0x3F;
pub const IFLS_BITS: u8 = 0x3F;
pub const DMACR_BITS: u8 = 0x7;

/// Reset values: transmit and receive enabled (UART disabled), FIFO triggers at half.
pub const CR_RESET: u16 = CR_TXE | CR_RXE;
pub const IFLS_RESET: u8 = 0x12;

/// The value of the identification register at `offset` (0xFE0-0xFFC): PeriphID 0x00341011
/// (part 0x011, designer Arm, revision 3 = r1p5 with its 32-entry FIFOs) and the PrimeCell
/// ID 0xB105F00D.
pub fn id_register(offset: u64) -> Option<u32> {
    let value = match offset {
        0xFE0 => 0x11,
        0xFE4 => 0x10,
        0xFE8 => 0x34,
        0xFEC => 0x00,
        0xFF0 => 0x0D,
        0xFF4 => 0xF0,
        0xFF8 => 0x05,
        0xFFC => 0xB1,
        _ => return None,
    };
    Some(value)
}

/// The receive FIFO level that raises the receive interrupt: IFLS.RXIFLSEL 0-4 = 1/8, 1/4,
/// 1/2, 3/4, 7/8 of 32 entries (the reserved values act as 7/8).
pub fn rx_trigger(ifls: u8) -> usize {
    match ifls >> 3 & 0b111 {
        0 => 4,
        1 => 8,
        2 => 16,
        3 => 24,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Linux's amba_read_periphid assembles from the low bytes of the eight words.
    fn assemble(base: u64) -> u32 {
        (0..4)
            .map(|i| (id_register(base + 4 * i).unwrap() & 0xFF) << (8 * i))
            .sum()
    }

    #[test]
    fn periph_id_is_a_pl011_r1p5() {
        let pid = assemble(0xFE0);
        assert_eq!(pid, 0x0034_1011);
        assert_eq!(
            pid & 0x000F_FFFF,
            0x0004_1011,
            "Linux's pl011 match, mask 0xfffff"
        );
        assert_eq!(pid >> 20 & 0xF, 3, "amba_rev 3: 32-entry FIFOs");
    }

    #[test]
    fn primecell_id_is_the_amba_cid() {
        assert_eq!(assemble(0xFF0), 0xB105_F00D);
    }

    #[test]
    fn rx_trigger_levels() {
        assert_eq!(rx_trigger(IFLS_RESET), 16);
        assert_eq!(rx_trigger(0), 4);
        assert_eq!(rx_trigger(3 << 3), 24);
        assert_eq!(rx_trigger(7 << 3), 28);
    }
}
