//! zx_vcpu_create, zx_vcpu_enter, zx_vcpu_read_state, zx_vcpu_write_state.
//! Check order (docs/abi.md §4): handle, rights, kind and size, calling CPU,
//! buffer pointer, contents. The calls other than create and enter use the
//! vCPU in place, inside the handle table's read section
//! (`objects::with_as`); enter takes a reference, as it runs for long.

use crate::mm::hostmem::HostBuf;
use crate::mm::mmu;
use crate::mm::space::IPA_SIZE;
use crate::objects::virtual_cpu::Vcpu;
use crate::objects::{self, new_koid, Object};
use syscalls::hypervisor::{
    TimerPpis, VcpuIo, VcpuState, VcpuWfi, VCPU_IO, VCPU_STATE, ZXV_VCPU_TIMER_PPIS, ZXV_VCPU_WFI,
};
use syscalls::port::PortPacket;
use syscalls::{Rights, Status, ZxResult};

/// zx_vcpu_create(guest, options, entry) -> vcpu.
#[inline(never)]
pub fn create(guest: u32, options: u64, entry: u64) -> ZxResult<u64> {
    if options != 0 {
        return Err(Status::INVALID_ARGS);
    }
    let g = objects::get_as(guest, Rights::MANAGE_THREAD, Object::guest)?;
    if entry >= IPA_SIZE {
        return Err(Status::INVALID_ARGS);
    }
    let vcpu = Vcpu::create(new_koid(), g, entry, mmu::guest_vtcr())?;
    objects::insert(Object::Vcpu(vcpu), Rights::DEFAULT_VCPU).map(u64::from)
}

/// zx_vcpu_enter(vcpu, packet).
pub fn enter(vcpu: u32, packet: u64) -> ZxResult {
    let v = objects::get_as(vcpu, Rights::EXECUTE, Object::vcpu)?;
    let mut context = v.state()?;
    let packet = HostBuf::new(packet, PortPacket::SIZE, true)?;
    v.run(&mut context, &|out| packet.write_words(&out.to_words()))
}

/// zx_vcpu_read_state(vcpu, kind, buffer, size): ZX_VCPU_STATE, or the
/// zxvisor extensions ZXV_VCPU_TIMER_PPIS and ZXV_VCPU_WFI (docs/abi.md §6).
pub fn read_state(vcpu: u32, kind: u64, buffer: u64, size: u64) -> ZxResult {
    objects::with_as(vcpu, Rights::READ, Object::vcpu, |v| {
        if kind == VCPU_STATE as u64 && size == VcpuState::SIZE as u64 {
            let context = v.state()?;
            let buffer = HostBuf::new(buffer, VcpuState::SIZE, true)?;
            let x = &context.regs.file.x;
            buffer.copy_out(0, x);
            buffer.copy_out(x.len(), &context.regs.state_tail());
            // One cache maintenance pass for both copies.
            buffer.maintain_all();
            Ok(())
        } else {
            read_extension(v, kind, buffer, size)
        }
    })
}

/// zx_vcpu_read_state of ZXV_VCPU_TIMER_PPIS or ZXV_VCPU_WFI (docs/abi.md
/// §6); INVALID_ARGS for any other kind or size. Out of line, off the
/// VCPU_STATE path.
#[inline(never)]
fn read_extension(v: &Vcpu, kind: u64, buffer: u64, size: u64) -> ZxResult {
    if kind == ZXV_VCPU_TIMER_PPIS as u64 && size == TimerPpis::SIZE as u64 {
        let context = v.state()?;
        let ppis = v.timer_ppis(&context);
        HostBuf::new(buffer, TimerPpis::SIZE, true)?.write_words(&ppis.to_words());
    } else if kind == ZXV_VCPU_WFI as u64 && size == VcpuWfi::SIZE as u64 {
        v.state()?;
        let record = v.wfi.record();
        HostBuf::new(buffer, VcpuWfi::SIZE, true)?.write_words(&record.to_words());
    } else {
        return Err(Status::INVALID_ARGS);
    }
    Ok(())
}

/// zx_vcpu_write_state(vcpu, kind, buffer, size): ZX_VCPU_STATE, the
/// 16-byte arm64 ZX_VCPU_IO (the VMM's every MEM load: checked first), or
/// an extension's record.
pub fn write_state(vcpu: u32, kind: u64, buffer: u64, size: u64) -> ZxResult {
    objects::with_as(vcpu, Rights::WRITE, Object::vcpu, |v| {
        let is_state = kind == VCPU_STATE as u64 && size == VcpuState::SIZE as u64;
        let is_io = kind == VCPU_IO as u64 && size == VcpuIo::SIZE as u64;
        if !is_state && !is_io {
            return write_extension(v, kind, buffer, size);
        }
        let mut context = v.state()?;
        let buffer = HostBuf::new(buffer, size as usize, false)?;
        if is_state {
            // One cache maintenance pass for both copies; the tail (sp,
            // cpsr) first: cpsr is checked before X0-X30 are copied straight
            // into the register file.
            buffer.maintain_all();
            let mut tail = [0; 2];
            buffer.copy_in(31, &mut tail);
            context
                .regs
                .write_state_with(tail, |x| buffer.copy_in(0, x))
        } else {
            context
                .regs
                .complete_io(&VcpuIo::from_words(&buffer.read_words()))
        }
    })
}

/// zx_vcpu_write_state of ZXV_VCPU_TIMER_PPIS's enables or ZXV_VCPU_WFI's
/// flags (docs/abi.md §6); INVALID_ARGS for any other kind or size. Out
/// of line, off the VCPU_STATE/VCPU_IO path.
#[inline(never)]
fn write_extension(v: &Vcpu, kind: u64, buffer: u64, size: u64) -> ZxResult {
    let is_timer_ppis = kind == ZXV_VCPU_TIMER_PPIS as u64 && size == TimerPpis::SIZE as u64;
    let is_wfi = kind == ZXV_VCPU_WFI as u64 && size == VcpuWfi::SIZE as u64;
    if !is_timer_ppis && !is_wfi {
        return Err(Status::INVALID_ARGS);
    }
    let mut context = v.state()?;
    let words = HostBuf::new(buffer, size as usize, false)?.read_words();
    if is_wfi {
        v.wfi.set(&VcpuWfi::from_words(&words))
    } else {
        Vcpu::set_timer_ppis(&mut context, &TimerPpis::from_words(&words))
    }
}

/// zx_vcpu_kick(vcpu): from any CPU.
pub fn kick(vcpu: u32) -> ZxResult {
    objects::with_as(vcpu, Rights::EXECUTE, Object::vcpu, |v| {
        v.kick();
        Ok(())
    })
}

/// zx_vcpu_interrupt(vcpu, vector): from any CPU.
pub fn interrupt(vcpu: u32, vector: u64) -> ZxResult {
    objects::with_as(vcpu, Rights::SIGNAL, Object::vcpu, |v| {
        v.interrupt(u32::try_from(vector).map_err(|_| Status::OUT_OF_RANGE)?)
    })
}
