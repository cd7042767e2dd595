//! The per-interrupt register block the GICv2/GICv3 distributor (offsets 0x080-0xD7F) and the
//! GICv3 redistributor's SGI_base frame share: IGROUPR, IS/ICENABLER, IS/ICPENDR,
//! IS/ICACTIVER, IPRIORITYR, ICFGR and IGRPMODR. Decoding an offset names the register and
//! the first interrupt its word covers; reads and writes act on that interrupt's [`Bank`].

use super::bank::Bank;
use crate::NUM_INTIDS;

/// A register of the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqReg {
    Group,
    SetEnable,
    ClearEnable,
    SetPending,
    ClearPending,
    SetActive,
    ClearActive,
    Priority,
    Config,
    GroupMod,
}

/// A decoded word of the block: its register and the first INTID it covers (32 a word for
/// the bitmaps, 4 for IPRIORITYR, 16 for ICFGR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqWord {
    pub reg: IrqReg,
    pub first: u32,
}

/// The registers of one interrupt bit a word: (register, base offset).
const BITMAPS: [(IrqReg, u64); 7] = [
    (IrqReg::Group, 0x080),
    (IrqReg::SetEnable, 0x100),
    (IrqReg::ClearEnable, 0x180),
    (IrqReg::SetPending, 0x200),
    (IrqReg::ClearPending, 0x280),
    (IrqReg::SetActive, 0x300),
    (IrqReg::ClearActive, 0x380),
];

const PRIORITY: u64 = 0x400;
const CONFIG: u64 = 0xC00;
const GROUP_MOD: u64 = 0xD00;

/// Decodes the 4-aligned `offset`; `None` outside the block or past the implemented INTIDs.
pub fn decode(offset: u64) -> Option<IrqWord> {
    let (reg, first) = match offset {
        0x080..=0x3FF => {
            let (reg, base) = BITMAPS[(offset / 0x80 - 1) as usize];
            (reg, (offset - base) / 4 * 32)
        }
        0x400..=0x7FF => (IrqReg::Priority, offset - PRIORITY),
        0xC00..=0xCFF => (IrqReg::Config, (offset - CONFIG) / 4 * 16),
        0xD00..=0xD7F => (IrqReg::GroupMod, (offset - GROUP_MOD) / 4 * 32),
        _ => return None,
    };
    let first = u32::try_from(first).ok().filter(|&f| f < NUM_INTIDS)?;
    Some(IrqWord { reg, first })
}

/// Reads the word `word` of `bank` (the bank holding `word.first`).
pub fn read(bank: &Bank, word: IrqWord) -> u32 {
    let at = (word.first % 32) as usize;
    match word.reg {
        IrqReg::Group => bank.group,
        IrqReg::GroupMod => bank.group_mod,
        IrqReg::SetEnable | IrqReg::ClearEnable => bank.enabled,
        IrqReg::SetPending | IrqReg::ClearPending => bank.pending,
        IrqReg::SetActive | IrqReg::ClearActive => bank.active,
        IrqReg::Priority => u32::from_le_bytes([0, 1, 2, 3].map(|lane| bank.priority[at + lane])),
        IrqReg::Config => spread_edges(bank.edge >> at),
    }
}

/// Writes `value` to the byte lanes `lanes` of the word `word` of `bank`. The SGIs'
/// configuration (ICFGR0) is read-only.
pub fn write(bank: &mut Bank, word: IrqWord, value: u32, lanes: u32) {
    let bits = value & lanes;
    let at = (word.first % 32) as usize;
    match word.reg {
        IrqReg::Group => bank.group = bank.group & !lanes | bits,
        IrqReg::GroupMod => bank.group_mod = bank.group_mod & !lanes | bits,
        IrqReg::SetEnable => bank.enable(bits),
        IrqReg::ClearEnable => bank.enabled &= !bits,
        IrqReg::SetPending => bank.pending |= bits,
        IrqReg::ClearPending => bank.pending &= !bits,
        IrqReg::SetActive => bank.active |= bits,
        IrqReg::ClearActive => bank.active &= !bits,
        IrqReg::Priority => {
            for (lane, byte) in value.to_le_bytes().into_iter().enumerate() {
                if lanes >> (lane * 8) & 0xFF != 0 {
                    bank.priority[at + lane] = byte;
                }
            }
        }
        IrqReg::Config if word.first >= 16 => {
            let written = gather_edges(lanes) << at;
            bank.edge = bank.edge & !written | gather_edges(bits) << at;
        }
        IrqReg::Config => {}
    }
}

/// ICFGR from edge bits: interrupt `k`'s edge bit becomes bit `2k + 1` (16 interrupts).
fn spread_edges(edges: u32) -> u32 {
    (0..16)
        .filter(|k| edges >> k & 1 != 0)
        .fold(0, |word, k| word | 2 << (2 * k))
}

/// Edge bits from ICFGR: bit `2k + 1` becomes interrupt `k`'s bit.
fn gather_edges(config: u32) -> u32 {
    (0..16)
        .filter(|k| config >> (2 * k + 1) & 1 != 0)
        .fold(0, |edges, k| edges | 1 << k)
}

#[cfg(test)]
mod tests {
    use super::super::bank::SGI_BITS;
    use super::*;

