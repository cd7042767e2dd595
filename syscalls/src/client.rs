//! The EL1 caller's side of the ABI: `hvc #0` with the retry rule for
//! `ZX_ERR_INTERNAL_INTR_RETRY`, and one safe, typed wrapper per service call (docs/abi.md §2).

use core::arch::asm;
use core::ptr;

use crate::exit_counts::{VcpuExits, ZXV_INFO_VCPU_EXITS};
use crate::hypervisor::{
    TimerPpis, VcpuIo, VcpuState, VcpuWfi, VCPU_IO, VCPU_STATE, VCPU_WFI_YIELD,
    ZXV_VCPU_TIMER_PPIS, ZXV_VCPU_WFI,
};
use crate::ids;
use crate::object::{Handle, InfoHandleBasic, InfoVcpu, ZxvInfo, INFO_HANDLE_BASIC, INFO_VCPU};
use crate::port::PortPacket;
use crate::rights::Rights;
use crate::status::{Status, ZxResult};

/// Registers `x0..x2` after an `hvc #0`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HvcRet {
    /// The status (sign-extended `zx_status_t`), or a PSCI/SMCCC result.
    pub x0: u64,
    /// First output.
    pub x1: u64,
    /// Second output.
    pub x2: u64,
}

impl HvcRet {
    /// `x0` as a `zx_status_t`.
    pub const fn status(&self) -> Status {
        Status::from_raw(self.x0 as i64 as i32)
    }
}

/// Issues `hvc #0` once with `x0 = id` and `x1..x6 = args`, and returns `x0..x2`.
///
/// # Safety
///
/// The caller runs at EL1 under the zxvisor monitor. Every pointer among `args` must be
/// valid, for the whole call, for the reads and writes that call `id` performs through it.
/// Calls whose effects Rust cannot see (PSCI `CPU_ON` starting code at an address,
/// `CPU_OFF`) are the caller's responsibility.
pub unsafe fn hvc_raw(id: u32, args: [u64; 6]) -> HvcRet {
    let x0: u64;
    let x1: u64;
    let x2: u64;
    // SAFETY: `hvc #0` traps to the monitor, which reads x0..x6, writes x0..x2 and returns to
    // the next instruction. x3..x17 are declared clobbered although the ABI preserves them;
    // x18..x30 and SP are preserved and the monitor does not use this stack (`nostack`). The
    // asm is not `nomem`, so the compiler assumes memory behind pointer arguments is read and
    // written; that memory is valid per this function's contract.
    unsafe {
        asm!(
            "hvc #0",
            inlateout("x0") u64::from(id) => x0,
            inlateout("x1") args[0] => x1,
            inlateout("x2") args[1] => x2,
            inlateout("x3") args[2] => _,
            inlateout("x4") args[3] => _,
            inlateout("x5") args[4] => _,
            inlateout("x6") args[5] => _,
            lateout("x7") _,
            lateout("x8") _,
            lateout("x9") _,
            lateout("x10") _,
            lateout("x11") _,
            lateout("x12") _,
            lateout("x13") _,
            lateout("x14") _,
            lateout("x15") _,
            lateout("x16") _,
            lateout("x17") _,
            options(nostack),
        );
    }
    HvcRet { x0, x1, x2 }
}

/// PSTATE.I in DAIF: IRQs masked.
const DAIF_I: u64 = 1 << 7;

/// Lets a pending host IRQ be taken before a retried call, if the caller has IRQs unmasked.
///
/// With IRQs unmasked the `eret` from the monitor already unmasks them, so only a context
/// synchronisation point is added here; DAIF is left exactly as the caller had it (masking
/// it again afterwards would change the caller's state). With IRQs masked nothing is done:
/// the caller chose not to take interrupts, and the call is simply repeated.
fn let_pending_irq_in() {
    let daif: u64;
    // SAFETY: reading DAIF has no side effect.
    unsafe { asm!("mrs {}, daif", out(reg) daif, options(nomem, nostack, preserves_flags)) };
    if daif & DAIF_I == 0 {
        // SAFETY: `isb` only synchronises context; the IRQ handler it lets run is the
        // caller's own, which may touch memory, so the asm is not `nomem`.
        unsafe { asm!("isb", options(nostack, preserves_flags)) };
    }
}

