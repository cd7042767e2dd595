//! Random guest programs (A64): random words, and instructions a guest
//! uses to reach the monitor: loads and stores of every size and form on
//! interesting guest-physical addresses (trap pages, unmapped IPAs, RAM,
//! the GICv2 GICV frame, beyond 64 GiB), system-register reads and writes
//! with random encodings, cache, TLB and address-translation operations,
//! HVC and SMC with random function IDs, WFI, WFE, ERET, BRK, SVC, HLT,
//! barriers and branches. A program ends with a store to the exit page
//! (a MEM trap: the enter returns) and a branch back to its start.

use crate::rng::Rng;

/// QEMU's semihosting call (`hlt #0xf000`): it would end the machine.
pub const SEMIHOSTING: u32 = 0xD45E_0000;

/// Registers x1..x8 hold addresses a program loads and stores through.
const BASES: u32 = 8;

/// What a program aims at.
pub struct Palette<'a> {
    /// Guest-physical addresses worth touching.
    pub addrs: &'a [u64],
    /// x0 values for HVC and SMC (PSCI and service-call IDs).
    pub calls: &'a [u64],
}

fn movz(rd: u32, imm: u16, hw: u32) -> u32 {
    0xD280_0000 | hw << 21 | u32::from(imm) << 5 | rd
}

fn movk(rd: u32, imm: u16, hw: u32) -> u32 {
    0xF280_0000 | hw << 21 | u32::from(imm) << 5 | rd
}

/// `rd = value` in four words.
pub fn load_constant(rd: u32, value: u64) -> [u32; 4] {
    let part = |hw: u32| (value >> (16 * hw)) as u16;
    [
        movz(rd, part(0), 0),
        movk(rd, part(1), 1),
        movk(rd, part(2), 2),
        movk(rd, part(3), 3),
    ]
}

/// `str xzr, [x0]` with x0 = `exit`, then `b` back to word 0 from word `at`.
fn exit_and_loop(exit: u64, at: usize) -> [u32; 6] {
    let c = load_constant(0, exit);
    let back = (-(at as i64 + 5) as u32) & 0x03FF_FFFF;
    [c[0], c[1], c[2], c[3], 0xF900_001F, 0x1400_0000 | back]
}

/// Words of the program's exit tail.
pub const TAIL: usize = 6;

/// One instruction from the templates (or a random word); never
/// [`SEMIHOSTING`].
fn instruction(rng: &mut Rng) -> u32 {
    let rt = rng.below(32) as u32;
    let rn = 1 + rng.below(u64::from(BASES)) as u32;
    let word = match rng.below(20) {
        // Load/store, unsigned scaled offset: every size, store, load,
        // signed loads and PRFM (opc 0-3).
        0..=8 => {
            let (size, opc) = (rng.below(4) as u32, rng.below(4) as u32);
            let imm12 = if rng.chance(70) {
                0
            } else {
                rng.below(4096) as u32
            };
            0x3900_0000 | size << 30 | opc << 22 | imm12 << 10 | rn << 5 | rt
        }
        // Pre- and post-indexed, unscaled (writeback: no syndrome).
        9 => {
            let (size, opc) = (rng.below(4) as u32, rng.below(4) as u32);
            let imm9 = rng.below(512) as u32;
            let kind = rng.pick(&[0b00, 0b01, 0b11]);
            0x3800_0000 | size << 30 | opc << 22 | imm9 << 12 | kind << 10 | rn << 5 | rt
        }
        // Pairs, exclusives, acquire/release, SIMD Q loads and stores.
        10 => {
            let (imm7, rt2) = (rng.below(128) as u32, rng.below(31) as u32);
            let forms = [
                0xA900_0000 | imm7 << 15 | rt2 << 10 | rn << 5 | rt,
                0xA940_0000 | rt2 << 10 | rn << 5 | rt,
                0xC85F_7C00 | rn << 5 | rt,
                0xC800_7C00 | rt2 << 16 | rn << 5 | rt,
                0xC8DF_FC00 | rn << 5 | rt,
                0xC89F_FC00 | rn << 5 | rt,
                0x3DC0_0000 | rn << 5 | rt,
                0x3D80_0000 | rn << 5 | rt,
            ];
            rng.pick(&forms)
        }
        // MRS/MSR of a random system register (op0 2 or 3).
        11 | 12 => {
            let encoding = rng.below(1 << 15) as u32;
            let read = rng.chance(50);
            (if read { 0xD530_0000 } else { 0xD510_0000 }) | encoding << 5 | rt
        }
        // SYS: DC, IC, AT, TLBI (op0 1) with a random operand register.
        13 => 0xD508_0000 | (rng.below(1 << 14) as u32) << 5 | rt,
        // HVC, SMC (mostly immediate 0), SVC, BRK, HLT.
        14 => {
            let imm = if rng.chance(80) {
                0
            } else {
                rng.below(1 << 16) as u32
            };
            rng.pick(&[
                0xD400_0002,
                0xD400_0003,
                0xD400_0001,
                0xD420_0000,
                0xD440_0000,
            ]) | imm << 5
        }
        // WFI, WFE, SEV, YIELD, NOP, ERET, barriers, IRQ unmask/mask.
        15 => rng.pick(&[
            0xD503_207F,
            0xD503_205F,
            0xD503_209F,
            0xD503_203F,
            0xD503_201F,
            0xD69F_03E0,
            0xD503_3FDF,
            0xD503_3F9F,
            0xD503_3FBF,
            0xD503_42DF,
            0xD503_43DF,
        ]),
        // A short branch, forwards or back.
        16 => 0x1400_0000 | (rng.below(64) as u32).wrapping_sub(32) & 0x03FF_FFFF,
        _ => rng.word(),
    };
    if word == SEMIHOSTING {
        0xD503_201F
    } else {
        word
    }
}