    fn word(offset: u64) -> IrqWord {
        decode(offset).expect("a register of the block")
    }

    #[test]
    fn bitmap_words_cover_32_interrupts() {
        assert_eq!(
            word(0x080),
            IrqWord {
                reg: IrqReg::Group,
                first: 0
            }
        );
        assert_eq!(
            word(0x104),
            IrqWord {
                reg: IrqReg::SetEnable,
                first: 32
            }
        );
        assert_eq!(
            word(0x19C),
            IrqWord {
                reg: IrqReg::ClearEnable,
                first: 224
            }
        );
        assert_eq!(word(0x200).reg, IrqReg::SetPending);
        assert_eq!(word(0x280).reg, IrqReg::ClearPending);
        assert_eq!(word(0x300).reg, IrqReg::SetActive);
        assert_eq!(
            word(0x384),
            IrqWord {
                reg: IrqReg::ClearActive,
                first: 32
            }
        );
    }

    #[test]
    fn priority_words_cover_4_and_config_words_16() {
        assert_eq!(
            word(0x420),
            IrqWord {
                reg: IrqReg::Priority,
                first: 32
            }
        );
        assert_eq!(
            word(0xC04),
            IrqWord {
                reg: IrqReg::Config,
                first: 16
            }
        );
        assert_eq!(
            word(0xD04),
            IrqWord {
                reg: IrqReg::GroupMod,
                first: 32
            }
        );
    }

    #[test]
    fn words_past_intid_255_and_gaps_are_not_registers() {
        assert_eq!(decode(0x120), None);
        assert_eq!(decode(0x500), None);
        assert_eq!(decode(0xC40), None);
        assert_eq!(decode(0x800), None);
        assert_eq!(decode(0x07C), None);
        assert_eq!(decode(0xD80), None);
    }

    #[test]
    fn set_and_clear_registers_change_only_written_ones() {
        let mut bank = Bank::shared();
        write(&mut bank, word(0x100), 0b1010, u32::MAX);
        write(&mut bank, word(0x100), 0b0100, u32::MAX);
        assert_eq!(bank.enabled, 0b1110);
        write(&mut bank, word(0x180), 0b0010, u32::MAX);
        assert_eq!(read(&bank, word(0x100)), 0b1100);
        assert_eq!(read(&bank, word(0x180)), 0b1100);
    }

    #[test]
    fn pending_and_active_set_and_clear() {
        let mut bank = Bank::shared();
        write(&mut bank, word(0x200), 0xF0, u32::MAX);
        write(&mut bank, word(0x280), 0x30, u32::MAX);
        assert_eq!(read(&bank, word(0x280)), 0xC0);
        write(&mut bank, word(0x300), 0x3, u32::MAX);
        write(&mut bank, word(0x380), 0x1, u32::MAX);
        assert_eq!(read(&bank, word(0x300)), 0x2);
    }

    #[test]
    fn group_writes_replace_only_the_written_lanes() {
        let mut bank = Bank::shared();
        write(&mut bank, word(0x080), u32::MAX, u32::MAX);
        write(&mut bank, word(0x080), 0, 0x0000_FF00);
        assert_eq!(read(&bank, word(0x080)), 0xFFFF_00FF);
        write(&mut bank, word(0xD00), 0x1234_5678, u32::MAX);
        assert_eq!(bank.group_mod, 0x1234_5678);
    }

    #[test]
    fn priority_bytes_are_written_lane_by_lane() {
        let mut bank = Bank::shared();
        write(&mut bank, word(0x404), 0xA0A0_A0A0, u32::MAX);
        write(&mut bank, word(0x404), 0x0080_0000, 0x00FF_0000);
        assert_eq!(bank.priority[4..8], [0xA0, 0xA0, 0x80, 0xA0]);
        assert_eq!(read(&bank, word(0x404)), 0xA080_A0A0);
    }

    #[test]
    fn config_stores_the_edge_bit_of_each_field() {
        let mut bank = Bank::shared();
        write(&mut bank, word(0xC0C), 0b10 << 6 | 0b01 << 2, u32::MAX);
        assert_eq!(bank.edge, 1 << (16 + 3), "bit 0 of a field is not stored");
        assert_eq!(read(&bank, word(0xC0C)), 0b10 << 6);
    }

    #[test]
    fn config_byte_writes_leave_other_fields() {
        let mut bank = Bank::shared();
        write(&mut bank, word(0xC08), u32::MAX, u32::MAX);
        write(&mut bank, word(0xC08), 0, 0x0000_FF00);
        assert_eq!(read(&bank, word(0xC08)), 0xAAAA_00AA);
    }

    #[test]
    fn sgi_config_reads_edge_and_ignores_writes() {
        let mut bank = Bank::private();
        assert_eq!(read(&bank, word(0xC00)), 0xAAAA_AAAA);
        write(&mut bank, word(0xC00), 0, u32::MAX);
        assert_eq!(read(&bank, word(0xC00)), 0xAAAA_AAAA);
    }

    #[test]
    fn ppi_config_is_writable() {
        let mut bank = Bank::private();
        write(&mut bank, word(0xC04), 0x2 << 22, u32::MAX);
        assert_eq!(bank.edge, SGI_BITS | 1 << 27);
        assert_eq!(read(&bank, word(0xC04)), 0x2 << 22);
    }
}
