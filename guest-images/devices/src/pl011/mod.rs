//! A PL011 UART (r1p5) as Linux's amba-pl011 driver and earlycon use it.
//!
//! Transmission is instant: a character written to DR with the UART and its transmitter
//! enabled leaves at once ([`Pl011Effect::tx`]), so the transmit FIFO always reads empty
//! (FR.TXFE = 1, TXFF = BUSY = 0) and the transmit interrupt is raised whenever the
//! transmitter is enabled. Linux fills the FIFO until TXFF and unmasks TXIM only if
//! characters remain, so its output never waits for an interrupt, and it masks TXIM as soon as
//! its buffer is empty, so no interrupt storm. Received characters wait in a 32-entry FIFO;
//! the receive interrupt follows the trigger level (IFLS) and the receive timeout is taken to
//! have elapsed as soon as a character waits, so both clear when the FIFO is drained.
//! The interrupt line is the OR of the unmasked raw interrupts, reported after every access.

mod fifo;
mod regs;

use crate::mmio;
use fifo::RxFifo;
use regs::*;

/// What an access did besides its read value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pl011Effect {
    /// A character to send to the real UART.
    pub tx: Option<u8>,
    /// The level of the UART's interrupt line after the access.
    pub line: bool,
}

/// The UART's state. Plain data: the VMM serialises accesses.
#[derive(Clone, Debug)]
pub struct Pl011 {
    rx: RxFifo,
    ilpr: u8,
    ibrd: u16,
    fbrd: u8,
    lcr_h: u8,
    cr: u16,
    ifls: u8,
    imsc: u16,
    dmacr: u8,
    /// RSR: errors since last cleared.
    errors: u8,
    /// Raw interrupts that are events rather than states (overrun), until cleared by ICR.
    latched: u16,
}

impl Default for Pl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl011 {
    /// The size of the UART's register region.
    pub const SIZE: u64 = 0x1000;

    /// A UART in its reset state: disabled, transmit and receive enabled, FIFOs off.
    pub fn new() -> Self {
        Self {
            rx: RxFifo::default(),
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: IFLS_RESET,
            imsc: 0,
            dmacr: 0,
            errors: 0,
            latched: 0,
        }
    }

    /// A UART as boot firmware (U-Boot, EDK2) hands it to the kernel: enabled with its
    /// transmitter and receiver, 8 data bits, no parity, FIFOs on, and the baud rate divisors
    /// for `baud` from a `uartclk_hz` reference clock. Linux's earlycon writes DR without
    /// enabling the UART and its console takes the line settings from these registers.
    pub fn with_firmware_setup(uartclk_hz: u32, baud: u32) -> Self {
        let divisor = (u64::from(uartclk_hz) * 4 + u64::from(baud) / 2) / u64::from(baud.max(1));
        Self {
            ibrd: (divisor >> 6).min(0xFFFF) as u16,
            fbrd: divisor as u8 & FBRD_BITS,
            lcr_h: LCR_H_WLEN_8 | LCR_H_FEN,
            cr: CR_UARTEN | CR_TXE | CR_RXE,
            ..Self::new()
        }
    }

    /// A load of `size` bytes at `offset`; reading DR takes the oldest received character.
    pub fn read(&mut self, offset: u64, size: u8) -> (u64, Pl011Effect) {
        let value = mmio::read(offset, size, |word| self.read_word(word));
        (value, self.effect(None))
    }

    /// A store of `size` bytes of `value` at `offset`; writing DR sends a character.
    pub fn write(&mut self, offset: u64, size: u8, value: u64) -> Pl011Effect {
        let mut tx = None;
        mmio::write(offset, size, value, |word, value, lanes| {
            tx = tx.or(self.write_word(word, value, lanes));
        });
        self.effect(tx)
    }

    /// A character from the real UART. Lost if the UART, its receiver is disabled or it is
    /// in loopback; lost and flagged as an overrun (RSR.OE, RIS.OEIS) if the receive FIFO is
    /// full.
    pub fn receive(&mut self, byte: u8) -> Pl011Effect {
        if self.receiving() {
            self.store(byte);
        }
        self.effect(None)
    }

    /// How many characters [`Self::receive`] would take now without losing any: a VMM holds
    /// back input while this is 0.
    pub fn rx_space(&self) -> usize {
        if self.receiving() {
            self.rx_capacity().saturating_sub(self.rx.len())
        } else {
            0
        }
    }

    /// The level of the interrupt line.
    pub fn line(&self) -> bool {
        self.raw_interrupts() & self.imsc != 0
    }

    fn enabled(&self, bits: u16) -> bool {
        self.cr & (CR_UARTEN | bits) == CR_UARTEN | bits
    }

    fn receiving(&self) -> bool {
        self.enabled(CR_RXE) && self.cr & CR_LBE == 0
    }

