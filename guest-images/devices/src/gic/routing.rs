//! Which vCPU an SPI goes to: GICv2's GICD_ITARGETSR byte (a CPU mask) or GICv3's
//! GICD_IROUTER (an affinity, vCPU n being Aff0 = n, or IRM = 1 for "any").

/// The IROUTER bits that are stored: Aff0-Aff2 and Interrupt_Routing_Mode. Aff3 is RES0 as
/// GICD_TYPER.A3V is 0.
pub const ROUTER_BITS: u64 = 0x8000_0000 | 0x00FF_FFFF;

/// IROUTER.Interrupt_Routing_Mode: 1 = to any participating PE.
const IRM: u64 = 1 << 31;

/// The bits of `vcpu` mask of `num_vcpus` vCPUs (one bit each, bit n = vCPU n).
pub fn vcpu_mask(num_vcpus: usize) -> u32 {
    (1u32 << num_vcpus) - 1
}

/// The vCPU an SPI with `targets` (ITARGETSR byte) goes to: the lowest one targeted (Linux
/// targets one at a time), or with a single vCPU that one regardless; `None` if no existing
/// vCPU is targeted.
pub fn by_targets(targets: u8, num_vcpus: usize) -> Option<usize> {
    if num_vcpus == 1 {
        return Some(0);
    }
    let targets = u32::from(targets) & vcpu_mask(num_vcpus);
    (targets != 0).then(|| targets.trailing_zeros() as usize)
}

/// The vCPU an SPI with `router` (IROUTER) goes to. IRM = 1 ("any participating CPU")
/// picks vCPU 0, which every guest has; otherwise Aff0 names the vCPU, which must exist
/// (Aff1/Aff2 zero).
pub fn by_router(router: u64, num_vcpus: usize) -> Option<usize> {
    if router & IRM != 0 {
        return Some(0);
    }
    let vcpu = (router & ROUTER_BITS) as usize;
    (vcpu < num_vcpus).then_some(vcpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pick_the_lowest_targeted_vcpu() {
        assert_eq!(by_targets(0b0100, 4), Some(2));
        assert_eq!(by_targets(0b0110, 4), Some(1));
    }

    #[test]
    fn targets_naming_no_existing_vcpu_go_nowhere() {
        assert_eq!(by_targets(0, 2), None);
        assert_eq!(by_targets(0b1100, 2), None);
    }

    #[test]
    fn a_single_vcpu_takes_every_spi() {
        assert_eq!(by_targets(0, 1), Some(0));
    }

    #[test]
    fn router_aff0_names_the_vcpu() {
        assert_eq!(by_router(1, 2), Some(1));
        assert_eq!(by_router(0, 2), Some(0));
    }

    #[test]
    fn router_to_a_missing_vcpu_goes_nowhere() {
        assert_eq!(by_router(2, 2), None);
        assert_eq!(by_router(1 << 8, 2), None, "Aff1 = 1 is another cluster");
        assert_eq!(by_router(0xFF, 8), None);
    }

    #[test]
    fn router_irm_picks_vcpu_0() {
        assert_eq!(by_router(IRM | 7, 4), Some(0));
        assert_eq!(by_router(IRM, 1), Some(0));
    }

    #[test]
    fn vcpu_masks() {
        assert_eq!(vcpu_mask(1), 1);
        assert_eq!(vcpu_mask(8), 0xFF);
    }
}
