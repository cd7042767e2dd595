//! Rewriting the platform devicetree for the EL1 host (docs/abi.md §1).
//!
//! This module owns the transformation of the flattened devicetree (FDT) the firmware hands to
//! the monitor into the one the monitor hands to the host: monitor memory is cut out of every
//! memory node's `reg`, chosen properties (the initrd that carried the host image) are dropped,
//! and memory reservations are appended. Everything else is copied unchanged.
//!
//! The structure block is streamed token by token into a new blob; nothing is allocated. Every
//! offset and length is checked against the input, so a malformed blob gives an error, never a
//! panic or an endless loop.

use crate::Region as Range;
use crate::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_NOP, FDT_PROP};
use core::fmt;

/// Size of the version 17 header.
const HEADER_SIZE: usize = 40;
/// Size of one memory reservation entry (address, size).
const RSV_ENTRY_SIZE: usize = 16;
/// The version written, and the oldest one read (older headers lack fields we rely on).
const VERSION: u32 = 17;
const MIN_VERSION: u32 = 16;
const LAST_COMP_VERSION: u32 = 16;
/// Deepest node nesting accepted (libfdt uses the same limit).
const MAX_DEPTH: usize = 64;

/// One past the last byte of `r`, computed without overflow.
fn range_end(r: Range) -> u128 {
    u128::from(r.base) + u128::from(r.size)
}

/// What [`rewrite`] changes in the devicetree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Edit<'a> {
    /// Physical ranges the host must not see as RAM: cut out of every memory node's `reg`.
    ///
    /// A memory node is any node (other than the root) named `memory` or `memory@...`, or
    /// having `device_type = "memory"`. Its `reg` pairs are read with the parent's
    /// `#address-cells` / `#size-cells` (default 2 / 1, values 1 and 2 supported). A pair may
    /// vanish, shrink or split; pairs keep their order. A node whose pairs all vanish keeps an
    /// empty `reg`.
    pub remove_memory: &'a [Range],
    /// Property names to delete from `/chosen` (e.g. `linux,initrd-start`, `linux,initrd-end`).
    pub drop_chosen_props: &'a [&'a str],
    /// Entries appended to the memory reservation block (e.g. the DTB's own location).
    /// Entries of size 0 are skipped, since `(0, 0)` would end the block.
    pub add_memreserve: &'a [Range],
}

/// Why a devicetree could not be rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// The blob does not start with the FDT magic 0xd00dfeed.
    BadMagic,
    /// A header field, block, token or property points outside the blob.
    Truncated,
    /// The header's version is older than 16, or its last compatible version newer than 17.
    UnsupportedVersion(u32),
    /// The structure block holds an unknown token.
    BadToken(u32),
    /// The tokens are not one well-nested root node followed by FDT_END.
    BadStructure,
    /// A property name offset lies outside the strings block or is not NUL-terminated.
    BadString,
    /// Nodes are nested deeper than 64 levels.
    TooDeep,
    /// A memory node's `reg` is not a whole number of (address, size) pairs, or a piece left
    /// after cutting does not fit in the parent's `#address-cells`.
    BadReg,
    /// A memory node's parent has `#address-cells` / `#size-cells` other than 1 or 2
    /// (`u32::MAX` stands for a property that is not exactly one cell).
    UnsupportedCells {
        /// The parent's `#address-cells`.
        address_cells: u32,
        /// The parent's `#size-cells`.
        size_cells: u32,
    },
    /// The output buffer is smaller than the rewritten blob, which needs `need` bytes.
    BufferTooSmall {
        /// Size of the rewritten blob.
        need: usize,
    },
    /// The rewritten blob would be larger than 4 GiB.
    TooLarge,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadMagic => f.write_str("not a devicetree (bad magic)"),
            Self::Truncated => f.write_str("devicetree truncated"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported devicetree version {v}"),
            Self::BadToken(t) => write!(f, "bad devicetree token {t:#x}"),
            Self::BadStructure => f.write_str("malformed devicetree structure block"),
            Self::BadString => f.write_str("bad devicetree property name offset"),
            Self::TooDeep => write!(f, "devicetree nested deeper than {MAX_DEPTH} levels"),
            Self::BadReg => f.write_str("malformed or unrepresentable memory node reg"),
            Self::UnsupportedCells {
                address_cells,
                size_cells,
            } => {
                write!(
                    f,
                    "memory reg with {address_cells} address and {size_cells} size cells"
                )
            }
            Self::BufferTooSmall { need } => write!(f, "devicetree needs a {need}-byte buffer"),
            Self::TooLarge => f.write_str("rewritten devicetree larger than 4 GiB"),
        }
    }
}

/// Writes the edited devicetree (version 17) into `out` and returns its size.
///
/// The output holds the header, the memory reservation block (the input's entries followed by
/// [`Edit::add_memreserve`]), the structure block (NOP tokens dropped) and the input's strings
/// block, in that order. On error the contents of `out` are unspecified.
pub fn rewrite(dtb: &[u8], edit: &Edit, out: &mut [u8]) -> Result<usize, DtbError> {
    let size = emit(dtb, edit, out)?;
    if size > out.len() {
        return Err(DtbError::BufferTooSmall { need: size });
    }
    Ok(size)
}

/// Size of the blob [`rewrite`] produces for these arguments, for sizing its output buffer.
///
/// The value is exact; callers need only rely on it being an upper bound.
pub fn max_output_size(dtb: &[u8], edit: &Edit) -> Result<usize, DtbError> {
    emit(dtb, edit, &mut [])
}

/// Validated pieces of the input blob.
struct Input<'a> {
    boot_cpuid_phys: u32,
    /// Memory reservation entries, without the terminating (0, 0) entry.
    reservations: &'a [u8],
    structs: &'a [u8],
    strings: &'a [u8],
}

/// `#address-cells` / `#size-cells` a node defines for its children.
#[derive(Clone, Copy)]
struct Cells {
    address: u32,
    size: u32,
}