/// Issues `hvc #0` like [`hvc_raw`], repeating the call while it returns
/// `ZX_ERR_INTERNAL_INTR_RETRY`, so callers never see that status.
///
/// # Safety
///
/// As for [`hvc_raw`]; the pointers must stay valid across the repeated calls.
pub unsafe fn hvc(id: u32, args: [u64; 6]) -> HvcRet {
    loop {
        // SAFETY: forwarded from this function's contract.
        let ret = unsafe { hvc_raw(id, args) };
        if ret.status() != Status::INTERNAL_INTR_RETRY {
            return ret;
        }
        let_pending_irq_in();
    }
}

/// Issues service call `id` with retry and turns `x0` into a result.
///
/// # Safety
///
/// As for [`hvc`].
unsafe fn call(id: u32, args: [u64; 6]) -> ZxResult<HvcRet> {
    // SAFETY: forwarded from this function's contract.
    let ret = unsafe { hvc(id, args) };
    Status::ok(ret.status().into_raw()).map(|()| ret)
}

/// A handle as a call argument.
fn h(handle: Handle) -> u64 {
    u64::from(handle.raw())
}

/// A handle returned in an output register (the upper half is zero).
fn out_handle(reg: u64) -> Handle {
    Handle::from_raw(reg as u32)
}

/// `zx_handle_close`.
pub fn handle_close(handle: Handle) -> ZxResult {
    // SAFETY: no pointer arguments.
    unsafe { call(ids::HANDLE_CLOSE, [h(handle), 0, 0, 0, 0, 0]) }?;
    Ok(())
}

/// `zx_handle_duplicate`: a new handle to the same object with `rights`
/// (`Rights::SAME_RIGHTS` keeps the source handle's rights).
pub fn handle_duplicate(handle: Handle, rights: Rights) -> ZxResult<Handle> {
    let args = [h(handle), u64::from(rights.bits()), 0, 0, 0, 0];
    // SAFETY: no pointer arguments.
    let ret = unsafe { call(ids::HANDLE_DUPLICATE, args) }?;
    Ok(out_handle(ret.x1))
}

/// `zx_object_get_info`: fills `buf` with records of `topic`; returns `(actual, avail)`.
pub fn object_get_info(handle: Handle, topic: u32, buf: &mut [u8]) -> ZxResult<(usize, usize)> {
    let args = [
        h(handle),
        u64::from(topic),
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        0,
        0,
    ];
    // SAFETY: the monitor writes at most `buf.len()` bytes at `buf`, which is exclusively
    // borrowed for the call; every byte value is a valid `u8`.
    let ret = unsafe { call(ids::OBJECT_GET_INFO, args) }?;
    Ok((ret.x1 as usize, ret.x2 as usize))
}

/// `zx_object_get_info(ZX_INFO_HANDLE_BASIC)`.
pub fn object_get_info_handle_basic(handle: Handle) -> ZxResult<InfoHandleBasic> {
    let mut buf = [0; InfoHandleBasic::SIZE];
    object_get_info(handle, INFO_HANDLE_BASIC, &mut buf)?;
    Ok(InfoHandleBasic::from_bytes(&buf))
}

/// `zx_object_get_info(ZX_INFO_VCPU)`.
pub fn object_get_info_vcpu(vcpu: Handle) -> ZxResult<InfoVcpu> {
    let mut buf = [0; InfoVcpu::SIZE];
    object_get_info(vcpu, INFO_VCPU, &mut buf)?;
    Ok(InfoVcpu::from_bytes(&buf))
}

/// `zx_object_get_info(ZXV_INFO_VCPU_EXITS)`: the vCPU's exit counts.
pub fn object_get_info_vcpu_exits(vcpu: Handle) -> ZxResult<VcpuExits> {
    let mut buf = [0; VcpuExits::SIZE];
    object_get_info(vcpu, ZXV_INFO_VCPU_EXITS, &mut buf)?;
    Ok(VcpuExits::from_bytes(&buf))
}