    /// The receive FIFO's depth: 32, or 1 with the FIFOs disabled.
    fn rx_capacity(&self) -> usize {
        if self.lcr_h & LCR_H_FEN != 0 {
            fifo::DEPTH
        } else {
            1
        }
    }

    fn store(&mut self, byte: u8) {
        if !self.rx.push(byte, self.rx_capacity()) {
            self.errors |= RSR_OE;
            self.latched |= INT_OE;
        }
    }

    /// RIS: receive at the trigger level (1 with the FIFOs off), receive timeout while
    /// anything waits, transmit while the transmitter is enabled, and the latched events.
    fn raw_interrupts(&self) -> u16 {
        let trigger = if self.lcr_h & LCR_H_FEN != 0 {
            rx_trigger(self.ifls)
        } else {
            1
        };
        let mut raw = self.latched;
        if self.rx.len() >= trigger {
            raw |= INT_RX;
        }
        if !self.rx.is_empty() {
            raw |= INT_RT;
        }
        if self.enabled(CR_TXE) {
            raw |= INT_TX;
        }
        raw
    }

    fn flags(&self) -> u32 {
        let mut fr = FR_CTS | FR_DSR | FR_DCD | FR_TXFE;
        if self.rx.is_empty() {
            fr |= FR_RXFE;
        }
        if self.rx.len() >= self.rx_capacity() {
            fr |= FR_RXFF;
        }
        fr
    }

    fn effect(&self, tx: Option<u8>) -> Pl011Effect {
        Pl011Effect {
            tx,
            line: self.line(),
        }
    }

    fn read_word(&mut self, offset: u64) -> u32 {
        match offset {
            DR => self.rx.pop().map_or(0, u32::from),
            RSR_ECR => u32::from(self.errors),
            FR => self.flags(),
            ILPR => u32::from(self.ilpr),
            IBRD => u32::from(self.ibrd),
            FBRD => u32::from(self.fbrd),
            LCR_H => u32::from(self.lcr_h),
            CR => u32::from(self.cr),
            IFLS => u32::from(self.ifls),
            IMSC => u32::from(self.imsc),
            RIS => u32::from(self.raw_interrupts()),
            MIS => u32::from(self.raw_interrupts() & self.imsc),
            DMACR => u32::from(self.dmacr),
            _ => id_register(offset).unwrap_or(0),
        }
    }

    /// Writes the lanes `lanes` of `value` at the 4-aligned `offset`; returns the character
    /// to transmit, if any.
    fn write_word(&mut self, offset: u64, value: u32, lanes: u32) -> Option<u8> {
        let merge = |old: u32| old & !lanes | value & lanes;
        match offset {
            DR if lanes & 0xFF != 0 => return self.transmit(value as u8),
            RSR_ECR => self.errors = 0,
            ILPR => self.ilpr = merge(self.ilpr.into()) as u8,
            IBRD => self.ibrd = merge(self.ibrd.into()) as u16,
            FBRD => self.fbrd = merge(self.fbrd.into()) as u8 & FBRD_BITS,
            LCR_H => self.lcr_h = merge(self.lcr_h.into()) as u8,
            CR => self.cr = merge(self.cr.into()) as u16 & CR_BITS,
            IFLS => self.ifls = merge(self.ifls.into()) as u8 & IFLS_BITS,
            IMSC => self.imsc = merge(self.imsc.into()) as u16 & INT_ALL,
            ICR => self.latched &= !(value & lanes) as u16,
            DMACR => self.dmacr = merge(self.dmacr.into()) as u8 & DMACR_BITS,
            _ => {}
        }
        None
    }