impl Cells {
    /// The devicetree specification's defaults for a node without the properties.
    const DEFAULT: Self = Self {
        address: 2,
        size: 1,
    };
}

/// How the properties of an open node are treated.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    /// A memory node; the parent's cells describe its `reg`.
    Memory(Cells),
    Chosen,
}

/// One open node of the walk.
#[derive(Clone, Copy)]
struct Frame {
    /// Cells this node defines for its children.
    cells: Cells,
    kind: Kind,
}

/// One structure block token.
enum Token<'a> {
    /// FDT_BEGIN_NODE with the node's name (without its NUL).
    Begin(&'a [u8]),
    End,
    Prop {
        nameoff: u32,
        name: &'a [u8],
        value: &'a [u8],
    },
    Nop,
    Finish,
}

/// Output that counts every byte but stores only those that fit.
struct Sink<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    fn put_u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }

    fn put_u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }

    /// Pads with zeros to a multiple of 4 bytes.
    fn align4(&mut self) {
        let pad = self.pos.wrapping_neg() % 4;
        self.put(&[0; 3][..pad]);
    }

    /// Value of `cells` (1 or 2) cells.
    fn put_cells(&mut self, cells: u32, v: u64) {
        if cells == 1 {
            // Callers check that the value fits in one cell.
            self.put_u32(v as u32);
        } else {
            self.put_u64(v);
        }
    }
}

/// Bounds-checked `bytes[off..off + len]`.
fn sub(bytes: &[u8], off: usize, len: usize) -> Result<&[u8], DtbError> {
    let end = off.checked_add(len).ok_or(DtbError::Truncated)?;
    bytes.get(off..end).ok_or(DtbError::Truncated)
}

fn be32(bytes: &[u8], off: usize) -> Result<u32, DtbError> {
    let b = sub(bytes, off, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be64(bytes: &[u8], off: usize) -> Result<u64, DtbError> {
    Ok(u64::from(be32(bytes, off)?) << 32 | u64::from(be32(bytes, off + 4)?))
}

/// Bytes up to (not including) the first NUL.
fn cstr(bytes: &[u8]) -> Option<&[u8]> {
    bytes.iter().position(|&b| b == 0).map(|n| &bytes[..n])
}

fn align4(off: usize) -> usize {
    off.saturating_add(3) & !3
}

fn to_usize(v: u32) -> usize {
    // Lossless on the 32- and 64-bit targets this crate builds for.
    v as usize
}

fn parse_header(dtb: &[u8]) -> Result<Input<'_>, DtbError> {
    if be32(dtb, 0)? != FDT_MAGIC {
        return Err(DtbError::BadMagic);
    }
    let totalsize = to_usize(be32(dtb, 4)?);
    let dtb = dtb.get(..totalsize).ok_or(DtbError::Truncated)?;
    let off_dt_struct = to_usize(be32(dtb, 8)?);
    let off_dt_strings = to_usize(be32(dtb, 12)?);
    let off_mem_rsvmap = to_usize(be32(dtb, 16)?);
    let version = be32(dtb, 20)?;
    let last_comp_version = be32(dtb, 24)?;
    if version < MIN_VERSION {
        return Err(DtbError::UnsupportedVersion(version));
    }
    if last_comp_version > VERSION {
        return Err(DtbError::UnsupportedVersion(last_comp_version));
    }
    let boot_cpuid_phys = be32(dtb, 28)?;
    let size_dt_strings = to_usize(be32(dtb, 32)?);
    let size_dt_struct = if version >= 17 {
        to_usize(be32(dtb, 36)?)
    } else {
        dtb.len()
            .checked_sub(off_dt_struct)
            .ok_or(DtbError::Truncated)?
    };

    let mut entries = 0;
    loop {
        let off = entries * RSV_ENTRY_SIZE;
        let rsv = sub(dtb, off_mem_rsvmap, off + RSV_ENTRY_SIZE)?;
        if be64(rsv, off)? == 0 && be64(rsv, off + 8)? == 0 {
            break;
        }
        entries += 1;
    }

    Ok(Input {
        boot_cpuid_phys,
        reservations: sub(dtb, off_mem_rsvmap, entries * RSV_ENTRY_SIZE)?,
        structs: sub(dtb, off_dt_struct, size_dt_struct)?,
        strings: sub(dtb, off_dt_strings, size_dt_strings)?,
    })
}

/// Decodes the token at `off` of the structure block; returns it and the next token's offset.
fn next_token<'a>(input: &Input<'a>, off: usize) -> Result<(Token<'a>, usize), DtbError> {
    let structs = input.structs;
    let tag = be32(structs, off)?;
    let body = off + 4;
    match tag {
        FDT_BEGIN_NODE => {
            let name = cstr(&structs[body..]).ok_or(DtbError::Truncated)?;
            Ok((Token::Begin(name), align4(body + name.len() + 1)))
        }
        FDT_END_NODE => Ok((Token::End, body)),
        FDT_PROP => {
            let len = to_usize(be32(structs, body)?);
            let nameoff = be32(structs, body + 4)?;
            let value = sub(structs, body + 8, len)?;
            let name = input
                .strings
                .get(to_usize(nameoff)..)
                .and_then(cstr)
                .ok_or(DtbError::BadString)?;
            Ok((
                Token::Prop {
                    nameoff,
                    name,
                    value,
                },
                align4(body + 8 + len),
            ))
        }
        FDT_NOP => Ok((Token::Nop, body)),
        FDT_END => Ok((Token::Finish, body)),
        other => Err(DtbError::BadToken(other)),
    }
}

/// What a node's own properties say, wherever they appear among its children.
struct NodeInfo {
    device_type_memory: bool,
    cells: Cells,
}

