//! The identification registers of the emulated GIC: IIDR, and the CoreSight-style peripheral
//! and component IDs (PIDR0-7, CIDR0-3) at the top of a 4 KiB or 64 KiB frame, which drivers
//! read to check the architecture version (PIDR2.ArchRev).

/// GICD_IIDR / GICR_IIDR: Implementer 0x43B (Arm's JEP106 code), ProductID 0x5A, Variant and
/// Revision 0. It matches none of Linux's GIC quirk table.
pub const IIDR: u32 = 0x5A00_043B;

/// The part number the peripheral IDs report (0x05A, matching the IIDR's ProductID).
const PART: u32 = 0x05A;

/// JEP106 identity code of Arm (0x3B) and its continuation code (4).
const JEP106_ID: u32 = 0x3B;
const JEP106_CONTINUATION: u32 = 0x4;

/// The value of the ID register at `offset` within 0xFD0..0x1000 of the frame's last 4 KiB
/// page (`offset & 0xFFF`), for a GIC of architecture version `arch_rev` (2 or 3); `None` for
/// other offsets.
pub fn id_register(offset: u64, arch_rev: u32) -> Option<u32> {
    let value = match offset {
        0xFD0 => JEP106_CONTINUATION,                // PIDR4: 4 KiB count 0
        0xFD4 | 0xFD8 | 0xFDC => 0,                  // PIDR5-7
        0xFE0 => PART & 0xFF,                        // PIDR0
        0xFE4 => (JEP106_ID & 0xF) << 4 | PART >> 8, // PIDR1
        0xFE8 => arch_rev << 4 | 1 << 3 | JEP106_ID >> 4, // PIDR2: ArchRev, JEDEC, DES_1
        0xFEC => 0,                                  // PIDR3
        0xFF0 => 0x0D,                               // CIDR0-3: the component preamble
        0xFF4 => 0xF0,
        0xFF8 => 0x05,
        0xFFC => 0xB1,
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux: GIC_PIDR2_ARCH_MASK.
    const ARCH_MASK: u32 = 0xF0;

    #[test]
    fn pidr2_reports_the_architecture_version() {
        assert_eq!(id_register(0xFE8, 3).unwrap() & ARCH_MASK, 0x30);
        assert_eq!(id_register(0xFE8, 2).unwrap() & ARCH_MASK, 0x20);
    }

    #[test]
    fn peripheral_ids_name_arm_as_designer() {
        assert_eq!(id_register(0xFE8, 3), Some(0x3B));
        assert_eq!(id_register(0xFE4, 3), Some(0xB0));
        assert_eq!(id_register(0xFE0, 3), Some(0x5A));
        assert_eq!(id_register(0xFD0, 3), Some(0x04));
    }

    #[test]
    fn component_ids_spell_the_primecell_preamble() {
        let cid: u32 = (0..4)
            .map(|i| id_register(0xFF0 + 4 * i, 3).unwrap() << (8 * i))
            .sum();
        assert_eq!(cid, 0xB105_F00D);
    }

    #[test]
    fn other_offsets_are_no_id_register() {
        assert_eq!(id_register(0xFCC, 3), None);
        assert_eq!(id_register(0x000, 3), None);
    }

    #[test]
    fn iidr_names_arm_and_is_not_a_quirky_part() {
        assert_eq!(IIDR & 0xFFF, 0x43B);
        // HIP06 (0x0204043B) and HIP07 (0) in Linux's quirk table.
        assert_ne!(IIDR, 0x0204_043B);
        assert_ne!(IIDR, 0);
    }
}
