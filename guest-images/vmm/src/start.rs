//! The VMM's entry from el1rt on the boot CPU: read the board and the
//! command line, set the guests up, start the tick and run the boot CPU's
//! vCPUs (each guest's vCPU 0 is ready from the start); and the handlers of
//! what must not happen (unexpected exceptions, panics).

use crate::bus::Devices;
use crate::config::Machine;
use crate::stop::{self, Life};
use crate::vcpus::{self, Vcpus};
use crate::vm::{self, GuestVm, Vm};
use crate::{heap, machine, runqueues, setup, ticks};
use alloc::boxed::Box;
use arrayvec::ArrayVec;
use el1rt::console;
use el1rt::platform::Board;
use syscalls::Handle;

#[no_mangle]
extern "C" fn host_main(dtb: u64, resource: u64) -> ! {
    let vm = set_up(dtb, resource);
    stop::running(vm.guests.len());
    for g in &vm.guests {
        vcpus::boot(g);
    }
    loop {
        runqueues::run(0);
        ticks::wait();
    }
}

/// Everything before the first vCPU runs. A frame of its own, gone before
/// the run loop: the values it builds and moves (a guest's devices, the
/// board) took some 50 KiB of the boot CPU's 64 KiB stack for as long as
/// vCPU 0 ran when they were built in `host_main`. Each guest is built on
/// the heap, one at a time.
#[inline(never)]
fn set_up(dtb: u64, resource: u64) -> &'static Vm {
    let board = Board::from_dtb(dtb);
    vm::set_name(board.bootargs);
    console::init(board.uart);
    heap::init();
    report!(
        "zxv-vmm: {} CPUs, GICv{}, command line \"{}\"",
        board.cpus.len(),
        board.gic_version,
        board.bootargs
    );
    let machine = Machine::parse(board.bootargs).unwrap_or_else(|e| stop::fail(e));
    let resource = Handle::from_raw(resource as u32);
    let made = setup::create_all(resource, &board, &machine).unwrap_or_else(|e| stop::fail(e));
    let mut guests = ArrayVec::new();
    let mut first_vcpu = 0;
    for ((guest, devices), config) in made.into_iter().zip(machine.guests) {
        guests.push(guest_vm(guests.len(), config, guest, devices, first_vcpu));
        first_vcpu += config.cpus;
    }
    let vm = vm::init(Vm {
        timeout_s: machine.timeout_s,
        board,
        guests,
    });
    if let Err(e) = ticks::start(&vm.board) {
        stop::fail(e);
    }
    vm
}

/// Guest `id` as it runs, on the heap for good.
#[inline(never)]
fn guest_vm(
    id: usize,
    config: crate::config::Config<'static>,
    guest: setup::Guest,
    devices: crate::bus::DeviceSetup,
    first_vcpu: usize,
) -> &'static GuestVm {
    Box::leak(Box::new(GuestVm {
        id,
        config,
        guest,
        devices: Devices::new(devices),
        vcpus: Vcpus::new(),
        first_vcpu,
        life: Life::new(),
    }))
}

/// An exception the VMM did not expect: report it and end the machine.
#[no_mangle]
extern "C" fn el1_unexpected(esr: u64, elr: u64, far: u64) -> ! {
    if machine::is_semihosting_trap(elr) {
        machine::power_off();
    }
    console::print_unlocked(format_args!(
        "\nvmm: unexpected exception ESR {esr:#x} ELR {elr:#x} FAR {far:#x}\n"
    ));
    stop::fail(err!("unexpected exception in the VMM"))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::print_unlocked(format_args!("\nvmm: panic: {info}\n"));
    machine::fail()
}