/// Scans the node whose first token is at `off` up to its FDT_END_NODE.
fn scan_node(input: &Input, mut off: usize) -> Result<NodeInfo, DtbError> {
    let mut info = NodeInfo {
        device_type_memory: false,
        cells: Cells::DEFAULT,
    };
    let mut depth = 0usize;
    loop {
        let (token, next) = next_token(input, off)?;
        off = next;
        match token {
            Token::Begin(_) => depth += 1,
            Token::End if depth == 0 => return Ok(info),
            Token::End => depth -= 1,
            Token::Prop { name, value, .. } if depth == 0 => match name {
                b"device_type" => {
                    info.device_type_memory = cstr(value).unwrap_or(value) == b"memory";
                }
                b"#address-cells" => info.cells.address = cell_value(value),
                b"#size-cells" => info.cells.size = cell_value(value),
                _ => {}
            },
            Token::Prop { .. } | Token::Nop => {}
            Token::Finish => return Err(DtbError::BadStructure),
        }
    }
}

/// A one-cell property's value, or `u32::MAX` (unsupported) when it is not one cell.
fn cell_value(value: &[u8]) -> u32 {
    match *value {
        [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => u32::MAX,
    }
}

fn is_memory_name(name: &[u8]) -> bool {
    name == b"memory" || name.starts_with(b"memory@")
}

/// Builds the output, storing what fits in `out`; returns the full output size.
fn emit(dtb: &[u8], edit: &Edit, out: &mut [u8]) -> Result<usize, DtbError> {
    let input = parse_header(dtb)?;
    let mut sink = Sink { out, pos: 0 };

    sink.put(&[0; HEADER_SIZE]);
    let off_mem_rsvmap = sink.pos;
    sink.put(input.reservations);
    for r in edit.add_memreserve.iter().filter(|r| r.size != 0) {
        sink.put_u64(r.base);
        sink.put_u64(r.size);
    }
    sink.put(&[0; RSV_ENTRY_SIZE]);

    let off_dt_struct = sink.pos;
    walk(&input, edit, &mut sink)?;
    let size_dt_struct = sink.pos - off_dt_struct;

    let off_dt_strings = sink.pos;
    sink.put(input.strings);
    let totalsize = sink.pos;

    let field = |v: usize| u32::try_from(v).map_err(|_| DtbError::TooLarge);
    let header = [
        FDT_MAGIC,
        field(totalsize)?,
        field(off_dt_struct)?,
        field(off_dt_strings)?,
        field(off_mem_rsvmap)?,
        VERSION,
        LAST_COMP_VERSION,
        input.boot_cpuid_phys,
        field(input.strings.len())?,
        field(size_dt_struct)?,
    ];
    if let Some(dst) = sink.out.get_mut(..HEADER_SIZE) {
        for (chunk, v) in dst.chunks_exact_mut(4).zip(header) {
            chunk.copy_from_slice(&v.to_be_bytes());
        }
    }
    Ok(totalsize)
}

/// Streams the structure block into `sink`, applying `edit`.
fn walk(input: &Input, edit: &Edit, sink: &mut Sink) -> Result<(), DtbError> {
    let mut stack = [Frame {
        cells: Cells::DEFAULT,
        kind: Kind::Plain,
    }; MAX_DEPTH];
    let mut depth = 0usize;
    let mut root_done = false;
    let mut off = 0;
    loop {
        let (token, next) = next_token(input, off)?;
        match token {
            Token::Begin(name) => {
                if root_done {
                    return Err(DtbError::BadStructure);
                }
                if depth == MAX_DEPTH {
                    return Err(DtbError::TooDeep);
                }
                let info = scan_node(input, next)?;
                let kind = match depth.checked_sub(1).map(|d| stack[d].cells) {
                    Some(parent) if info.device_type_memory || is_memory_name(name) => {
                        Kind::Memory(parent)
                    }
                    _ if depth == 1 && name == b"chosen" => Kind::Chosen,
                    _ => Kind::Plain,
                };
                stack[depth] = Frame {
                    cells: info.cells,
                    kind,
                };
                depth += 1;
                sink.put_u32(FDT_BEGIN_NODE);
                sink.put(name);
                sink.put(&[0]);
                sink.align4();
            }
            Token::End => {
                depth = depth.checked_sub(1).ok_or(DtbError::BadStructure)?;
                root_done = depth == 0;
                sink.put_u32(FDT_END_NODE);
            }
            Token::Prop {
                nameoff,
                name,
                value,
            } => {
                let frame = depth
                    .checked_sub(1)
                    .map(|d| stack[d])
                    .ok_or(DtbError::BadStructure)?;
                let dropped = || edit.drop_chosen_props.iter().any(|p| p.as_bytes() == name);
                match frame.kind {
                    Kind::Memory(cells) if name == b"reg" => {
                        put_reg(sink, nameoff, value, cells, edit.remove_memory)?;
                    }
                    Kind::Chosen if dropped() => {}
                    _ => {
                        sink.put_u32(FDT_PROP);
                        sink.put_u32(u32::try_from(value.len()).map_err(|_| DtbError::TooLarge)?);
                        sink.put_u32(nameoff);
                        sink.put(value);
                        sink.align4();
                    }
                }
            }
            Token::Nop => {}
            Token::Finish => {
                if !root_done {
                    return Err(DtbError::BadStructure);
                }
                sink.put_u32(FDT_END);
                return Ok(());
            }
        }
        off = next;
    }
}

/// Writes a memory node's `reg` with `remove` cut out of each (address, size) pair.
fn put_reg(
    sink: &mut Sink,
    nameoff: u32,
    value: &[u8],
    cells: Cells,
    remove: &[Range],
) -> Result<(), DtbError> {
    if !matches!(cells.address, 1 | 2) || !matches!(cells.size, 1 | 2) {
        return Err(DtbError::UnsupportedCells {
            address_cells: cells.address,
            size_cells: cells.size,
        });
    }
    let address_bytes = to_usize(cells.address) * 4;
    let pair_bytes = address_bytes + to_usize(cells.size) * 4;
    if !value.len().is_multiple_of(pair_bytes) {
        return Err(DtbError::BadReg);
    }
    let read = |bytes: &[u8], off: usize, n: u32| {
        if n == 1 {
            be32(bytes, off).map(u64::from)
        } else {
            be64(bytes, off)
        }
    };
    let pairs = || {
        value.chunks_exact(pair_bytes).map(move |pair| {
            Ok(Range {
                base: read(pair, 0, cells.address)?,
                size: read(pair, address_bytes, cells.size)?,
            })
        })
    };

    // The first pass counts and validates the pieces, the second writes them.
    let mut count = 0usize;
    for pair in pairs() {
        for_each_piece(pair?, remove, |piece| {
            if cells.address == 1 && piece.base > u64::from(u32::MAX) {
                return Err(DtbError::BadReg);
            }
            count += 1;
            Ok(())
        })?;
    }
    let len = count.checked_mul(pair_bytes).ok_or(DtbError::TooLarge)?;
    sink.put_u32(FDT_PROP);
    sink.put_u32(u32::try_from(len).map_err(|_| DtbError::TooLarge)?);
    sink.put_u32(nameoff);
    for pair in pairs() {
        for_each_piece(pair?, remove, |piece| {
            sink.put_cells(cells.address, piece.base);
            sink.put_cells(cells.size, piece.size);
            Ok(())
        })?;
    }
    Ok(())
}

/// Calls `f` with the pieces of `pair` outside every range of `remove`, in ascending order.
///
/// A pair of size 0, or one no range overlaps, is passed on unchanged. Pieces never
/// grow, so a piece's size fits wherever the pair's size did.
fn for_each_piece(
    pair: Range,
    remove: &[Range],
    mut f: impl FnMut(Range) -> Result<(), DtbError>,
) -> Result<(), DtbError> {
    let end = range_end(pair);
    let overlapping = |from: u128| {
        remove
            .iter()
            .filter(move |r| r.size != 0 && range_end(**r) > from && u128::from(r.base) < end)
    };
    if pair.size == 0 || overlapping(u128::from(pair.base)).next().is_none() {
        return f(pair);
    }
    // Each round skips past the lowest range still overlapping [cur, end), so `cur` strictly
    // grows and the loop ends after at most `remove.len()` rounds.
    let mut cur = u128::from(pair.base);
    while let Some(r) = overlapping(cur).min_by_key(|r| r.base) {
        let start = u128::from(r.base);
        if start > cur {
            piece(cur, start, &mut f)?;
        }
        cur = range_end(*r);
    }
    if cur < end {
        piece(cur, end, &mut f)?;
    }
    Ok(())
}

/// Passes `[start, end)`, which lies within a pair, to `f`; `BadReg` if the pair runs past 2^64
/// and the piece starts there.
fn piece(
    start: u128,
    end: u128,
    f: &mut impl FnMut(Range) -> Result<(), DtbError>,
) -> Result<(), DtbError> {
    let base = u64::try_from(start).map_err(|_| DtbError::BadReg)?;
    let size = u64::try_from(end - start).map_err(|_| DtbError::BadReg)?;
    f(Range { base, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{cells, Builder};

    const GICV3: &[u8] = include_bytes!("../../el2/testdata/virt-gicv3-smp4.dtb");
    const GICV2: &[u8] = include_bytes!("../../el2/testdata/virt-gicv2-smp2.dtb");
    const INITRD: &[&str] = &["linux,initrd-start", "linux,initrd-end"];

    fn r(base: u64, size: u64) -> Range {
        Range { base, size }
    }

    fn remove(ranges: &[Range]) -> Edit<'_> {
        Edit {
            remove_memory: ranges,
            ..Edit::default()
        }
    }

    /// Rewrites into a buffer of exactly `max_output_size` bytes.
    fn run(dtb: &[u8], edit: &Edit) -> Vec<u8> {
        let size = max_output_size(dtb, edit).unwrap();
        let mut out = vec![0xAA; size];
        assert_eq!(rewrite(dtb, edit, &mut out), Ok(size));
        out
    }

    fn header(blob: &[u8], field: usize) -> u32 {
        be32(blob, field * 4).unwrap()
    }

    type Props = Vec<(String, Vec<u8>)>;

    /// Every node as (path, properties), in document order, as the `fdt` crate reads them.
    fn tree(blob: &[u8]) -> Vec<(String, Props)> {
        fn visit(node: fdt::node::FdtNode, path: String, out: &mut Vec<(String, Props)>) {
            let props = node
                .properties()
                .map(|p| (p.name.into(), p.value.to_vec()))
                .collect();
            out.push((path.clone(), props));
            for child in node.children() {
                let base = if path == "/" { "" } else { path.as_str() };
                visit(child, format!("{base}/{}", child.name), out);
            }
        }
        let fdt = fdt::Fdt::new(blob).unwrap();
        let mut out = Vec::new();
        visit(fdt.find_node("/").unwrap(), "/".into(), &mut out);
        out
    }

    /// `tree` without the listed (path, property) pairs.
    fn tree_without(blob: &[u8], skip: &[(&str, &str)]) -> Vec<(String, Props)> {
        let mut t = tree(blob);
        for (path, props) in &mut t {
            props.retain(|(name, _)| !skip.contains(&(path.as_str(), name.as_str())));
        }
        t
    }

    fn prop(blob: &[u8], path: &str, name: &str) -> Option<Vec<u8>> {
        let t = tree(blob);
        let (_, props) = t.iter().find(|(p, _)| p == path)?;
        props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn memory_regions(blob: &[u8]) -> Vec<(u64, u64)> {
        let fdt = fdt::Fdt::new(blob).unwrap();
        let memory = fdt.memory();
        memory
            .regions()
            .map(|m| (m.starting_address as u64, m.size.unwrap() as u64))
            .collect()
    }

    fn reservations(blob: &[u8]) -> Vec<(u64, u64)> {
        let fdt = fdt::Fdt::new(blob).unwrap();
        fdt.memory_reservations()
            .map(|m| (m.address() as u64, m.size() as u64))
            .collect()
    }

    /// Root with the given cells, a /chosen and a memory node with `reg`.
    fn one_memory_node(address_cells: u32, size_cells: u32, reg: &[u32]) -> Vec<u8> {
        Builder::new()
            .begin("")
            .cells("#address-cells", &[address_cells])
            .cells("#size-cells", &[size_cells])
            .begin("memory@0")
            .cells("reg", reg)
            .prop("device_type", b"memory\0")
            .end()
            .end()
            .build()
    }

    #[test]
    fn empty_edit_reproduces_qemu_blobs_byte_for_byte() {
        for dtb in [GICV3, GICV2] {
            let out = run(dtb, &Edit::default());
            assert_eq!(tree(&out), tree(dtb));
            assert_eq!(out, dtb);
        }
    }

    #[test]
    fn header_is_version_17_with_consistent_offsets() {
        let mut b = Builder::new();
        b.boot_cpuid_phys = 3;
        b.reservations.push((0x1000, 0x2000));
        b.begin("").prop("model", b"x\0").end();
        let dtb = b.build();
        let extra = [r(0x8000, 0x10)];
        let out = run(
            &dtb,
            &Edit {
                add_memreserve: &extra,
                ..Edit::default()
            },
        );
        assert_eq!(header(&out, 0), FDT_MAGIC);
        assert_eq!(header(&out, 1) as usize, out.len());
        assert_eq!(header(&out, 4), 40, "off_mem_rsvmap");
        assert_eq!(header(&out, 2), 40 + 3 * 16, "off_dt_struct");
        assert_eq!(
            header(&out, 3),
            header(&out, 2) + header(&out, 9),
            "off_dt_strings"
        );
        assert_eq!(header(&out, 5), 17);
        assert_eq!(header(&out, 6), 16);
        assert_eq!(header(&out, 7), 3, "boot_cpuid_phys");
        assert_eq!(header(&out, 8), header(&dtb, 8), "size_dt_strings");
        assert_eq!(header(&out, 3) + header(&out, 8), header(&out, 1));
    }

    #[test]
    fn cuts_top_of_ram_and_drops_initrd() {
        let cut = [r(0x7e00_0000, 0x0200_0000)];
        let edit = Edit {
            remove_memory: &cut,
            drop_chosen_props: INITRD,
            ..Edit::default()
        };
        let out = run(GICV3, &edit);
        assert_eq!(memory_regions(&out), [(0x4000_0000, 0x3e00_0000)]);
        let edited = [
            ("/memory@40000000", "reg"),
            ("/chosen", "linux,initrd-start"),
            ("/chosen", "linux,initrd-end"),
        ];
        assert_eq!(tree_without(&out, &edited), tree_without(GICV3, &edited));
        assert_eq!(prop(&out, "/chosen", "linux,initrd-start"), None);
        assert_eq!(prop(&out, "/chosen", "linux,initrd-end"), None);
        assert!(prop(GICV3, "/chosen", "linux,initrd-start").is_some());
        let fdt = fdt::Fdt::new(&out).unwrap();
        assert_eq!(fdt.chosen().bootargs(), Some("zxv.test=1"));
        assert_eq!(
            prop(&out, "/chosen", "stdout-path"),
            Some(b"/pl011@9000000\0".to_vec())
        );
        assert_eq!(reservations(&out), reservations(GICV3));
    }

    #[test]
    fn cuts_middle_of_ram_into_two() {
        for dtb in [GICV3, GICV2] {
            let out = run(dtb, &remove(&[r(0x5000_0000, 0x0100_0000)]));
            assert_eq!(
                memory_regions(&out),
                [(0x4000_0000, 0x1000_0000), (0x5100_0000, 0x2f00_0000)]
            );
            let edited = [("/memory@40000000", "reg")];
            assert_eq!(tree_without(&out, &edited), tree_without(dtb, &edited));
            assert_eq!(
                prop(&out, "/chosen", "linux,initrd-start"),
                prop(dtb, "/chosen", "linux,initrd-start")
            );
        }
    }

    #[test]
    fn cutting_all_ram_leaves_an_empty_reg() {
        let out = run(GICV3, &remove(&[r(0, 0x1_0000_0000)]));
        assert_eq!(prop(&out, "/memory@40000000", "reg"), Some(Vec::new()));
        assert_eq!(
            prop(&out, "/memory@40000000", "device_type"),
            Some(b"memory\0".to_vec())
        );
        assert!(memory_regions(&out).is_empty());
    }

    #[test]
    fn ranges_outside_ram_change_nothing() {
        let ranges = [
            r(0, 0x4000_0000),
            r(0x8000_0000, 0x1000),
            r(0x5000_0000, 0),
            r(u64::MAX, u64::MAX),
        ];
        assert_eq!(run(GICV3, &remove(&ranges)), GICV3);
    }

    #[test]
    fn drops_only_listed_chosen_props() {
        let edit = Edit {
            drop_chosen_props: &["bootargs", "no-such-prop"],
            ..Edit::default()
        };
        let out = run(GICV3, &edit);
        let edited = [("/chosen", "bootargs")];
        assert_eq!(tree_without(&out, &edited), tree_without(GICV3, &edited));
        assert_eq!(prop(&out, "/chosen", "bootargs"), None);
        assert!(prop(&out, "/chosen", "linux,initrd-start").is_some());
    }

    #[test]
    fn chosen_below_the_root_is_untouched() {
        let dtb = Builder::new()
            .begin("")
            .begin("soc")
            .begin("chosen")
            .prop("bootargs", b"inner\0")
            .end()
            .end()
            .begin("chosen")
            .prop("bootargs", b"outer\0")
            .end()
            .end()
            .build();
        let out = run(
            &dtb,
            &Edit {
                drop_chosen_props: &["bootargs"],
                ..Edit::default()
            },
        );
        assert_eq!(
            prop(&out, "/soc/chosen", "bootargs"),
            Some(b"inner\0".to_vec())
        );
        assert_eq!(prop(&out, "/chosen", "bootargs"), None);
    }

    #[test]
    fn appends_memreserve_entries() {
        let add = [
            r(0x4800_0000, 0x2000),
            r(0x1234_0000, 0),
            r(0x7fe0_0000, 0x20_0000),
        ];
        let out = run(
            GICV3,
            &Edit {
                add_memreserve: &add,
                ..Edit::default()
            },
        );
        assert_eq!(
            reservations(&out),
            [(0x4800_0000, 0x2000), (0x7fe0_0000, 0x20_0000)]
        );
        assert_eq!(tree(&out), tree(GICV3));

        let mut b = Builder::new();
        b.reservations.extend([(0x100, 0x10), (0, 0x20)]);
        b.begin("").end();
        let out = run(
            &b.build(),
            &Edit {
                add_memreserve: &add[..1],
                ..Edit::default()
            },
        );
        assert_eq!(
            reservations(&out),
            [(0x100, 0x10), (0, 0x20), (0x4800_0000, 0x2000)]
        );
    }

    #[test]
    fn small_buffer_is_rejected_with_the_needed_size() {
        let cut = [r(0x5000_0000, 0x1000)];
        let edit = Edit {
            remove_memory: &cut,
            drop_chosen_props: INITRD,
            add_memreserve: &cut,
        };
        let need = max_output_size(GICV3, &edit).unwrap();
        let mut big = vec![0; need + 100];
        assert_eq!(rewrite(GICV3, &edit, &mut big), Ok(need));
        for len in [0, 1, HEADER_SIZE, need / 2, need - 1] {
            let mut out = vec![0; len];
            assert_eq!(
                rewrite(GICV3, &edit, &mut out),
                Err(DtbError::BufferTooSmall { need })
            );
        }
        assert_eq!(big[..need], run(GICV3, &edit)[..]);
    }

    #[test]
    fn max_output_size_covers_growth() {
        // Many cuts splitting the one pair into many.
        let cuts: Vec<Range> = (0..100)
            .map(|i| r(0x4000_1000 + i * 0x10_0000, 0x1000))
            .collect();
        let dtb = GICV3;
        let edit = remove(&cuts);
        let size = max_output_size(dtb, &edit).unwrap();
        assert!(size > dtb.len());
        let out = run(dtb, &edit);
        assert_eq!(memory_regions(&out).len(), 101);
        assert!(size >= out.len());
    }

    #[test]
    fn one_cell_reg_with_several_pairs() {
        let dtb = one_memory_node(
            1,
            1,
            &[
                0x0,
                0x1000_0000,
                0x2000_0000,
                0x1000_0000,
                0x8000_0000,
                0x4000_0000,
            ],
        );
        // Unsorted and overlapping cuts; a zero-size one; one touching a pair's end only.
        let cuts = [
            r(0x9000_0000, 0x1000),
            r(0x1000_0000, 0x1000_0000),
            r(0x0800_0000, 0x1000_0000),
            r(0x1c00_0000, 0x0800_0000),
            r(0x8800_0000, 0),
            r(0xc000_0000, 0x1000),
        ];
        let out = run(&dtb, &remove(&cuts));
        let expect = [
            0x0,
            0x0800_0000,
            0x2400_0000,
            0x0c00_0000,
            0x8000_0000,
            0x1000_0000,
            0x9000_1000,
            0x2fff_f000,
        ];
        assert_eq!(prop(&out, "/memory@0", "reg"), Some(cells(&expect)));
        assert_eq!(
            memory_regions(&out),
            [
                (0, 0x0800_0000),
                (0x2400_0000, 0x0c00_0000),
                (0x8000_0000, 0x1000_0000),
                (0x9000_1000, 0x2fff_f000)
            ]
        );
    }

    #[test]
    fn two_cell_address_one_cell_size() {
        let dtb = one_memory_node(2, 1, &[0x1, 0x0, 0x8000_0000, 0x0, 0x0, 0x1000]);
        let out = run(&dtb, &remove(&[r(0x1_4000_0000, 0x1000_0000)]));
        let expect = [
            0x1,
            0x0,
            0x4000_0000,
            0x1,
            0x5000_0000,
            0x3000_0000,
            0x0,
            0x0,
            0x1000,
        ];
        assert_eq!(prop(&out, "/memory@0", "reg"), Some(cells(&expect)));
    }

    #[test]
    fn one_cell_address_two_cell_size() {
        let dtb = one_memory_node(1, 2, &[0x1000, 0x1, 0x0]);
        let out = run(&dtb, &remove(&[r(0x2000, 0x1000)]));
        let expect = [0x1000, 0x0, 0x1000, 0x3000, 0x0, 0xffff_e000];
        assert_eq!(prop(&out, "/memory@0", "reg"), Some(cells(&expect)));
    }

    #[test]
    fn zero_size_pairs_are_kept() {
        let dtb = one_memory_node(2, 2, &[0, 0x1000, 0, 0, 0, 0x2000, 0, 0x1000]);
        let out = run(&dtb, &remove(&[r(0x2000, 0x800)]));
        let expect = [0, 0x1000, 0, 0, 0, 0x2800, 0, 0x800];
        assert_eq!(prop(&out, "/memory@0", "reg"), Some(cells(&expect)));
        // An empty pair overlaps nothing, not even a cut around its address.
        assert_eq!(run(&dtb, &remove(&[r(0x800, 0x1000)])), dtb);
    }

    #[test]
    fn memory_nodes_by_name_or_device_type_with_parent_cells() {
        let reg2 = [0x0, 0x4000_0000, 0x0, 0x1000_0000];
        let dtb = Builder::new()
            .begin("")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .begin("memory")
            .cells("reg", &reg2)
            .end()
            .begin("ram@40000000")
            .cells("reg", &reg2)
            .prop("device_type", b"memory\0")
            .begin("child")
            .end()
            .end()
            .begin("memory-controller@40000000")
            .cells("reg", &reg2)
            .end()
            .begin("bus")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[1])
            .begin("memory@40000000")
            .cells("reg", &[0x4000_0000, 0x1000_0000])
            .end()
            .begin("pci")
            .cells("#address-cells", &[3])
            .cells("reg", &[0x4000_0000, 0x1000_0000])
            .end()
            .end()
            .begin("nocells")
            .begin("sram")
            .prop("device_type", b"memory\0")
            .cells("reg", &[0x0, 0x4000_0000, 0x1000_0000])
            .end()
            .end()
            .end()
            .build();
        let out = run(&dtb, &remove(&[r(0x4800_0000, 0x1000_0000)]));
        let cut2 = cells(&[0x0, 0x4000_0000, 0x0, 0x0800_0000]);
        assert_eq!(prop(&out, "/memory", "reg"), Some(cut2.clone()));
        assert_eq!(prop(&out, "/ram@40000000", "reg"), Some(cut2));
        assert_eq!(
            prop(&out, "/memory-controller@40000000", "reg"),
            Some(cells(&reg2))
        );
        assert_eq!(
            prop(&out, "/bus/memory@40000000", "reg"),
            Some(cells(&[0x4000_0000, 0x0800_0000]))
        );
        assert_eq!(
            prop(&out, "/bus/pci", "reg"),
            Some(cells(&[0x4000_0000, 0x1000_0000]))
        );
        // No cells on the parent: the defaults 2 and 1.
        assert_eq!(
            prop(&out, "/nocells/sram", "reg"),
            Some(cells(&[0x0, 0x4000_0000, 0x0800_0000]))
        );
    }

    #[test]
    fn device_type_after_a_child_node_counts() {
        let reg = [0x0, 0x4000_0000, 0x0, 0x1000_0000];
        let dtb = Builder::new()
            .begin("")
            .cells("#address-cells", &[2])
            .cells("#size-cells", &[2])
            .begin("ram")
            .cells("reg", &reg)
            .begin("child")
            .end()
            .prop("device_type", b"memory\0")
            .end()
            .end()
            .build();
        let cut = cells(&[0x0, 0x4000_0000, 0x0, 0x0800_0000]);
        let out = run(&dtb, &remove(&[r(0x4800_0000, 0x1000_0000)]));
        assert!(out.windows(cut.len()).any(|w| w == cut));
        assert_eq!(out.len(), dtb.len());
    }

    #[test]
    fn nops_are_dropped() {
        let mut b = Builder::new();
        b.token(FDT_NOP)
            .begin("")
            .token(FDT_NOP)
            .prop("a", b"1\0")
            .token(FDT_NOP);
        b.begin("n")
            .token(FDT_NOP)
            .end()
            .token(FDT_NOP)
            .end()
            .token(FDT_NOP);
        let dtb = b.build();
        let out = run(&dtb, &Edit::default());
        assert_eq!(out.len(), dtb.len() - 6 * 4);
        assert_eq!(tree(&out), tree(&dtb));
    }

    #[test]
    fn version_16_input_is_accepted() {
        let v17 = Builder::new().begin("").prop("a", b"1\0").end().build();
        let mut dtb = v17.clone();
        dtb[20..24].copy_from_slice(&16u32.to_be_bytes());
        dtb[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(run(&dtb, &Edit::default()), v17);
    }

    #[test]
    fn unrepresentable_and_malformed_regs_are_errors() {
        let mut out = [0; 512];
        let cut = [r(0xf000_0000, 0x1800_0000)];
        // A 1-cell pair reaching past 4 GiB whose remaining piece starts above it.
        let dtb = one_memory_node(1, 1, &[0xf000_0000, 0x2000_0000]);
        assert_eq!(
            rewrite(&dtb, &remove(&cut), &mut out),
            Err(DtbError::BadReg)
        );
        // A 2-cell pair wrapping past 2^64: fine while the pieces start below it.
        let dtb = one_memory_node(2, 2, &[0xffff_ffff, 0xf000_0000, 0x0, 0x2000_0000]);
        assert!(rewrite(&dtb, &remove(&[r(0xffff_ffff_f000_0000, 0x1000)]), &mut out).is_ok());
        let cut = [r(0xffff_ffff_f000_0000, 0x1800_0000)];
        assert_eq!(
            rewrite(&dtb, &remove(&cut), &mut out),
            Err(DtbError::BadReg)
        );
        // Not a whole number of pairs.
        let dtb = one_memory_node(2, 2, &[0, 0x4000_0000, 0]);
        assert_eq!(
            rewrite(&dtb, &Edit::default(), &mut out),
            Err(DtbError::BadReg)
        );
        let dtb = one_memory_node(3, 1, &[0, 0, 0x4000_0000, 0x1000]);
        assert_eq!(
            rewrite(&dtb, &Edit::default(), &mut out),
            Err(DtbError::UnsupportedCells {
                address_cells: 3,
                size_cells: 1
            })
        );
        let dtb = one_memory_node(2, 0, &[0, 0x4000_0000]);
        assert_eq!(
            rewrite(&dtb, &Edit::default(), &mut out),
            Err(DtbError::UnsupportedCells {
                address_cells: 2,
                size_cells: 0
            })
        );
        let dtb = Builder::new()
            .begin("")
            .prop("#size-cells", &[0, 0, 1])
            .begin("memory")
            .cells("reg", &[0, 0x1000, 0x1000])
            .end()
            .end()
            .build();
        assert_eq!(
            rewrite(&dtb, &Edit::default(), &mut out),
            Err(DtbError::UnsupportedCells {
                address_cells: 2,
                size_cells: u32::MAX
            })
        );
    }

    fn check(dtb: &[u8], expect: DtbError) {
        assert_eq!(max_output_size(dtb, &Edit::default()), Err(expect));
        assert_eq!(rewrite(dtb, &Edit::default(), &mut [0; 4096]), Err(expect));
    }

    #[test]
    fn malformed_headers_are_errors() {
        let dtb = Builder::new().begin("").end().build();
        check(&[], DtbError::Truncated);
        check(&[0xd0, 0x0d, 0xfe], DtbError::Truncated);
        let mut bad = dtb.clone();
        bad[0] = 0;
        check(&bad, DtbError::BadMagic);
        for (field, value, expect) in [
            (1, dtb.len() as u32 + 1, DtbError::Truncated),
            (1, 39, DtbError::Truncated),
            (2, u32::MAX, DtbError::Truncated),
            (3, dtb.len() as u32 + 1, DtbError::Truncated),
            (4, u32::MAX - 3, DtbError::Truncated),
            (4, dtb.len() as u32 - 8, DtbError::Truncated),
            (5, 15, DtbError::UnsupportedVersion(15)),
            (6, 18, DtbError::UnsupportedVersion(18)),
            (8, u32::MAX, DtbError::Truncated),
            (9, u32::MAX, DtbError::Truncated),
        ] {
            let mut bad = dtb.clone();
            bad[field * 4..field * 4 + 4].copy_from_slice(&value.to_be_bytes());
            check(&bad, expect);
        }
    }

    #[test]
    fn malformed_structure_blocks_are_errors() {
        let build = |f: &dyn Fn(&mut Builder)| {
            let mut b = Builder::new();
            f(&mut b);
            b.build()
        };
        check(
            &build(&|b| {
                b.begin("").token(7).end();
            }),
            DtbError::BadToken(7),
        );
        check(&build(&|_| {}), DtbError::BadStructure);
        check(
            &build(&|b| {
                b.begin("");
            }),
            DtbError::BadStructure,
        );
        check(
            &build(&|b| {
                b.begin("").end().end();
            }),
            DtbError::BadStructure,
        );
        check(
            &build(&|b| {
                b.prop("a", b"").begin("").end();
            }),
            DtbError::BadStructure,
        );
        check(
            &build(&|b| {
                b.begin("").end().prop("a", b"");
            }),
            DtbError::BadStructure,
        );
        check(
            &build(&|b| {
                b.begin("").end().begin("").end();
            }),
            DtbError::BadStructure,
        );
        check(
            &build(&|b| {
                b.begin("").token(FDT_PROP).token(0).token(1000).end();
            }),
            DtbError::BadString,
        );
        check(
            &build(&|b| {
                b.begin("").token(FDT_PROP).token(0x1000).token(0).end();
            }),
            DtbError::Truncated,
        );
        // A name without its NUL at the end of the block.
        let mut dtb = build(&|b| {
            b.token(FDT_BEGIN_NODE);
        });
        let len = dtb.len();
        dtb[len - 4..].copy_from_slice(b"abcd");
        check(&dtb, DtbError::Truncated);
        // The last string not NUL-terminated.
        let mut dtb = build(&|b| {
            b.begin("").prop("a", b"").end();
        });
        let len = dtb.len();
        dtb[len - 1] = b'x';
        check(&dtb, DtbError::BadString);
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |depth: usize| {
            let mut b = Builder::new();
            for _ in 0..depth {
                b.begin("n");
            }
            for _ in 0..depth {
                b.end();
            }
            b.build()
        };
        let ok = nested(MAX_DEPTH);
        assert_eq!(run(&ok, &Edit::default()), ok);
        check(&nested(MAX_DEPTH + 1), DtbError::TooDeep);
        check(&nested(10_000), DtbError::TooDeep);
    }

    #[test]
    fn every_shortened_structure_block_is_an_error() {
        let structs_len = header(GICV3, 9) as usize;
        let edit = Edit {
            remove_memory: &[r(0x5000_0000, 0x1000)],
            drop_chosen_props: INITRD,
            ..Edit::default()
        };
        for len in 0..structs_len {
            let mut dtb = GICV3.to_vec();
            dtb[36..40].copy_from_slice(&(len as u32).to_be_bytes());
            assert!(
                max_output_size(&dtb, &edit).is_err(),
                "size_dt_struct {len}"
            );
        }
        // Cutting the blob short anywhere.
        for len in 0..GICV3.len() {
            assert_eq!(
                max_output_size(&GICV3[..len], &edit),
                Err(DtbError::Truncated)
            );
        }
    }

    /// xorshift64: deterministic pseudo-random numbers for the fuzz tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Rewrites `dtb` with a sizable edit; must not panic, and a success must reparse.
    fn survive(dtb: &[u8]) {
        let cuts = [
            r(0x4000_0000, 0x1000),
            r(0x5000_0000, 0x1000_0000),
            r(0, 0x10),
        ];
        let edit = Edit {
            remove_memory: &cuts,
            drop_chosen_props: INITRD,
            add_memreserve: &cuts,
        };
        let mut out = vec![0; 16 * 1024];
        let size = max_output_size(dtb, &edit);
        let written = rewrite(dtb, &edit, &mut out);
        match (size, written) {
            (Ok(size), Ok(written)) => {
                assert_eq!(size, written);
                let again = max_output_size(&out[..written], &Edit::default());
                assert_eq!(again, Ok(written));
            }
            (Ok(size), Err(DtbError::BufferTooSmall { need })) => assert_eq!(size, need),
            (Err(a), Err(b)) => assert_eq!(a, b),
            other => panic!("max_output_size and rewrite disagree: {other:?}"),
        }
    }

    #[test]
    fn fuzz_mutated_blobs_never_panic() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for dtb in [GICV3, GICV2] {
            for _ in 0..3000 {
                let mut blob = dtb.to_vec();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(blob.len());
                    blob[i] = match rng.below(4) {
                        0 => 0,
                        1 => 0xff,
                        2 => blob[i] ^ (1 << rng.below(8)),
                        _ => rng.next() as u8,
                    };
                }
                survive(&blob);
            }
        }
    }

    #[test]
    fn fuzz_random_bytes_never_panic() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for _ in 0..5000 {
            let len = rng.below(256);
            let mut blob: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 72 {
                // A plausible header so the walk gets going.
                let fields = [
                    FDT_MAGIC,
                    len as u32,
                    56 + (rng.below(4) * 4) as u32,
                    (len - 16) as u32,
                    40,
                    17,
                    16,
                    0,
                    16,
                    (len - 72) as u32,
                ];
                blob[..HEADER_SIZE].copy_from_slice(&cells(&fields));
                blob[40..56].fill(0);
            }
            survive(&blob);
        }
    }

    #[test]
    fn errors_display() {
        let text = format!("{}", DtbError::BufferTooSmall { need: 42 });
        assert!(text.contains("42"));
    }
}