    /// A character written to DR: sent if the transmitter is enabled, looped back to the
    /// receive FIFO in loopback mode.
    fn transmit(&mut self, byte: u8) -> Option<u8> {
        if !self.enabled(CR_TXE) {
            return None;
        }
        if self.cr & CR_LBE != 0 {
            if self.enabled(CR_RXE) {
                self.store(byte);
            }
            return None;
        }
        Some(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UART as Linux leaves it after startup: enabled, FIFOs on, RX and RT unmasked.
    fn started() -> Pl011 {
        let mut uart = Pl011::new();
        uart.write(LCR_H, 2, 0x70);
        uart.write(CR, 2, 0x301);
        uart.write(IMSC, 2, u64::from(INT_RX | INT_RT));
        uart
    }

    fn read(uart: &mut Pl011, offset: u64) -> u64 {
        uart.read(offset, 4).0
    }

    #[test]
    fn resets_disabled_with_empty_fifos_and_no_interrupt() {
        let mut uart = Pl011::new();
        assert_eq!(read(&mut uart, CR), 0x300);
        assert_eq!(read(&mut uart, IFLS), 0x12);
        assert_eq!(read(&mut uart, FR), 0x97);
        assert_eq!(read(&mut uart, RIS), 0);
        assert!(!uart.line());
    }

    #[test]
    fn firmware_setup_leaves_an_enabled_8n1_uart_at_the_baud_rate() {
        let mut uart = Pl011::with_firmware_setup(24_000_000, 115_200);
        assert_eq!(read(&mut uart, CR), 0x301);
        assert_eq!(read(&mut uart, LCR_H), 0x70);
        let (ibrd, fbrd) = (read(&mut uart, IBRD), read(&mut uart, FBRD));
        assert_eq!((ibrd, fbrd), (13, 1));
        // Linux's pl011_console_get_options.
        let baud = 24_000_000 * 4 / (64 * ibrd + fbrd);
        assert!(baud.abs_diff(115_200) < 1_152, "{baud}");
        assert_eq!(uart.write(DR, 1, 0x21).tx, Some(0x21), "earlycon's writeb");
        assert_eq!(uart.rx_space(), 32);
    }

    #[test]
    fn firmware_setup_survives_absurd_clocks() {
        let uart = Pl011::with_firmware_setup(u32::MAX, 0);
        assert_eq!(uart.ibrd, 0xFFFF);
        Pl011::with_firmware_setup(0, u32::MAX);
    }

    #[test]
    fn a_character_written_while_enabled_is_transmitted() {
        let mut uart = started();
        assert_eq!(uart.write(DR, 2, u64::from(b'A')).tx, Some(b'A'));
        assert_eq!(
            uart.write(DR, 1, 0x142).tx,
            Some(0x42),
            "only the data bits"
        );
        assert_eq!(uart.write(DR, 4, u64::from(b'C')).tx, Some(b'C'));
    }

    #[test]
    fn nothing_is_transmitted_while_the_uart_or_transmitter_is_off() {
        let mut uart = Pl011::new();
        assert_eq!(uart.write(DR, 4, 0x41).tx, None);
        uart.write(CR, 4, u64::from(CR_UARTEN | CR_RXE));
        assert_eq!(uart.write(DR, 4, 0x41).tx, None);
    }

    #[test]
    fn the_transmit_fifo_always_reads_empty_and_idle() {
        let mut uart = started();
        for _ in 0..100 {
            uart.write(DR, 2, 0x2E);
        }
        let fr = read(&mut uart, FR) as u32;
        assert_eq!(
            fr & (FR_TXFE | 1 << 5 | 1 << 3),
            FR_TXFE,
            "TXFE, not TXFF, not BUSY"
        );
    }

    #[test]
    fn the_transmit_interrupt_is_raised_while_the_transmitter_is_enabled() {
        let mut uart = started();
        assert_eq!(read(&mut uart, RIS) as u16 & INT_TX, INT_TX);
        assert!(!uart.line(), "masked");
        assert!(uart.write(IMSC, 2, u64::from(INT_TX)).line);
        assert!(!uart.write(IMSC, 2, 0).line);
        uart.write(CR, 2, u64::from(CR_UARTEN | CR_RXE));
        assert_eq!(read(&mut uart, RIS) as u16 & INT_TX, 0);
    }

    #[test]
    fn a_received_character_raises_the_timeout_interrupt_and_reads_back() {
        let mut uart = started();
        let effect = uart.receive(b'x');
        assert!(effect.line);
        assert_eq!(read(&mut uart, MIS) as u16, INT_RT);
        assert_eq!(read(&mut uart, FR) as u32 & FR_RXFE, 0);
        let (value, effect) = uart.read(DR, 2);
        assert_eq!(value, u64::from(b'x'));
        assert!(!effect.line, "a drained FIFO clears RX and RT");
        assert_eq!(read(&mut uart, FR) as u32 & FR_RXFE, FR_RXFE);
    }

    #[test]
    fn the_receive_interrupt_waits_for_the_trigger_level() {
        let mut uart = started();
        for byte in 0..15 {
            uart.receive(byte);
        }
        assert_eq!(read(&mut uart, RIS) as u16 & INT_RX, 0);
        uart.receive(15);
        assert_eq!(
            read(&mut uart, RIS) as u16 & INT_RX,
            INT_RX,
            "16 = half of 32"
        );
        read(&mut uart, DR);
        assert_eq!(read(&mut uart, RIS) as u16 & INT_RX, 0);
    }

    #[test]
    fn with_fifos_off_one_character_fills_the_holding_register() {
        let mut uart = Pl011::new();
        uart.write(CR, 4, 0x301);
        uart.receive(1);
        assert_eq!(
            read(&mut uart, RIS) as u16 & (INT_RX | INT_RT),
            INT_RX | INT_RT
        );
        assert_eq!(read(&mut uart, FR) as u32 & FR_RXFF, FR_RXFF);
        assert_eq!(uart.rx_space(), 0);
        uart.receive(2);
        assert_eq!(read(&mut uart, RSR_ECR), u64::from(RSR_OE));
    }

    #[test]
    fn a_full_fifo_flags_an_overrun() {
        let mut uart = started();
        for byte in 0..40 {
            uart.receive(byte);
        }
        assert_eq!(read(&mut uart, FR) as u32 & FR_RXFF, FR_RXFF);
        assert_eq!(read(&mut uart, RIS) as u16 & INT_OE, INT_OE);
        assert_eq!(read(&mut uart, RSR_ECR), u64::from(RSR_OE));
        for byte in 0..31 {
            assert_eq!(read(&mut uart, DR), byte);
        }
        assert_eq!(
            read(&mut uart, DR),
            0x800 | 31,
            "the last character before the loss carries OE"
        );
        uart.write(RSR_ECR, 4, 0);
        assert_eq!(read(&mut uart, RSR_ECR), 0);
    }

    #[test]
    fn icr_clears_the_overrun_interrupt() {
        let mut uart = started();
        uart.write(IMSC, 4, u64::from(INT_OE));
        uart.write(LCR_H, 4, 0);
        uart.receive(1);
        assert!(uart.receive(2).line);
        assert!(!uart.write(ICR, 4, u64::from(INT_OE)).line);
        assert_eq!(read(&mut uart, RIS) as u16 & INT_OE, 0);
    }

    #[test]
    fn icr_does_not_clear_state_interrupts() {
        let mut uart = started();
        uart.receive(1);
        uart.write(ICR, 4, u64::from(INT_ALL));
        assert!(uart.line(), "the character still waits");
    }

    #[test]
    fn input_is_lost_while_the_receiver_is_off() {
        let mut uart = Pl011::new();
        assert_eq!(uart.rx_space(), 0);
        uart.receive(1);
        assert_eq!(read(&mut uart, FR) as u32 & FR_RXFE, FR_RXFE);
        assert_eq!(read(&mut uart, RSR_ECR), 0, "no overrun either");
    }

    #[test]
    fn rx_space_counts_down_as_the_fifo_fills() {
        let mut uart = started();
        assert_eq!(uart.rx_space(), 32);
        uart.receive(1);
        assert_eq!(uart.rx_space(), 31);
    }

    #[test]
    fn loopback_returns_transmitted_characters_to_the_receiver() {
        let mut uart = started();
        uart.write(CR, 4, u64::from(CR_UARTEN | CR_TXE | CR_RXE | CR_LBE));
        assert_eq!(uart.write(DR, 4, 0x55).tx, None);
        assert_eq!(uart.rx_space(), 0, "outside input is cut off");
        assert_eq!(read(&mut uart, DR), 0x55);
    }

    #[test]
    fn control_registers_read_back_what_was_written() {
        let mut uart = Pl011::new();
        for (offset, value) in [
            (IBRD, 0x1A),
            (FBRD, 0x3),
            (LCR_H, 0x70),
            (CR, 0xCB01),
            (IFLS, 0x24),
            (DMACR, 0x5),
            (ILPR, 0x7),
        ] {
            uart.write(offset, 4, value);
            assert_eq!(read(&mut uart, offset), value, "offset {offset:#x}");
        }
    }

    #[test]
    fn control_registers_keep_only_implemented_bits() {
        let mut uart = Pl011::new();
        for (offset, bits) in [
            (FBRD, 0x3F),
            (CR, 0xFF87),
            (IFLS, 0x3F),
            (IMSC, 0x7FF),
            (DMACR, 0x7),
            (IBRD, 0xFFFF),
            (LCR_H, 0xFF),
        ] {
            uart.write(offset, 4, u64::from(u32::MAX));
            assert_eq!(read(&mut uart, offset), bits, "offset {offset:#x}");
        }
    }

    #[test]
    fn byte_writes_change_one_lane() {
        let mut uart = Pl011::new();
        uart.write(CR, 1, 0x01);
        assert_eq!(read(&mut uart, CR), 0x301);
        uart.write(CR + 1, 1, 0x01);
        assert_eq!(read(&mut uart, CR), 0x101);
    }

    #[test]
    fn status_registers_ignore_writes() {
        let mut uart = started();
        uart.write(FR, 4, 0);
        uart.write(RIS, 4, 0);
        uart.write(MIS, 4, 0xFF);
        assert_eq!(read(&mut uart, FR) as u32 & FR_TXFE, FR_TXFE);
    }

    #[test]
    fn reading_an_empty_fifo_returns_zero() {
        let mut uart = started();
        assert_eq!(read(&mut uart, DR), 0);
    }
}
