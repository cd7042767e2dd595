//! Making the guests: host RAM for each, the zx objects (guest, VMO over
//! that RAM mapped at 0x4000_0000, one MEM trap per device-map region), and
//! the kernel, initrd and the device tree written into its RAM (again at
//! each restart); and what its devices start from (the disk, the clock).

use crate::bus::DeviceSetup;
use crate::canary::Canary;
use crate::config::{Blob, Conduit, Config, DiskSource, Machine, NetKind, MAX_GUESTS};
use crate::devmap::{DeviceMap, Optional};
use crate::disk::Disk;
use crate::entropy::Entropy;
use crate::guest_copy::{copy_to_guest, sync_instructions};
use crate::guest_dtb::GuestDtb;
use crate::guest_net::NetSetup;
use crate::guest_ram::GuestRam;
use crate::host_disk::HostDisk;
use crate::host_net::HostNet;
use crate::hostram::HostRam;
use crate::image::Kernel;
use crate::layout::{self, Layout, DTB_SPACE, RAM_BASE};
use crate::switch::MAX_PORTS;
use crate::vm::GuestVm;
use crate::{kept_ram, Error};
use arrayvec::ArrayVec;
use core::fmt::Write;
use el1rt::platform::Board;
use syscalls::client;
use syscalls::hypervisor::{
    GUEST_TRAP_MEM, VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE, VM_SPECIFIC,
};
use syscalls::{Handle, Status};
use zxv_devices::virtio::{EntropySource, RamRange};
use zxv_devices::GicVersion;

pub struct Guest {
    pub handle: Handle,
    pub map: DeviceMap,
    /// Where vCPU 0 starts, with the DTB's address in x0.
    pub entry: u64,
    pub dtb: u64,
    /// What each start loads into its RAM: where in host RAM, and the bytes.
    images: ArrayVec<(u64, &'static [u8]), 3>,
}

impl Guest {
    /// Writes the kernel, initrd and DTB into guest RAM, for a start (while
    /// no vCPU of the guest runs).
    pub fn load(&self) {
        for &(at, bytes) in &self.images {
            // SAFETY: `create` placed each image in the guest's RAM, which
            // was free host RAM and holds no Rust object, apart from the
            // others (layout::plan).
            unsafe { copy_to_guest(at, bytes) };
        }
        sync_instructions();
    }
}

fn zx<T>(what: &str, r: Result<T, Status>) -> Result<T, Error> {
    r.map_err(|s| err!("{what}: {s}"))
}

/// The bytes of a blob QEMU or the boot loader left in host RAM.
fn blob_bytes(blob: Blob) -> &'static [u8] {
    // SAFETY: `create` has checked that the blob lies in host RAM, clear of
    // the VMM's image and of everything else in use, and guest RAM is taken
    // clear of it; nothing writes it while the VMM reads it.
    unsafe { core::slice::from_raw_parts(blob.addr as *const u8, blob.size as usize) }
}

/// Makes every guest of `machine`, in its order; `ports` are the guests on
/// the switch ([`switch_ports`]). Each is built on the heap as soon as it is
/// set up, one at a time: the boot CPU's stack has no room for them all.
pub fn create_all(
    resource: Handle,
    board: &Board,
    machine: &Machine<'static>,
    ports: &[usize],
) -> Result<ArrayVec<&'static GuestVm, MAX_GUESTS>, Error> {
    let mut ram = kept_ram::host_ram(board)?;
    let mut blobs = ArrayVec::<Blob, { 3 * MAX_GUESTS }>::new();
    let mut claim = |ram: &mut HostRam, what, blob: Blob| {
        // Guests may share a kernel or an initrd: the same blob, once.
        if blobs.contains(&blob) {
            return Ok(());
        }
        blobs.push(blob);
        ram.claim(what, blob.addr..blob.end(), true)
    };
    for config in &machine.guests {
        claim(&mut ram, "vmm.kernel", config.kernel)?;
        if let Some(initrd) = config.initrd {
            claim(&mut ram, "vmm.initrd", initrd)?;
        }
        if let Some(DiskSource::Ram(disk)) = config.disk.map(|d| d.source) {
            // Never shared: a disk that is another guest's kernel or initrd
            // (the same blob) would let its guest rewrite what that guest
            // boots on its next restart.
            ram.claim("vmm.disk", disk.addr..disk.end(), true)?;
        }
    }
    let mut guests = ArrayVec::new();
    let mut first_vcpu = 0;
    for (id, config) in machine.guests.iter().enumerate() {
        let port = ports.iter().position(|&g| g == id).unwrap_or(0);
        let at = Place {
            id,
            first_vcpu,
            port,
        };
        let (guest, devices) = create(resource, board, config, at, &mut ram)?;
        guests.push(GuestVm::new(id, *config, guest, devices, first_vcpu));
        first_vcpu += config.cpus;
    }
    plant_canary(&mut ram, machine.guests.iter().map(|c| c.name));
    Ok(guests)
}