/// `zx_guest_create`: returns the guest and the VMAR of its physical address space.
pub fn guest_create(resource: Handle, options: u32) -> ZxResult<(Handle, Handle)> {
    let args = [h(resource), u64::from(options), 0, 0, 0, 0];
    // SAFETY: no pointer arguments.
    let ret = unsafe { call(ids::GUEST_CREATE, args) }?;
    Ok((out_handle(ret.x1), out_handle(ret.x2)))
}

/// `zx_guest_set_trap`: traps guest accesses to `[addr, addr + size)` of kind
/// `GUEST_TRAP_*`; BELL traps need `port`, MEM traps take `Handle::INVALID`.
pub fn guest_set_trap(
    guest: Handle,
    kind: u32,
    addr: u64,
    size: u64,
    port: Handle,
    key: u64,
) -> ZxResult {
    let args = [h(guest), u64::from(kind), addr, size, h(port), key];
    // SAFETY: no pointer arguments (`addr` is guest-physical).
    unsafe { call(ids::GUEST_SET_TRAP, args) }?;
    Ok(())
}

/// `zx_vmo_create_physical`: a VMO for `[paddr, paddr + size)` of physical memory.
pub fn vmo_create_physical(resource: Handle, paddr: u64, size: u64) -> ZxResult<Handle> {
    let args = [h(resource), paddr, size, 0, 0, 0];
    // SAFETY: no pointer arguments; the VMO is only mapped into guests, never into the
    // caller's address space.
    let ret = unsafe { call(ids::VMO_CREATE_PHYSICAL, args) }?;
    Ok(out_handle(ret.x1))
}

/// `zx_vmar_map`: maps `len` bytes of `vmo` from `vmo_offset` into `vmar`
/// (`VM_PERM_*` | `VM_SPECIFIC` options); returns the mapped address.
pub fn vmar_map(
    vmar: Handle,
    options: u32,
    vmar_offset: u64,
    vmo: Handle,
    vmo_offset: u64,
    len: u64,
) -> ZxResult<u64> {
    let args = [
        h(vmar),
        u64::from(options),
        vmar_offset,
        h(vmo),
        vmo_offset,
        len,
    ];
    // SAFETY: no pointer arguments; guest VMARs are the only VMARs, so no caller memory
    // changes.
    let ret = unsafe { call(ids::VMAR_MAP, args) }?;
    Ok(ret.x1)
}

/// `zx_vmar_unmap`.
pub fn vmar_unmap(vmar: Handle, addr: u64, len: u64) -> ZxResult {
    // SAFETY: no pointer arguments; only guest mappings change.
    unsafe { call(ids::VMAR_UNMAP, [h(vmar), addr, len, 0, 0, 0]) }?;
    Ok(())
}

/// `zx_vmar_protect`.
pub fn vmar_protect(vmar: Handle, options: u32, addr: u64, len: u64) -> ZxResult {
    let args = [h(vmar), u64::from(options), addr, len, 0, 0];
    // SAFETY: no pointer arguments; only guest mappings change.
    unsafe { call(ids::VMAR_PROTECT, args) }?;
    Ok(())
}

/// `zx_vcpu_create`: a vCPU of `guest` starting at guest-physical `entry`, owned by this CPU.
pub fn vcpu_create(guest: Handle, options: u32, entry: u64) -> ZxResult<Handle> {
    let args = [h(guest), u64::from(options), entry, 0, 0, 0];
    // SAFETY: no pointer arguments (`entry` is guest-physical).
    let ret = unsafe { call(ids::VCPU_CREATE, args) }?;
    Ok(out_handle(ret.x1))
}

/// `zx_vcpu_enter`: runs the vCPU until an exit; on `Ok`, `packet` says why.
pub fn vcpu_enter(vcpu: Handle, packet: &mut PortPacket) -> ZxResult {
    let args = [h(vcpu), ptr::from_mut(packet) as u64, 0, 0, 0, 0];
    // SAFETY: the monitor writes one 48-byte packet into `packet`, which is exclusively
    // borrowed for the call; every bit pattern is a valid `PortPacket`.
    unsafe { call(ids::VCPU_ENTER, args) }?;
    Ok(())
}

/// `zx_vcpu_resume`: the old name of [`vcpu_enter`].
pub fn vcpu_resume(vcpu: Handle, packet: &mut PortPacket) -> ZxResult {
    vcpu_enter(vcpu, packet)
}

