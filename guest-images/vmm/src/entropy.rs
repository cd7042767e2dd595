//! The virtio-rng device's source: the CPU's random number generator (FEAT_RNG, the RNDR
//! register) where ID_AA64ISAR0_EL1 says it has one, as on QEMU `-cpu max`. Without it
//! (the Raspberry Pi 4's Cortex-A72) the bytes come from a SplitMix64 sequence seeded and
//! stirred with the generic counter: unpredictable enough to seed a guest's pool for tests,
//! but no cryptographic source.

use zxv_devices::virtio::EntropySource;

pub struct Entropy {
    rndr: bool,
    state: u64,
}

fn counter() -> u64 {
    let now: u64;
    // SAFETY: reading the counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntpct_el0", out(reg) now) };
    now
}

/// One RNDR read; `None` when the generator had nothing (it sets Z then).
fn rndr() -> Option<u64> {
    let (value, nzcv): (u64, u64);
    // SAFETY: reading RNDR (s3_3_c2_c4_0) only returns a random number and sets the
    // flags; it is read only where ID_AA64ISAR0_EL1 says the CPU has it.
    unsafe {
        core::arch::asm!("mrs {}, s3_3_c2_c4_0", "mrs {}, nzcv", out(reg) value, out(reg) nzcv)
    };
    (nzcv & (1 << 30) == 0).then_some(value)
}

impl Entropy {
    pub fn new() -> Self {
        let isar0: u64;
        // SAFETY: reading an ID register has no side effects.
        unsafe { core::arch::asm!("mrs {}, id_aa64isar0_el1", out(reg) isar0) };
        Entropy {
            rndr: isar0 >> 60 != 0,
            state: counter(),
        }
    }

    /// Where the bytes come from, for the VMM's report.
    pub fn source(&self) -> &'static str {
        if self.rndr {
            "the CPU's RNDR"
        } else {
            "the generic counter (no RNDR: not a cryptographic source)"
        }
    }

    fn next(&mut self) -> u64 {
        if self.rndr {
            for _ in 0..16 {
                if let Some(v) = rndr() {
                    return v;
                }
            }
        }
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15) ^ counter().rotate_left(29);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl EntropySource for Entropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
