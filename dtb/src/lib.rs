//! Devicetree facts that the monitor and the EL1 programs must read the same
//! way: where a node's registers really are (its `reg` translated through
//! the `ranges` of every bus above it, as on the BCM2711, whose peripherals
//! sit at bus address 0x7e000000 behind `/soc`), which nodes are memory, and
//! which PL011 is the console; and [`strip_nops`], which makes a blob that
//! firmware edited with NOP tokens readable by `fdt` 0.1.5 (it panics on
//! them); and [`edit`], which rewrites a blob for
//! the monitor's host. Pure and allocation-free; the `builder` feature adds a
//! small FDT writer for tests.
#![cfg_attr(not(any(test, feature = "builder")), no_std)]

#[cfg(any(test, feature = "builder"))]
pub mod builder;
pub mod edit;

use arrayvec::ArrayVec;
use fdt::node::FdtNode;
use fdt::Fdt;

/// Deepest nesting of buses followed when translating an address.
pub const MAX_DEPTH: usize = 16;
/// Most `reg` entries read from one node.
pub const MAX_REGS: usize = 16;

/// A register or memory region, in CPU physical addresses: the half-open
/// range `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub base: u64,
    pub size: u64,
}

impl Region {
    #[inline]
    pub const fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }

    /// One past the last byte, saturating at `u64::MAX`.
    #[inline]
    pub const fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    #[inline]
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.end()
    }

    /// Whether `other` lies entirely inside `self`.
    #[inline]
    pub const fn covers(&self, other: &Region) -> bool {
        other.base >= self.base && other.end() <= self.end()
    }

    #[inline]
    pub const fn overlaps(&self, other: &Region) -> bool {
        self.size != 0 && other.size != 0 && self.base < other.end() && other.base < self.end()
    }
}

/// Devicetree blob magic and structure-block tokens.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
pub const FDT_BEGIN_NODE: u32 = 1;
pub const FDT_END_NODE: u32 = 2;
pub const FDT_PROP: u32 = 3;
pub const FDT_NOP: u32 = 4;
pub const FDT_END: u32 = 9;

