//! The VMM's entry from el1rt on the boot CPU: read the board and the
//! command line, set the guest up, start the tick and run the boot CPU's
//! vCPUs (vCPU 0 first); and the
//! handlers of what must not happen (unexpected exceptions, panics).

use crate::bus::Devices;
use crate::config::Machine;
use crate::stop::{self, Stop};
use crate::vm::{self, Vm};
use crate::{heap, machine, runqueues, setup, ticks, vcpus};
use el1rt::console;
use el1rt::platform::Board;
use syscalls::Handle;

#[no_mangle]
extern "C" fn host_main(dtb: u64, resource: u64) -> ! {
    let vm = set_up(dtb, resource);
    vcpus::boot(vm.guest.entry, vm.guest.dtb);
    loop {
        runqueues::run(0);
        ticks::wait();
    }
}

/// Everything before vCPU 0 runs. A frame of its own, gone before the run
/// loop: the values it builds and moves (the guest's devices, the board)
/// took some 50 KiB of the boot CPU's 64 KiB stack for as long as vCPU 0
/// ran when they were built in `host_main`.
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
    let machine = Machine::parse(board.bootargs).unwrap_or_else(|e| stop::end(Stop::Failed(e)));
    let &[config] = machine.guests.as_slice() else {
        stop::end(Stop::Failed(err!(
            "{} vmm.guest= groups: several guests in one VMM are not built yet",
            machine.guests.len()
        )))
    };
    let resource = Handle::from_raw(resource as u32);
    let (guest, devices) =
        setup::create(resource, &board, &config).unwrap_or_else(|e| stop::end(Stop::Failed(e)));
    let devices = Devices::new(devices);
    let vm = vm::init(Vm {
        config,
        timeout_s: machine.timeout_s,
        board,
        guest,
        devices,
    });
    if let Err(e) = ticks::start(&vm.board) {
        stop::end(Stop::Failed(e));
    }
    vm
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
    stop::end(Stop::Failed(err!("unexpected exception in the VMM")))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::print_unlocked(format_args!("\nvmm: panic: {info}\n"));
    machine::fail()
}
