//! Replays what Linux 6.1 does to a PL011: the AMBA bus probe (drivers/amba/bus.c reads the
//! IDs), amba-pl011.c's port registration, console setup and console writes, pl011_startup
//! (pl011_hwinit, pl011_enable_interrupts), tty output through pl011_start_tx /
//! pl011_tx_chars, and input through pl011_int / pl011_rx_chars, checking the interrupt line
//! the VMM would feed to the GIC all along.

use zxv_devices::Pl011;

const DR: u64 = 0x00;
const FR: u64 = 0x18;
const IBRD: u64 = 0x24;
const FBRD: u64 = 0x28;
const LCRH: u64 = 0x2C;
const CR: u64 = 0x30;
const IFLS: u64 = 0x34;
const IMSC: u64 = 0x38;
const RIS: u64 = 0x3C;
const ICR: u64 = 0x44;

const FR_BUSY: u16 = 1 << 3;
const FR_RXFE: u16 = 1 << 4;
const FR_TXFF: u16 = 1 << 5;
const CR_UARTEN: u16 = 1 << 0;
const CR_TXE: u16 = 1 << 8;
const CR_RXE: u16 = 1 << 9;
const CR_RTS_DTR: u16 = 1 << 11 | 1 << 10;
const RXIM: u16 = 1 << 4;
const TXIM: u16 = 1 << 5;
const RTIM: u16 = 1 << 6;
const OEIS: u16 = 1 << 10;

/// The driver's view of one port: readw/writew on the registers, its `im` shadow, what went
/// out, and the line's level after each access.
struct Port {
    uart: Pl011,
    im: u16,
    sent: Vec<u8>,
    lines: Vec<bool>,
}