/// Where a guest is among the others.
struct Place {
    /// Its number on the command line.
    id: usize,
    /// The run queues' number of its vCPU 0.
    first_vcpu: usize,
    /// Its port on the switch, if it is on it.
    port: usize,
}

/// Makes the guest at `at` in RAM taken from `ram`.
fn create(
    resource: Handle,
    board: &Board,
    config: &Config<'static>,
    at: Place,
    ram: &mut HostRam,
) -> Result<(Guest, DeviceSetup), Error> {
    let gic = match board.gic_version {
        3 => GicVersion::V3,
        _ => GicVersion::V2,
    };
    let Place {
        id,
        first_vcpu,
        port,
    } = at;
    let cpus = board.cpus.len();
    if config.cpus > cpus || first_vcpu > 0 {
        let mut place = arrayvec::ArrayString::<24>::new();
        let _ = match first_vcpu {
            0 => write!(place, "i mod {cpus}"),
            f => write!(place, "(i + {f}) mod {cpus}"),
        };
        report!(
            "vmm: guest {}: {} vCPU{} on {cpus} CPUs: vCPU i runs on CPU {place}, in {} ms time slices",
            config.name,
            config.cpus,
            if config.cpus == 1 { "" } else { "s" },
            crate::sched::SLICE_MS
        );
    }
    let kernel_image = blob_bytes(config.kernel);
    let kernel = Kernel::identify(kernel_image)?;
    let layout = layout::plan(
        config.mem,
        kernel,
        config.kernel.size,
        config.initrd.map(|b| b.size),
    )?;
    let host_base = ram.take("guest RAM", config.mem)?;
    let (guest, vmar) = zx("zx_guest_create", client::guest_create(resource, 0))?;
    let vmo = zx(
        "zx_vmo_create_physical",
        client::vmo_create_physical(resource, host_base, config.mem),
    )?;
    let perms = VM_PERM_READ | VM_PERM_WRITE | VM_PERM_EXECUTE | VM_SPECIFIC;
    zx(
        "zx_vmar_map",
        client::vmar_map(vmar, perms, RAM_BASE, vmo, 0, config.mem),
    )?;
    let has = Optional {
        disk: config.disk.is_some(),
        net: config.net.is_some(),
    };
    let map = DeviceMap::new(gic, config.cpus, has, layout.ram.clone());
    for (key, r) in map.regions().iter().enumerate() {
        let trap = client::guest_set_trap(
            guest,
            GUEST_TRAP_MEM,
            r.base,
            r.size,
            Handle::INVALID,
            key as u64,
        );
        zx("zx_guest_set_trap", trap)?;
    }
    let dtb = GuestDtb {
        cpus: config.cpus,
        ram: layout.ram.clone(),
        gic,
        psci: config.psci,
        bootargs: config.cmdline,
        initrd: layout.initrd.clone(),
        has,
    }
    .build()?;
    if dtb.len() as u64 > DTB_SPACE {
        return Err(err!(
            "the guest DTB is {} bytes, more than 2 MiB",
            dtb.len()
        ));
    }
    let to_host = |ipa: u64| host_base + (ipa - RAM_BASE);
    let mut images = ArrayVec::new();
    images.push((to_host(layout.kernel), kernel_image));
    if let (Some(blob), Some(at)) = (config.initrd, &layout.initrd) {
        images.push((to_host(at.start), blob_bytes(blob)));
    }
    images.push((to_host(layout.dtb), &*alloc::vec::Vec::leak(dtb)));
    report(config, &layout, kernel, gic, host_base);
    let guest_ram = GuestRam {
        range: RamRange {
            base: RAM_BASE,
            size: config.mem,
        },
        host_base,
    };
    let devices = DeviceSetup {
        guest: id,
        name: config.name,
        console: config.console,
        gic,
        cpus: config.cpus,
        ram: guest_ram,
        disk: disk(board, config, guest_ram)?,
        net: net(board, config, port)?,
        time: host_time(board),
    };
    let guest = Guest {
        handle: guest,
        map,
        entry: layout.kernel,
        dtb: layout.dtb,
        images,
    };
    guest.load();
    Ok((guest, devices))
}

/// The isolation canary in the VMM's image (`canary.rs`).
static CANARY: spin::Once<Canary> = spin::Once::new();

/// Writes a fresh isolation canary into the VMM's image and into a page of free host RAM
/// (the highest left, next below guest RAM as a rule), and reports to each guest of
/// `names` both places, the VMM's image and the monitor's memory, none of which a guest may
/// ever read.
fn plant_canary<'a>(ram: &mut HostRam, names: impl Iterator<Item = &'a str>) {
    let mut random = [0; 8];
    Entropy::new().fill(&mut random);
    let canary = CANARY.call_once(|| Canary::new(u64::from_le_bytes(random)));
    let in_image = canary as *const Canary as u64;
    let page = ram.take("the isolation canary", 4096).ok();
    if let Some(page) = page {
        // SAFETY: the page was just taken from free host RAM: no Rust object lives there
        // and nothing else writes it.
        unsafe { copy_to_guest(page, &canary.0) };
    }
    let image = kept_ram::vmm_image();
    let (monitor, monitor_end) = client::zxv_info()
        .map(|i| (i.monitor_base, i.monitor_base + i.monitor_size))
        .unwrap_or((0, 0));
    let mut page_text = arrayvec::ArrayString::<40>::new();
    let _ = match page {
        Some(page) => write!(page_text, "at {page:#x}"),
        None => write!(page_text, "nowhere (no free page)"),
    };
    for name in names {
        report!(
            "vmm: guest {name}: isolation canary {canary} in the VMM image at {in_image:#x} \
             ({:#x}..{:#x}) and in host RAM {page_text}; the monitor at {monitor:#x}..{monitor_end:#x}",
            image.start,
            image.end
        );
    }
}