fn be32(blob: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        blob.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Length of the structure-block token at `at` (its payload and padding
/// included) and its kind; None past the block or for an unknown token.
fn token(structs: &[u8], at: usize) -> Option<(u32, usize)> {
    let kind = be32(structs, at)?;
    let len = match kind {
        FDT_BEGIN_NODE => {
            let name = structs.get(at + 4..)?;
            4 + (name.iter().position(|&b| b == 0)? + 1).next_multiple_of(4)
        }
        FDT_PROP => 12 + (be32(structs, at + 4)? as usize).next_multiple_of(4),
        FDT_END_NODE | FDT_NOP | FDT_END => 4,
        _ => return None,
    };
    (at + len <= structs.len()).then_some((kind, len))
}

/// Removes the NOP tokens from the structure block of the version 17 blob
/// in `blob`, in place: the block shrinks (its size field says by how
/// much) and everything else stays where it was. Returns false, with the
/// blob unchanged, when it is not a well-formed version 17 blob.
pub fn strip_nops(blob: &mut [u8]) -> bool {
    let header = |at| be32(blob, at).map(|v| v as usize);
    let (Some(magic), Some(off), Some(version), Some(size)) =
        (header(0), header(8), header(20), header(36))
    else {
        return false;
    };
    if magic != FDT_MAGIC as usize || version < 17 {
        return false;
    }
    let Some(structs) = off.checked_add(size).and_then(|end| blob.get_mut(off..end)) else {
        return false;
    };
    // Check the whole block first, so a bad one is left untouched.
    let mut at = 0;
    loop {
        match token(structs, at) {
            Some((FDT_END, _)) => break,
            Some((_, len)) => at += len,
            None => return false,
        }
    }
    let (mut read, mut write) = (0, 0);
    while let Some((kind, len)) = token(structs, read) {
        if kind != FDT_NOP {
            structs.copy_within(read..read + len, write);
            write += len;
        }
        read += len;
        if kind == FDT_END {
            break;
        }
    }
    blob[36..40].copy_from_slice(&(write as u32).to_be_bytes());
    true
}

/// The nodes from the root down to the parent of `node` (empty for the
/// root itself); None when `node` is not found or nests too deep.
fn ancestors<'b, 'a>(
    fdt: &'b Fdt<'a>,
    node: &FdtNode,
) -> Option<ArrayVec<FdtNode<'b, 'a>, MAX_DEPTH>> {
    fn search<'b, 'a>(
        at: FdtNode<'b, 'a>,
        target: &FdtNode,
        path: &mut ArrayVec<FdtNode<'b, 'a>, MAX_DEPTH>,
    ) -> bool {
        if same_node(&at, target) {
            return true;
        }
        if path.try_push(at).is_err() {
            return false;
        }
        if at.children().any(|child| search(child, target, path)) {
            return true;
        }
        path.pop();
        false
    }
    let mut path = ArrayVec::new();
    search(fdt.find_node("/")?, node, &mut path).then_some(path)
}

/// Big-endian cells of `bytes[at..]`, one or two of them; advances `at`.
fn cells(bytes: &[u8], at: &mut usize, count: usize) -> Option<u64> {
    if !(1..=2).contains(&count) {
        return None;
    }
    let mut value = 0u64;
    for _ in 0..count {
        let cell = bytes.get(*at..*at + 4)?;
        value = value << 32 | u64::from(u32::from_be_bytes(cell.try_into().ok()?));
        *at += 4;
    }
    Some(value)
}

/// Maps `addr` through one bus's `ranges` (child address, parent address,
/// size triples); None when no entry covers it.
fn through_ranges(
    ranges: &[u8],
    child: usize,
    parent: usize,
    size: usize,
    addr: u64,
) -> Option<u64> {
    let mut at = 0;
    while at < ranges.len() {
        let child_base = cells(ranges, &mut at, child)?;
        let parent_base = cells(ranges, &mut at, parent)?;
        let len = cells(ranges, &mut at, size)?;
        if addr >= child_base && addr - child_base < len {
            return parent_base.checked_add(addr - child_base);
        }
    }
    None
}

/// Translates `addr`, an address in the bus space of the last node of
/// `path` (root first), to a CPU physical address. An empty `ranges` is an
/// identity map; a bus without `ranges` has no CPU address (None).
fn translate(path: &[FdtNode], mut addr: u64) -> Option<u64> {
    for pair in path.windows(2).rev() {
        let (parent, bus) = (pair[0], pair[1]);
        let ranges = bus.property("ranges")?.value;
        if ranges.is_empty() {
            continue;
        }
        let own = bus.cell_sizes();
        let above = parent.cell_sizes();
        addr = through_ranges(
            ranges,
            own.address_cells,
            above.address_cells,
            own.size_cells,
            addr,
        )?;
    }
    Some(addr)
}

/// The node's `reg` regions in CPU physical addresses, in order; empty when
/// it has none or they cannot be translated. Regions of size 0 are kept.
pub fn regs(fdt: &Fdt, node: &FdtNode) -> ArrayVec<Region, MAX_REGS> {
    let (Some(path), Some(reg)) = (ancestors(fdt, node), node.reg()) else {
        return ArrayVec::new();
    };
    reg.map_while(|r| {
        Some(Region {
            base: translate(&path, r.starting_address as u64)?,
            size: r.size.unwrap_or(0) as u64,
        })
    })
    .take(MAX_REGS)
    .collect()
}

/// The first `reg` region with a non-zero size, in CPU physical addresses.
pub fn first_reg(fdt: &Fdt, node: &FdtNode) -> Option<Region> {
    regs(fdt, node).into_iter().find(|r| r.size != 0)
}

/// Whether the node's `status` lets it be used ("okay", or no status).
pub fn is_enabled(node: &FdtNode) -> bool {
    node.property("status")
        .and_then(|p| p.as_str())
        .is_none_or(|s| s == "okay" || s == "ok")
}

/// Whether one of the node's `compatible` strings is in `names`.
pub fn is_compatible(node: &FdtNode, names: &[&str]) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|s| names.contains(&s)))
}

/// A memory node: `device_type = "memory"`, or named `memory`/`memory@...`.
pub fn is_memory_node(node: &FdtNode) -> bool {
    node.name == "memory"
        || node.name.starts_with("memory@")
        || node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
}

/// Every region of every memory node, in document order.
pub fn memory<'a>(fdt: &'a Fdt<'a>) -> impl Iterator<Item = Region> + 'a {
    fdt.all_nodes()
        .filter(is_memory_node)
        .flat_map(move |node| regs(fdt, &node))
        .filter(|r| r.size != 0)
}

/// The node `/chosen/stdout-path` names (an alias or a path, options after
/// a ':' ignored).
pub fn stdout<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<FdtNode<'b, 'a>> {
    let path = fdt
        .find_node("/chosen")?
        .property("stdout-path")?
        .as_str()?;
    fdt.find_node(path.split(':').next()?)
}