impl Port {
    fn new(uart: Pl011) -> Self {
        Self {
            uart,
            im: 0,
            sent: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn readw(&mut self, offset: u64) -> u16 {
        let (value, effect) = self.uart.read(offset, 2);
        self.lines.push(effect.line);
        value as u16
    }

    fn readl(&mut self, offset: u64) -> u32 {
        self.uart.read(offset, 4).0 as u32
    }

    fn writew(&mut self, value: u16, offset: u64) {
        let effect = self.uart.write(offset, 2, value.into());
        self.sent.extend(effect.tx);
        self.lines.push(effect.line);
    }

    /// amba_read_periphid: the low byte of each of the last eight words.
    fn amba_ids(&mut self) -> (u32, u32) {
        let size = Pl011::SIZE;
        let mut pid = 0;
        let mut cid = 0;
        for i in 0..4 {
            pid |= (self.readl(size - 0x20 + 4 * i) & 0xFF) << (i * 8);
            cid |= (self.readl(size - 0x10 + 4 * i) & 0xFF) << (i * 8);
        }
        (pid, cid)
    }

    /// pl011_register_port: mask and clear everything.
    fn register_port(&mut self) {
        self.writew(0, IMSC);
        self.writew(0xFFFF, ICR);
    }

    /// pl011_console_get_options: the baud rate firmware left, if the UART is enabled.
    fn console_get_options(&mut self, uartclk: u32) -> Option<u32> {
        if self.readw(CR) & CR_UARTEN == 0 {
            return None;
        }
        let _lcr_h = self.readw(LCRH);
        let ibrd = u32::from(self.readw(IBRD));
        let fbrd = u32::from(self.readw(FBRD));
        Some(uartclk * 4 / (64 * ibrd + fbrd))
    }

    /// pl011_set_termios for 8N1 at `baud` without flow control.
    fn set_termios(&mut self, uartclk: u32, baud: u32) {
        let quot = (uartclk * 4 + baud / 2) / baud;
        let old_cr = self.readw(CR) & !(1 << 15 | 1 << 14);
        self.writew((quot & 0x3F) as u16, FBRD);
        self.writew((quot >> 6) as u16, IBRD);
        self.writew(0x60 | 0x10, LCRH);
        self.writew(old_cr, CR);
    }

    /// pl011_console_write.
    fn console_write(&mut self, text: &[u8]) {
        let old_cr = self.readw(CR);
        self.writew(old_cr | CR_UARTEN | CR_TXE, CR);
        for &ch in text {
            assert!(
                (0..1000).any(|_| self.readw(FR) & FR_TXFF == 0),
                "TXFF clears"
            );
            self.writew(ch.into(), DR);
        }
        assert!(
            (0..1000).any(|_| self.readw(FR) & FR_BUSY == 0),
            "BUSY clears"
        );
        self.writew(old_cr, CR);
    }

    /// pl011_startup: pl011_hwinit, pl011_allocate_irq, IFLS, CR, pl011_enable_interrupts.
    fn startup(&mut self) {
        self.writew(1 << 10 | 1 << 9 | 1 << 8 | 1 << 7 | RTIM | RXIM, ICR);
        self.im = self.readw(IMSC);
        self.writew(RTIM | RXIM, IMSC);
        self.writew(self.im, IMSC);
        self.writew(0x12, IFLS);
        let cr = self.readw(CR) & CR_RTS_DTR | CR_UARTEN | CR_RXE | CR_TXE;
        self.writew(cr, CR);
        let _old_status = self.readw(FR) & 0x1FF;
        self.writew(RTIM | RXIM, ICR);
        for _ in 0..64 {
            if self.readw(FR) & FR_RXFE != 0 {
                break;
            }
            self.readw(DR);
        }
        self.im = RTIM | RXIM;
        self.writew(self.im, IMSC);
    }

    /// pl011_stop_tx.
    fn stop_tx(&mut self) {
        self.im &= !TXIM;
        self.writew(self.im, IMSC);
    }

    /// pl011_tx_chars: returns whether TX interrupts must stay on.
    fn tx_chars(&mut self, xmit: &mut Vec<u8>, from_irq: bool) -> bool {
        let mut count = 16; // fifosize / 2 for a 32-entry FIFO
        while !xmit.is_empty() {
            if from_irq {
                if count == 0 {
                    break;
                }
                count -= 1;
            }
            if !from_irq && self.readw(FR) & FR_TXFF != 0 {
                break;
            }
            let ch = xmit.remove(0);
            self.writew(ch.into(), DR);
        }
        if xmit.is_empty() {
            self.stop_tx();
            return false;
        }
        true
    }

    /// pl011_start_tx without DMA.
    fn start_tx(&mut self, xmit: &mut Vec<u8>) {
        if self.tx_chars(xmit, false) {
            self.im |= TXIM;
            self.writew(self.im, IMSC);
        }
    }

    /// pl011_int: returns the characters read (IRQ_HANDLED when any interrupt was pending).
    fn interrupt(&mut self, xmit: &mut Vec<u8>) -> Option<Vec<u8>> {
        let mut status = self.readw(RIS) & self.im;
        if status == 0 {
            return None;
        }
        let mut received = Vec::new();
        for _ in 0..256 {
            self.writew(status & !(TXIM | RTIM | RXIM), ICR);
            if status & (RTIM | RXIM) != 0 {
                // pl011_fifo_to_tty.
                while self.readw(FR) & FR_RXFE == 0 {
                    received.push(self.readw(DR) as u8);
                }
            }
            if status & TXIM != 0 {
                self.tx_chars(xmit, true);
            }
            status = self.readw(RIS) & self.im;
            if status == 0 {
                return Some(received);
            }
        }
        panic!("pl011_int ran out of passes: an interrupt storm");
    }
}

/// A port probed, registered and started, as after the kernel opened the console's tty.
fn started(uart: Pl011) -> Port {
    let mut port = Port::new(uart);
    port.register_port();
    port.set_termios(24_000_000, 115_200);
    port.startup();
    port
}

#[test]
fn the_amba_bus_probe_finds_an_arm_pl011_r1p5() {
    let mut port = Port::new(Pl011::new());
    let (pid, cid) = port.amba_ids();
    assert_eq!(cid, 0xB105_F00D, "AMBA_CID");
    assert_eq!(
        pid & 0x000F_FFFF,
        0x0004_1011,
        "amba-pl011's ID table entry"
    );
    assert_eq!(pid >> 20 & 0xF, 3, "amba_rev 3: fifosize 32");
}

#[test]
fn console_setup_reads_the_firmware_baud_rate() {
    let mut port = Port::new(Pl011::with_firmware_setup(24_000_000, 115_200));
    let baud = port
        .console_get_options(24_000_000)
        .expect("enabled by firmware");
    assert!(baud.abs_diff(115_200) < 1_152, "{baud}");
    let mut reset = Port::new(Pl011::new());
    assert_eq!(
        reset.console_get_options(24_000_000),
        None,
        "defaults used instead"
    );
}

#[test]
fn console_writes_go_out_in_order_without_interrupts() {
    let mut port = Port::new(Pl011::new());
    port.register_port();
    port.set_termios(24_000_000, 115_200);
    port.console_write(b"[    0.000000] Booting Linux\n");
    assert_eq!(port.sent, b"[    0.000000] Booting Linux\n");
    assert!(port.lines.iter().all(|&line| !line));
    assert_eq!(port.readw(CR) & CR_UARTEN, 0, "the console put CR back");
}

#[test]
fn startup_leaves_rx_interrupts_unmasked_and_the_line_low() {
    let mut port = started(Pl011::new());
    assert_eq!(port.readw(IMSC), RTIM | RXIM);
    assert_eq!(
        port.readw(CR) & (CR_UARTEN | CR_TXE | CR_RXE),
        CR_UARTEN | CR_TXE | CR_RXE
    );
    assert_eq!(port.readw(LCRH), 0x70);
    assert!(!port.uart.line());
}

#[test]
fn startup_drains_characters_typed_before_the_port_opened() {
    let mut port = Port::new(Pl011::with_firmware_setup(24_000_000, 115_200));
    port.uart.receive(b'x');
    port.register_port();
    port.startup();
    assert_eq!(port.readw(FR) & FR_RXFE, FR_RXFE);
    assert!(!port.uart.line());
}

#[test]
fn tty_output_drains_in_start_tx_and_never_raises_the_line() {
    let mut port = started(Pl011::new());
    let text: Vec<u8> = b"root@debian:~# ls -l /\n".repeat(40);
    let mut xmit = text.clone();
    port.lines.clear();
    port.start_tx(&mut xmit);
    assert!(xmit.is_empty(), "nothing left for a TX interrupt");
    assert_eq!(port.sent, text);
    assert_eq!(port.im & TXIM, 0, "stop_tx masked TX");
    assert!(
        port.lines.iter().all(|&line| !line),
        "no TX interrupt storm"
    );
}

#[test]
fn a_tx_interrupt_left_unmasked_is_served_and_then_masked() {
    let mut port = started(Pl011::new());
    let mut xmit = b"0123456789abcdefghijklmnopqrstuvwxyz".to_vec();
    port.im |= TXIM;
    port.writew(port.im, IMSC);
    assert!(port.uart.line(), "the empty FIFO asks for data");
    let received = port.interrupt(&mut xmit).expect("handled");
    assert!(received.is_empty());
    assert!(xmit.is_empty());
    assert_eq!(port.sent, b"0123456789abcdefghijklmnopqrstuvwxyz");
    assert!(!port.uart.line());
}

#[test]
fn a_typed_character_raises_the_line_and_the_handler_reads_it() {
    let mut port = started(Pl011::new());
    assert!(port.uart.receive(b'l').line);
    let received = port.interrupt(&mut Vec::new()).expect("handled");
    assert_eq!(received, b"l");
    assert!(!port.uart.line());
    assert_eq!(
        port.interrupt(&mut Vec::new()),
        None,
        "nothing spurious afterwards"
    );
}

#[test]
fn a_pasted_burst_is_read_in_one_interrupt() {
    let mut port = started(Pl011::new());
    let burst = b"echo hello, world; uname -a\n";
    for &ch in burst {
        assert!(port.uart.rx_space() > 0);
        port.uart.receive(ch);
    }
    let received = port.interrupt(&mut Vec::new()).expect("handled");
    assert_eq!(received, burst);
    assert_eq!(port.readw(RIS) & OEIS, 0, "no overrun");
}

#[test]
fn the_line_follows_rx_while_tx_is_masked() {
    let mut port = started(Pl011::new());
    port.uart.receive(b'a');
    let mut xmit = b"echo".to_vec();
    port.start_tx(&mut xmit);
    assert!(port.uart.line(), "still a character to read");
    port.interrupt(&mut Vec::new());
    assert!(!port.uart.line());
}