/// `zx_vcpu_kick`: makes the current or next `zx_vcpu_enter` return `CANCELED`.
pub fn vcpu_kick(vcpu: Handle) -> ZxResult {
    // SAFETY: no pointer arguments.
    unsafe { call(ids::VCPU_KICK, [h(vcpu), 0, 0, 0, 0, 0]) }?;
    Ok(())
}

/// `zx_vcpu_interrupt`: marks GIC INTID `vector` pending on the vCPU.
pub fn vcpu_interrupt(vcpu: Handle, vector: u32) -> ZxResult {
    // SAFETY: no pointer arguments.
    unsafe {
        call(
            ids::VCPU_INTERRUPT,
            [h(vcpu), u64::from(vector), 0, 0, 0, 0],
        )
    }?;
    Ok(())
}

/// `zx_vcpu_read_state(ZX_VCPU_STATE)`.
pub fn vcpu_read_state(vcpu: Handle, state: &mut VcpuState) -> ZxResult {
    let buf = ptr::from_mut(state) as u64;
    let args = [
        h(vcpu),
        u64::from(VCPU_STATE),
        buf,
        VcpuState::SIZE as u64,
        0,
        0,
    ];
    // SAFETY: the monitor writes `VcpuState::SIZE` bytes into `state`, which is exclusively
    // borrowed for the call; every bit pattern is a valid `VcpuState`.
    unsafe { call(ids::VCPU_READ_STATE, args) }?;
    Ok(())
}

/// `zx_vcpu_write_state(ZX_VCPU_STATE)`.
pub fn vcpu_write_state(vcpu: Handle, state: &VcpuState) -> ZxResult {
    let buf = ptr::from_ref(state) as u64;
    let args = [
        h(vcpu),
        u64::from(VCPU_STATE),
        buf,
        VcpuState::SIZE as u64,
        0,
        0,
    ];
    // SAFETY: the monitor only reads `VcpuState::SIZE` bytes from `state`, borrowed for the call.
    unsafe { call(ids::VCPU_WRITE_STATE, args) }?;
    Ok(())
}

/// `zx_vcpu_write_state(ZX_VCPU_IO)`: completes the pending MMIO read.
pub fn vcpu_write_io(vcpu: Handle, io: &VcpuIo) -> ZxResult {
    let buf = ptr::from_ref(io) as u64;
    let args = [h(vcpu), u64::from(VCPU_IO), buf, VcpuIo::SIZE as u64, 0, 0];
    // SAFETY: the monitor only reads `VcpuIo::SIZE` bytes from `io`, borrowed for the call.
    unsafe { call(ids::VCPU_WRITE_STATE, args) }?;
    Ok(())
}

/// `zx_vcpu_read_state` of a zxvisor 16-byte record of `kind`, as its two little-endian words.
fn read_state_record(vcpu: Handle, kind: u32) -> ZxResult<[u64; 2]> {
    let mut words = [0u64; 2];
    let args = [
        h(vcpu),
        u64::from(kind),
        ptr::from_mut(&mut words) as u64,
        16,
        0,
        0,
    ];
    // SAFETY: the monitor writes 16 bytes into `words`, a local of this function; every bit
    // pattern is a valid `[u64; 2]`.
    unsafe { call(ids::VCPU_READ_STATE, args) }?;
    Ok(words)
}

/// `zx_vcpu_write_state` of a zxvisor 16-byte record of `kind`, given as its two words.
fn write_state_record(vcpu: Handle, kind: u32, words: [u64; 2]) -> ZxResult {
    let args = [
        h(vcpu),
        u64::from(kind),
        ptr::from_ref(&words) as u64,
        16,
        0,
        0,
    ];
    // SAFETY: the monitor only reads 16 bytes from `words`, a local.
    unsafe { call(ids::VCPU_WRITE_STATE, args) }?;
    Ok(())
}

/// `zx_vcpu_read_state(ZXV_VCPU_TIMER_PPIS)`: the guest timers' interrupt state.
pub fn vcpu_read_timer_ppis(vcpu: Handle) -> ZxResult<TimerPpis> {
    read_state_record(vcpu, ZXV_VCPU_TIMER_PPIS).map(|w| TimerPpis::from_words(&w))
}