/// The console UART's node: `stdout-path` when it names an enabled PL011,
/// else the first enabled PL011 (the Pi 4's stdout-path names its mini
/// UART, which neither the monitor nor the EL1 programs drive).
pub fn console_pl011_node<'b, 'a>(fdt: &'b Fdt<'a>) -> Option<FdtNode<'b, 'a>> {
    let usable = |n: &FdtNode| is_compatible(n, &["arm,pl011"]) && is_enabled(n);
    stdout(fdt)
        .filter(usable)
        .or_else(|| fdt.all_nodes().find(usable))
}

/// The console UART's registers (see [`console_pl011_node`]).
pub fn console_pl011(fdt: &Fdt) -> Option<Region> {
    first_reg(fdt, &console_pl011_node(fdt)?)
}

/// Whether `a` and `b` are the same node.
pub fn same_node(a: &FdtNode, b: &FdtNode) -> bool {
    a.name.as_ptr() == b.name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use builder::Builder;

    /// A BCM2711-like tree: its /soc, a PCIe-like bus of three address
    /// cells behind /scb, two memory nodes and the mini UART as stdout.
    fn pi_like() -> Vec<u8> {
        let mut b = Builder::new();
        b.begin("")
            .bcm2711_root()
            .begin("memory@0")
            .prop("device_type", b"memory\0")
            .cells("reg", &[0, 0, 0x3b40_0000, 0, 0x4000_0000, 0xbc00_0000])
            .end()
            .begin("sdram@100000000")
            .prop("device_type", b"memory\0")
            .cells("reg", &[1, 0, 0x4000_0000])
            .end()
            .bcm2711_soc()
            .begin("scb")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[1])
            .cells("ranges", &[0, 0x7c00_0000, 0, 0xfc00_0000, 0x380_0000])
            .begin("bus@7d500000")
            .cells("#address-cells", &[3])
            .cells("#size-cells", &[2])
            .cells("ranges", &[0x200_0000, 0, 0xf800_0000, 6, 0, 0, 0x400_0000])
            .end()
            .begin("ethernet@7d580000")
            .cells("reg", &[0, 0x7d58_0000, 0x1_0000])
            .end()
            .end()
            .end();
        b.build()
    }

    fn node<'b, 'a>(fdt: &'b Fdt<'a>, path: &str) -> FdtNode<'b, 'a> {
        fdt.find_node(path).unwrap()
    }

    fn region(base: u64, size: u64) -> Region {
        Region { base, size }
    }

    #[test]
    fn reg_is_translated_through_every_bus() {
        let blob = pi_like();
        let fdt = Fdt::new(&blob).unwrap();
        let gic = node(&fdt, "/soc/interrupt-controller@40041000");
        assert_eq!(
            regs(&fdt, &gic)[..2],
            [region(0xff84_1000, 0x1000), region(0xff84_2000, 0x2000)]
        );
        let eth = node(&fdt, "/scb/ethernet@7d580000");
        assert_eq!(first_reg(&fdt, &eth), Some(region(0xfd58_0000, 0x1_0000)));
    }

    #[test]
    fn untranslatable_reg_is_dropped() {
        let blob = pi_like();
        let fdt = Fdt::new(&blob).unwrap();
        // /soc/firmware has no `ranges`: its children have no CPU address.
        assert!(regs(&fdt, &node(&fdt, "/soc/firmware/child@10")).is_empty());
        // Outside every window of /soc.
        let mut b = Builder::new();
        b.begin("")
            .begin("soc")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[1])
            .cells("ranges", &[0x7e00_0000, 0, 0xfe00_0000, 0x1000])
            .begin("dev@7e002000")
            .cells("reg", &[0x7e00_2000, 0x100])
            .end()
            .end()
            .end();
        let blob = b.build();
        let fdt = Fdt::new(&blob).unwrap();
        assert!(regs(&fdt, &node(&fdt, "/soc/dev@7e002000")).is_empty());
    }

    #[test]
    fn empty_ranges_and_top_level_nodes_map_one_to_one() {
        let mut b = Builder::new();
        b.begin("")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[1])
            .begin("pl011@9000000")
            .prop("compatible", b"arm,pl011\0")
            .cells("reg", &[0x0900_0000, 0x1000])
            .end()
            .begin("bus")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[1])
            .prop("ranges", b"")
            .begin("dev@1000")
            .cells("reg", &[0x1000, 0x10])
            .end()
            .end()
            .end();
        let blob = b.build();
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(
            first_reg(&fdt, &node(&fdt, "/bus/dev@1000")),
            Some(region(0x1000, 0x10))
        );
        // No /chosen at all: the first PL011 is the console.
        assert_eq!(console_pl011(&fdt), Some(region(0x0900_0000, 0x1000)));
    }

    #[test]
    fn console_is_the_first_enabled_pl011_unless_stdout_names_one() {
        let blob = pi_like();
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(stdout(&fdt).unwrap().name, "serial@7e215040");
        assert_eq!(console_pl011(&fdt), Some(region(0xfe20_1000, 0x200)));

        // Two PL011s: stdout naming the second, or the first disabled.
        for (stdout, first_status) in [(Some("/uart@2000"), "okay"), (None, "disabled")] {
            let mut b = Builder::new();
            b.begin("");
            if let Some(path) = stdout {
                b.begin("chosen")
                    .prop("stdout-path", format!("{path}\0").as_bytes())
                    .end();
            }
            b.begin("uart@1000")
                .prop("compatible", b"arm,pl011\0")
                .prop("status", format!("{first_status}\0").as_bytes())
                .cells("reg", &[0, 0x1000, 0x100])
                .end()
                .begin("uart@2000")
                .prop("compatible", b"arm,pl011\0")
                .cells("reg", &[0, 0x2000, 0x100])
                .end()
                .end();
            let blob = b.build();
            let fdt = Fdt::new(&blob).unwrap();
            assert_eq!(console_pl011(&fdt), Some(region(0x2000, 0x100)));
        }
    }

    #[test]
    fn memory_comes_from_every_memory_node() {
        let blob = pi_like();
        let fdt = Fdt::new(&blob).unwrap();
        let all: Vec<Region> = memory(&fdt).collect();
        assert_eq!(
            all,
            [
                region(0, 0x3b40_0000),
                region(0x4000_0000, 0xbc00_0000),
                region(0x1_0000_0000, 0x4000_0000)
            ]
        );
    }

    #[test]
    fn strip_nops_leaves_a_blob_fdt_can_read() {
        let mut b = Builder::new();
        b.begin("")
            .token(FDT_NOP)
            .cells("#address-cells", &[1])
            .begin("gone")
            .end()
            .begin("memory@0")
            .token(FDT_NOP)
            .prop("device_type", b"memory\0")
            .cells("reg", &[0, 0x1000])
            .end()
            .token(FDT_NOP)
            .token(FDT_NOP)
            .end()
            .token(FDT_NOP);
        let mut blob = b.build();
        // A NOP'd node, as libfdt's fdt_nop_node leaves it.
        let gone = blob
            .windows(8)
            .position(|w| w == b"\0\0\0\x01gone")
            .unwrap();
        for word in blob[gone..gone + 16].chunks_exact_mut(4) {
            word.copy_from_slice(&FDT_NOP.to_be_bytes());
        }
        let before = blob.clone();
        assert!(strip_nops(&mut blob));
        assert_eq!(blob.len(), before.len());
        let size = be32(&blob, 36).unwrap();
        assert_eq!(size, be32(&before, 36).unwrap() - 9 * 4);
        let fdt = Fdt::new(&blob).unwrap();
        assert_eq!(memory(&fdt).collect::<Vec<_>>(), [region(0, 0x1000)]);
        assert_eq!(fdt.find_node("/").unwrap().children().count(), 1);
        // Idempotent.
        let once = blob.clone();
        assert!(strip_nops(&mut blob));
        assert_eq!(blob, once);
    }

    #[test]
    fn strip_nops_refuses_bad_blobs_untouched() {
        let mut blob = pi_like();
        let at = 40 + 16 + 8;
        blob[at..at + 4].copy_from_slice(&77u32.to_be_bytes());
        let before = blob.clone();
        assert!(!strip_nops(&mut blob));
        assert_eq!(blob, before);
        assert!(!strip_nops(&mut [0u8; 16]));
        let mut v16 = pi_like();
        v16[20..24].copy_from_slice(&16u32.to_be_bytes());
        assert!(!strip_nops(&mut v16));
    }

    #[test]
    fn status_and_compatible() {
        let blob = pi_like();
        let fdt = Fdt::new(&blob).unwrap();
        let off = node(&fdt, "/soc/serial@7e201400");
        assert!(!is_enabled(&off));
        assert!(is_compatible(&off, &["x", "arm,primecell"]));
        assert!(is_enabled(&node(&fdt, "/soc")));
        assert!(!is_compatible(&node(&fdt, "/soc"), &["arm,pl011"]));
    }
}