/// The guest's disk, if it has one, and whether it is read-only.
fn disk(board: &Board, config: &Config, ram: GuestRam) -> Result<Option<(Disk, bool)>, Error> {
    let Some(d) = config.disk else {
        return Ok(None);
    };
    let name = config.name;
    let (disk, read_only) = match d.source {
        DiskSource::Ram(blob) => {
            report!(
                "vmm: guest {name}: virtio disk: {} MiB RAM image at {:#x} (volatile)",
                blob.size >> 20,
                blob.addr
            );
            (
                Disk::Ram {
                    base: blob.addr,
                    size: blob.size,
                },
                d.read_only,
            )
        }
        DiskSource::Host => {
            let host = HostDisk::probe(board, ram)?;
            let read_only = d.read_only || host.read_only();
            report!(
                "vmm: guest {name}: virtio disk: the machine's virtio-blk device, {} MiB",
                host.capacity() >> 20
            );
            (Disk::Host(host), read_only)
        }
    };
    if read_only {
        report!("vmm: guest {name}: virtio disk is read-only");
    }
    Ok(Some((disk, read_only)))
}

/// What the guest's network device is switched to, if it has one: the
/// machine's network device, or port `port` of the guests' switch.
fn net(board: &Board, config: &Config, port: usize) -> Result<Option<NetSetup>, Error> {
    let name = config.name;
    match config.net {
        None => Ok(None),
        Some(NetKind::Host) => {
            let host = HostNet::probe(board)?;
            report!("vmm: guest {name}: virtio-net: switched to the machine's virtio-net device");
            Ok(Some(NetSetup::Host(host)))
        }
        Some(NetKind::Switch) => {
            report!("vmm: guest {name}: virtio-net: port {port} of the guests' switch");
            Ok(Some(NetSetup::Switch(port)))
        }
    }
}

/// The switch port of each guest of `machine` on it, in their order (their
/// number on the command line).
pub fn switch_ports(machine: &Machine) -> ArrayVec<usize, MAX_PORTS> {
    let on_switch = |(_, c): &(usize, &Config)| c.net == Some(NetKind::Switch);
    machine
        .guests
        .iter()
        .enumerate()
        .filter(on_switch)
        .map(|(id, _)| id)
        .collect()
}

/// The machine's time from its PL031 (QEMU virt's RTC, the build machine's clock), in
/// seconds since 1970; 0 on a machine without one (the Raspberry Pi 4).
fn host_time(board: &Board) -> u32 {
    let base = board.fdt().and_then(|fdt| {
        let node = fdt.find_compatible(&["arm,pl031"])?;
        Some(node.reg()?.next()?.starting_address as u64)
    });
    match base {
        // SAFETY: the PL031's data register, identity-mapped device memory from the host's
        // DTB; reading it has no side effect.
        Some(base) => unsafe { core::ptr::read_volatile(base as *const u32) },
        None => 0,
    }
}

fn report(config: &Config, layout: &Layout, kernel: Kernel, gic: GicVersion, host_base: u64) {
    let name = config.name;
    let gic = match gic {
        GicVersion::V2 => 2,
        GicVersion::V3 => 3,
    };
    let psci = match config.psci {
        Conduit::Hvc => "hvc",
        Conduit::Smc => "smc",
    };
    report!(
        "vmm: guest {name}: {} MiB RAM at {:#x} (host {host_base:#x}), {} vCPU{}, GICv{gic}, PSCI via {psci}",
        config.mem >> 20,
        layout.ram.start,
        config.cpus,
        if config.cpus == 1 { "" } else { "s" },
    );
    match kernel {
        Kernel::Linux { text_offset, image_size } => report!(
            "vmm: guest {name}: arm64 Image at {:#x} (text_offset {text_offset:#x}, image_size {image_size:#x})",
            layout.kernel
        ),
        Kernel::Raw => report!("vmm: guest {name}: raw binary at {:#x}", layout.kernel),
    }
    if let Some(initrd) = &layout.initrd {
        report!(
            "vmm: guest {name}: initrd at {:#x}..{:#x}",
            initrd.start,
            initrd.end
        );
    }
    report!(
        "vmm: guest {name}: DTB at {:#x}, command line \"{}\"",
        layout.dtb,
        config.cmdline
    );
}
