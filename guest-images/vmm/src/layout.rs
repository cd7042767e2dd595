//! Where the guest's RAM is and where the kernel, initrd and DTB go in it:
//! RAM at 0x4000_0000 as on QEMU virt, the kernel at the start (plus its
//! text_offset), the DTB in the last 2 MiB and the initrd right below it,
//! the way arm64 Linux's boot protocol asks.

use crate::image::Kernel;
use crate::{err, Error};
use core::ops::Range;
use syscalls::hypervisor::GUEST_PHYS_ASPACE_SIZE;

/// Guest-physical base of RAM (2 MiB aligned, as the boot protocol needs).
pub const RAM_BASE: u64 = 0x4000_0000;
/// The DTB's space at the top of RAM: one 2 MiB block, its maximum size.
pub const DTB_SPACE: u64 = 2 << 20;
const PAGE: u64 = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub ram: Range<u64>,
    /// The kernel's first byte, where vCPU 0 starts.
    pub kernel: u64,
    pub initrd: Option<Range<u64>>,
    pub dtb: u64,
}

/// Lays out `mem` bytes of guest RAM for a `kernel` file of `kernel_size`
/// bytes and an initrd of `initrd_size` bytes.
pub fn plan(
    mem: u64,
    kernel: Kernel,
    kernel_size: u64,
    initrd_size: Option<u64>,
) -> Result<Layout, Error> {
    if mem < 2 * DTB_SPACE {
        return Err(err!("{} MiB of guest RAM is too little", mem >> 20));
    }
    let end = RAM_BASE
        .checked_add(mem)
        .filter(|&end| end <= GUEST_PHYS_ASPACE_SIZE)
        .ok_or_else(|| {
            err!(
                "vmm.mem: {} MiB of guest RAM at {RAM_BASE:#x} does not fit the guest's {} GiB \
                 address space (at most {} MiB)",
                mem >> 20,
                GUEST_PHYS_ASPACE_SIZE >> 30,
                (GUEST_PHYS_ASPACE_SIZE - RAM_BASE) >> 20
            )
        })?;
    let ram = RAM_BASE..end;
    let dtb = ram.end - DTB_SPACE;
    let footprint = kernel.footprint(kernel_size);
    let too_little = || {
        err!(
            "{} MiB of guest RAM cannot hold the kernel ({} MiB from offset {:#x}), the initrd \
             ({} MiB) and the DTB (2 MiB): raise vmm.mem",
            mem >> 20,
            footprint.div_ceil(1 << 20),
            kernel.load_offset(),
            initrd_size.unwrap_or(0).div_ceil(1 << 20),
        )
    };
    let start = RAM_BASE
        .checked_add(kernel.load_offset())
        .ok_or_else(too_little)?;
    let kernel_end = start.checked_add(footprint).ok_or_else(too_little)?;
    let initrd = match initrd_size {
        // The initrd ends at or below the DTB, so its end cannot wrap.
        Some(size) if size <= dtb - RAM_BASE => {
            let base = (dtb - size) & !(PAGE - 1);
            Some(base..base + size)
        }
        Some(_) => return Err(too_little()),
        None => None,
    };
    let below = initrd.as_ref().map_or(dtb, |r| r.start);
    if kernel_end > below {
        return Err(too_little());
    }
    Ok(Layout {
        ram,
        kernel: start,
        initrd,
        dtb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;
    const DEBIAN: Kernel = Kernel::Linux {
        text_offset: 0,
        image_size: 0x201_0000,
    };

    #[test]
    fn debian_kernel_in_256_mib() {
        let l = plan(256 * MB, DEBIAN, 0x1f6_e000, Some(0x10_0123)).unwrap();
        assert_eq!(l.ram, 0x4000_0000..0x5000_0000);
        assert_eq!(l.kernel, 0x4000_0000);
        assert_eq!(l.dtb, 0x4fe0_0000);
        assert_eq!(l.initrd, Some(0x4fcf_f000..0x4fcf_f000 + 0x10_0123));
    }

    #[test]
    fn text_offset_moves_the_kernel() {
        let k = Kernel::Linux {
            text_offset: 0x8_0000,
            image_size: 0x10_0000,
        };
        let l = plan(64 * MB, k, 0x8_0000, None).unwrap();
        assert_eq!(l.kernel, 0x4008_0000);
        assert_eq!(l.initrd, None);
    }

    #[test]
    fn the_initrd_stays_clear_of_the_kernels_bss() {
        let k = Kernel::Linux {
            text_offset: 0x8_0000,
            image_size: 0x10_0000,
        };
        // The kernel needs up to 0x4018_0000; the DTB starts at 0x4060_0000.
        let l = plan(8 * MB, k, 0x8_0000, Some(0x48_0000)).unwrap();
        assert_eq!(l.initrd, Some(0x4018_0000..0x4060_0000));
        assert!(plan(8 * MB, k, 0x8_0000, Some(0x48_0001)).is_err());
    }

    #[test]
    fn raw_binaries_start_at_the_base() {
        let l = plan(8 * MB, Kernel::Raw, 100, None).unwrap();
        assert_eq!((l.kernel, l.dtb), (RAM_BASE, RAM_BASE + 6 * MB));
    }

    #[test]
    fn too_little_ram_says_so() {
        let e = plan(34 * MB, DEBIAN, 0x1f6_e000, Some(2 * MB)).unwrap_err();
        assert!(e.contains("34 MiB of guest RAM cannot hold"), "{e}");
        assert!(plan(38 * MB, DEBIAN, 0x1f6_e000, Some(2 * MB)).is_ok());
        let e = plan(4 * MB, Kernel::Raw, 100, Some(8 * MB)).unwrap_err();
        assert!(e.contains("raise vmm.mem"), "{e}");
        assert!(plan(2 * MB, Kernel::Raw, 100, None)
            .unwrap_err()
            .contains("too little"));
    }

    /// Sizes near u64::MAX must be refused, not wrap past the end of RAM.
    #[test]
    fn huge_sizes_do_not_wrap() {
        let refused = |k: Kernel, kernel_size: u64, initrd: Option<u64>| {
            let e = plan(16 * MB, k, kernel_size, initrd).unwrap_err();
            assert!(e.contains("raise vmm.mem"), "{e}");
        };
        let image = |text_offset, image_size| Kernel::Linux {
            text_offset,
            image_size,
        };
        refused(image(0, 300 * MB), 0x1000, None);
        refused(image(0, u64::MAX), 0x1000, None);
        refused(image(0, u64::MAX - RAM_BASE + 0x1000), 0x1000, None);
        refused(image(u64::MAX - 0xfff, 0x1000), 0x1000, None);
        refused(image(0, 0x1000), u64::MAX, None);
        refused(Kernel::Raw, u64::MAX, None);
        refused(Kernel::Raw, u64::MAX - RAM_BASE + 1, None);
        refused(Kernel::Raw, 100, Some(u64::MAX));
        refused(Kernel::Raw, 100, Some(14 * MB + 1));
        assert!(plan(16 * MB, Kernel::Raw, 100, Some(14 * MB - PAGE)).is_ok());
        let e = plan(!(2 * MB - 1), Kernel::Raw, 100, None).unwrap_err();
        assert!(
            e.contains("does not fit the guest's 64 GiB address space"),
            "{e}"
        );
        let most = GUEST_PHYS_ASPACE_SIZE - RAM_BASE;
        assert!(plan(most, Kernel::Raw, 100, None).is_ok());
        let e = plan(most + 2 * MB, Kernel::Raw, 100, None).unwrap_err();
        assert!(e.contains("(at most 64512 MiB)"), "{e}");
    }
}