/// Fills `code` (at least [`TAIL`] + 4 words) with a random program that
/// ends with the clean exit (a store of XZR to `exit`) and a branch back
/// to its start. It first loads x1..x8 with addresses from the palette;
/// HVC and SMC find a function ID from the palette in x0.
pub fn program(rng: &mut Rng, code: &mut [u32], palette: &Palette, exit: u64) {
    let body = code.len() - TAIL;
    let mut at = 0;
    let mut put = |at: &mut usize, words: &[u32]| {
        for &w in words {
            if *at < body {
                code[*at] = w;
                *at += 1;
            }
        }
    };
    for rd in 1..=BASES {
        let addr = rng.pick(palette.addrs) + if rng.chance(20) { rng.below(4096) } else { 0 };
        put(&mut at, &load_constant(rd, addr));
    }
    while at < body {
        if rng.chance(10) {
            put(&mut at, &load_constant(0, rng.pick(palette.calls)));
        } else {
            put(&mut at, &[instruction(rng)]);
        }
    }
    code[body..].copy_from_slice(&exit_and_loop(exit, body));
}

/// Fills `code[from..]` with copies of the exit tail (each a store to
/// `exit` and a branch back to word 0), so that a guest landing there (an
/// exception vector after a short program) exits cleanly; words that do not
/// make a whole tail branch back to word 0.
pub fn fill_with_exits(code: &mut [u32], from: usize, exit: u64) {
    let mut at = from;
    while at + TAIL <= code.len() {
        code[at..at + TAIL].copy_from_slice(&exit_and_loop(exit, at));
        at += TAIL;
    }
    for (i, w) in code.iter_mut().enumerate().skip(at) {
        *w = 0x1400_0000 | (-(i as i64) as u32) & 0x03FF_FFFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the MOVZ/MOVK words of `words` on a register file.
    fn movs(words: &[u32]) -> [u64; 32] {
        let mut x = [0u64; 32];
        for &w in words {
            let (rd, imm, shift) = (
                (w & 31) as usize,
                u64::from((w >> 5) & 0xFFFF),
                16 * ((w >> 21) & 3),
            );
            match w & 0xFF80_0000 {
                0xD280_0000 => x[rd] = imm << shift,
                0xF280_0000 => x[rd] = x[rd] & !(0xFFFF << shift) | imm << shift,
                _ => {}
            }
        }
        x
    }

    #[test]
    fn constants_load_exactly() {
        for v in [
            0,
            1,
            0xFFE000,
            0x8_0000_1000,
            u64::MAX,
            0x1234_5678_9ABC_DEF0,
        ] {
            assert_eq!(movs(&load_constant(5, v))[5], v);
        }
    }

    #[test]
    fn programs_end_with_the_exit_and_loop_back() {
        let mut rng = Rng::new(9);
        let palette = Palette {
            addrs: &[0x3000, 0x10_0000],
            calls: &[0x8400_0000],
        };
        let mut code = [0u32; 256];
        for _ in 0..100 {
            program(&mut rng, &mut code, &palette, 0x3000);
            let tail = &code[code.len() - TAIL..];
            assert_eq!(movs(&tail[..4])[0], 0x3000);
            assert_eq!(tail[4], 0xF900_001F, "str xzr, [x0]");
            // b back to word 0: offset -(len - 1) words.
            let back = tail[5] & 0x03FF_FFFF;
            assert_eq!(back as i32 - (1 << 26), -(code.len() as i32 - 1));
            // The base registers hold palette addresses (plus an offset).
            let x = movs(&code[..32]);
            for (r, &value) in x.iter().enumerate().take(9).skip(1) {
                assert!(
                    palette
                        .addrs
                        .iter()
                        .any(|&a| (a..a + 4096).contains(&value)),
                    "x{r} = {value:#x}"
                );
            }
        }
    }

    #[test]
    fn never_semihosting() {
        let mut rng = Rng::new(1);
        assert!((0..200_000).all(|_| instruction(&mut rng) != SEMIHOSTING));
    }

    #[test]
    fn exits_fill_the_rest() {
        let mut code = [0u32; 64];
        fill_with_exits(&mut code, 10, 0x3000);
        for start in (10..64 - TAIL).step_by(TAIL) {
            assert_eq!(movs(&code[start..start + 4])[0], 0x3000);
            assert_eq!(code[start + 4], 0xF900_001F);
            let back = (code[start + 5] & 0x03FF_FFFF) as i32 - (1 << 26);
            assert_eq!(back, -(start as i32 + 5), "branch at {}", start + 5);
        }
        let last = 63;
        assert_eq!(
            (code[last] & 0x03FF_FFFF) as i32 - (1 << 26),
            -(last as i32)
        );
        assert!(code[..10].iter().all(|&w| w == 0));
    }
}