/// `zx_vcpu_write_state(ZXV_VCPU_TIMER_PPIS)`: which timer PPIs the guest has enabled.
pub fn vcpu_write_timer_enables(vcpu: Handle, enabled: u32) -> ZxResult {
    let ppis = TimerPpis {
        enabled,
        ..TimerPpis::default()
    };
    write_state_record(vcpu, ZXV_VCPU_TIMER_PPIS, ppis.to_words())
}

/// `zx_vcpu_read_state(ZXV_VCPU_WFI)`: whether the vCPU's WFI yields, and the deadline of the
/// last one that did.
pub fn vcpu_read_wfi(vcpu: Handle) -> ZxResult<VcpuWfi> {
    read_state_record(vcpu, ZXV_VCPU_WFI).map(|w| VcpuWfi::from_words(&w))
}

/// `zx_vcpu_write_state(ZXV_VCPU_WFI)`: whether a WFI that would wait returns
/// `ZX_ERR_SHOULD_WAIT` from `zx_vcpu_enter` instead.
pub fn vcpu_write_wfi_yield(vcpu: Handle, yield_cpu: bool) -> ZxResult {
    let wfi = VcpuWfi {
        flags: if yield_cpu { VCPU_WFI_YIELD } else { 0 },
        ..VcpuWfi::default()
    };
    write_state_record(vcpu, ZXV_VCPU_WFI, wfi.to_words())
}

/// `zx_port_create`.
pub fn port_create(options: u32) -> ZxResult<Handle> {
    // SAFETY: no pointer arguments.
    let ret = unsafe { call(ids::PORT_CREATE, [u64::from(options), 0, 0, 0, 0, 0]) }?;
    Ok(out_handle(ret.x1))
}

/// `zx_port_wait`: dequeues a packet into `packet`, waiting until the absolute monotonic
/// `deadline` (ns; `TIME_INFINITE` waits for ever, a past deadline polls).
pub fn port_wait(port: Handle, deadline: i64, packet: &mut PortPacket) -> ZxResult {
    let args = [
        h(port),
        deadline as u64,
        ptr::from_mut(packet) as u64,
        0,
        0,
        0,
    ];
    // SAFETY: the monitor writes one 48-byte packet into `packet`, which is exclusively
    // borrowed for the call; every bit pattern is a valid `PortPacket`.
    unsafe { call(ids::PORT_WAIT, args) }?;
    Ok(())
}

/// `zx_port_queue`: queues a user packet.
pub fn port_queue(port: Handle, packet: &PortPacket) -> ZxResult {
    let args = [h(port), ptr::from_ref(packet) as u64, 0, 0, 0, 0];
    // SAFETY: the monitor only reads 48 bytes from `packet`, borrowed for the call.
    unsafe { call(ids::PORT_QUEUE, args) }?;
    Ok(())
}

/// `zxv_info`: the monitor's ABI version and platform description.
pub fn zxv_info() -> ZxResult<ZxvInfo> {
    let mut info = ZxvInfo::default();
    let args = [
        ptr::from_mut(&mut info) as u64,
        ZxvInfo::SIZE as u64,
        0,
        0,
        0,
        0,
    ];
    // SAFETY: the monitor writes `ZxvInfo::SIZE` bytes into `info`, a local exclusively
    // borrowed for the call; every bit pattern is a valid `ZxvInfo`.
    unsafe { call(ids::ZXV_INFO, args) }?;
    Ok(info)
}

/// A PSCI call (`psci::*` function ID) handled by the monitor; returns `x0`.
/// No retry: PSCI calls never return `ZX_ERR_INTERNAL_INTR_RETRY`.
///
/// # Safety
///
/// `CPU_ON` makes another CPU run the code at `a2` with context `a3`: that code must be
/// sound to run concurrently with this program. `CPU_OFF`, `SYSTEM_OFF` and `SYSTEM_RESET`
/// do not return on success.
pub unsafe fn psci_call(fid: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: PSCI calls take no pointers the monitor dereferences; the effects on other
    // CPUs are the caller's contract.
    unsafe { hvc_raw(fid, [a1, a2, a3, 0, 0, 0]) }.x0 as i64
}
