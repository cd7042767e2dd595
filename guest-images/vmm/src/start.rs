//! The VMM's entry from el1rt on the boot CPU: read the board and the
//! command line, set the guests up, start the tick and run the boot CPU's
//! vCPUs (each guest's vCPU 0 is ready from the start); and the handlers of
//! what must not happen (unexpected exceptions, panics).

use crate::config::Machine;
use crate::stop;
use crate::switch::{Switch, MAX_PORTS};
use crate::vcpus;
use crate::vm::{self, Vm};
use crate::{bus, heap, machine, runqueues, setup, ticks};
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
/// the heap, one at a time (setup.rs).
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
    let ports = setup::switch_ports(&machine);
    let guests =
        setup::create_all(resource, &board, &machine, &ports).unwrap_or_else(|e| stop::fail(e));
    let switch = (!ports.is_empty()).then(|| {
        let macs: ArrayVec<[u8; 6], MAX_PORTS> = ports.iter().map(|&g| bus::mac(g)).collect();
        (Switch::new(ports.len()).with_owners(&macs), ports)
    });
    let vm = vm::init(Vm {
        timeout_s: machine.timeout_s,
        board,
        guests,
        switch,
    });
    if let Err(e) = ticks::start(&vm.board) {
        stop::fail(e);
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
    stop::fail(err!("unexpected exception in the VMM"))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::print_unlocked(format_args!("\nvmm: panic: {info}\n"));
    machine::fail()
}
