//! vCPU objects: a guest CPU bound to the physical CPU that created it (its
//! "thread", docs/abi.md §4), its registers, and the run loop of zx_vcpu_enter
//! that handles exits in EL2 until one needs the host.

use crate::arch::world::{self, ExitVector, GuestWorld};
use crate::exit::fast::FastHvc;
use crate::exit::handle::{self, ExitCounts, Flow};
use crate::mm::heap;
use crate::objects::guest::Guest;
use crate::objects::ptimer::PhysicalTimer;
use crate::objects::timer_line::{self, TimerLine};
use crate::objects::wfi::WfiChoice;
use crate::platform::percpu;
use crate::platform::system;
use crate::platform::timer::HypTimer;
use crate::platform::vgic::Vgic;
use crate::platform::{irq, timer};
use alloc::sync::Arc;
use core::cell::{RefCell, RefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use gic::{InterfaceState, LrTracker, PendingSet, VirtualInterface};
use syscalls::exit_counts::{ExitKind as Counted, VcpuExits};
use syscalls::hypervisor::{TimerPpis, TIMER_PPI_MASK};
use syscalls::port::PortPacket;
use syscalls::{Status, ZxResult};
use vcpu::regs::GuestRegs;

/// VMPIDR_EL2 of vCPU `index`: Aff0 = index, bit 31 RES1.
fn vmpidr(index: usize) -> u64 {
    (1 << 31) | index as u64
}

/// A vCPU's state; only its owner CPU touches it.
pub struct VcpuContext {
    pub regs: GuestRegs,
    pub world: GuestWorld,
    pub interrupts: InterruptState,
    /// The guest's EL1 physical timer, emulated.
    pub ptimer: PhysicalTimer,
    /// The timer PPIs the guest has enabled at its GIC, as the VMM's model
    /// says (ZXV_VCPU_TIMER_PPIS); both until the VMM says otherwise.
    pub timer_enables: u32,
}

/// The vCPU's side of the GIC virtual interface.
pub struct InterruptState {
    lrs: LrTracker,
    interface: InterfaceState,
    /// The hardware list registers hold this vCPU's (between load and save).
    lrs_loaded: bool,
    /// A shadow list register held an interrupt when they were last saved,
    /// so the next load writes them back; with none, an enter leaves the
    /// list registers alone until a refill has something to put in them.
    held: bool,
    /// HCR.UIE is set (load clears it).
    underflow_irq: bool,
}

impl InterruptState {
    fn new(vgic: Option<&Vgic>) -> Self {
        let (vmcr, group1) = vgic.map_or((0, true), Vgic::reset_state);
        let num_lrs = vgic.map_or(0, |v| v.interface().num_lrs());
        let mut lrs = LrTracker::new(num_lrs, group1);
        lrs.notify_eoi_of(1 << irq::VTIMER_PPI | 1 << irq::PTIMER_PPI);
        Self {
            lrs,
            interface: InterfaceState { vmcr, apr: 0 },
            lrs_loaded: false,
            held: false,
            underflow_irq: false,
        }
    }

    /// Once per enter, before the guest first runs: this vCPU's VMCR,
    /// active priorities and list registers into the hardware. Between
    /// runs the hardware list registers are empty, so an idle vCPU leaves
    /// them alone; the run loop's refill before each entry moves pending
    /// interrupts in.
    fn load(&mut self, vgic: &dyn VirtualInterface) {
        vgic.open(self.interface);
        self.underflow_irq = false;
        if self.held {
            vgic.write_lrs(self.lrs.lrs());
            self.lrs_loaded = true;
        }
    }

    /// Before each entry: moves newly pending interrupts into free list
    /// registers (asking for the underflow interrupt when some do not fit).
    #[inline(always)]
    fn refill(&mut self, vgic: &dyn VirtualInterface, pending: &PendingSet) {
        if !pending.is_empty() {
            self.fill(vgic, pending);
        }
    }

    /// [`refill`](Self::refill) once something is pending. Out of line: the
    /// run loop keeps fewer registers for the entries with nothing to fill.
    #[inline(never)]
    fn fill(&mut self, vgic: &dyn VirtualInterface, pending: &PendingSet) {
        self.sync(vgic);
        // Not loaded, no list register holds anything (an enter loads them
        // only when one did at the last save: `held`).
        let fill = if self.lrs_loaded {
            self.lrs.fill(pending)
        } else {
            self.lrs.fill_empty(pending)
        };
        let lrs = self.lrs.lrs();
        // Not loaded, the hardware and shadow list registers were all
        // empty, and only the first `added` are not now.
        vgic.write_lrs(if self.lrs_loaded {
            lrs
        } else {
            &lrs[..fill.added]
        });
        if fill.needs_underflow_irq != self.underflow_irq {
            vgic.set_underflow_irq(fill.needs_underflow_irq);
            self.underflow_irq = fill.needs_underflow_irq;
        }
        self.lrs_loaded = true;
    }

    /// Whether a list register holds `timer_ppi` (only loaded ones can).
    fn holds_timer(&mut self, timer_ppi: u32) -> bool {
        self.lrs_loaded && self.lrs.holds_notified(timer_ppi)
    }

    /// After a maintenance interrupt: reads back what the guest did and
    /// writes the list registers again, which clears the EOI bits of the
    /// interrupts it deactivated (and so the EOI maintenance interrupt).
    fn reap(&mut self, vgic: &dyn VirtualInterface) {
        if self.lrs_loaded {
            self.sync(vgic);
            vgic.write_lrs(self.lrs.lrs());
        }
    }

    /// Reads back what the guest did with the loaded list registers.
    pub fn sync(&mut self, vgic: &dyn VirtualInterface) {
        if self.lrs_loaded {
            self.lrs.sync_with(|shadow| vgic.read_lrs(shadow));
        }
    }

    /// After [`sync`](Self::sync): whether a list register holds an
    /// interrupt (none can unless they were loaded in this enter).
    fn in_use(&self) -> bool {
        self.lrs_loaded && self.lrs.any_in_use()
    }

    /// Once per enter, after the guest's last exit: saves its interface
    /// state and leaves the hardware list registers empty.
    fn save(&mut self, vgic: &dyn VirtualInterface) {
        if self.lrs_loaded {
            self.sync(vgic);
            vgic.clear_lrs(self.lrs.lrs().len());
            self.lrs_loaded = false;
            self.held = self.lrs.any_in_use();
        }
        self.interface = vgic.close();
    }
}

pub struct Vcpu {
    pub koid: u64,
    pub guest: Arc<Guest>,
    index: usize,
    owner: usize,
    /// A zx_vcpu_kick not yet consumed by an enter (any CPU sets it).
    kicked: AtomicBool,
    /// Interrupts zx_vcpu_interrupt raised, not yet in a list register.
    pending: PendingSet,
    /// The virtual interface is GICv2's: zx_vcpu_interrupt's vectors may
    /// name an SGI's source (kept here for that call, which takes no look
    /// at the system).
    sourced_sgis: bool,
    /// The CPU running (or waiting in) this vCPU's zx_vcpu_enter, or NOT_RUNNING.
    running_on: AtomicUsize,
    /// Exits by kind (ZXV_INFO_VCPU_EXITS); only the owner CPU counts.
    exits: ExitCounts,
    /// The host's choice for the guest's WFI (ZXV_VCPU_WFI); only the
    /// owner CPU reads or writes it.
    pub wfi: WfiChoice,
    /// The owner CPU's: see [`Vcpu::state`].
    state: RefCell<VcpuContext>,
}

const NOT_RUNNING: usize = usize::MAX;

// SAFETY: `state` (and its RefCell's borrow flag) is reached only through
// `state()`, which refuses any CPU but the owner, so only one CPU ever
// touches it; the RefCell refuses a second borrow on that CPU. Everything
// else is immutable or atomic.
unsafe impl Sync for Vcpu {}
// SAFETY: as above; a Vcpu may be dropped on any CPU once no call uses it.
unsafe impl Send for Vcpu {}

impl Vcpu {
    /// A vCPU of `guest` entering at `entry`, owned by the calling CPU.
    pub fn create(koid: u64, guest: Arc<Guest>, entry: u64, vtcr: u64) -> ZxResult<Arc<Vcpu>> {
        let index = guest.claim_vcpu_slot().ok_or(Status::NO_RESOURCES)?;
        let world = GuestWorld::new(vmpidr(index), guest.vttbr(), vtcr);
        let vgic = system::get().vgic.as_ref();
        let state = VcpuContext {
            regs: GuestRegs::new(entry),
            world,
            interrupts: InterruptState::new(vgic),
            ptimer: PhysicalTimer::default(),
            timer_enables: TIMER_PPI_MASK,
        };
        // A Vcpu that is not made gives its slot back when dropped.
        heap::try_arc(Vcpu {
            koid,
            guest,
            index,
            owner: percpu::current(),
            kicked: AtomicBool::new(false),
            pending: PendingSet::new(),
            sourced_sgis: matches!(vgic, Some(Vgic::V2(_))),
            running_on: AtomicUsize::new(NOT_RUNNING),
            exits: ExitCounts::new(),
            wfi: WfiChoice::new(),
            state: RefCell::new(state),
        })
    }

    /// The state, for the owner CPU; BAD_STATE from any other, and while
    /// the owner already holds it.
    pub fn state(&self) -> ZxResult<RefMut<'_, VcpuContext>> {
        if percpu::current() != self.owner {
            return Err(Status::BAD_STATE);
        }
        self.state.try_borrow_mut().map_err(|_| Status::BAD_STATE)
    }

    /// Runs the guest until an exit the host must see: Ok once `deliver`
    /// has been given its packet (straight from the exit, still inside the
    /// run), or the status zx_vcpu_enter returns.
    /// Exits handled in EL2 re-enter the guest without swapping its EL1
    /// and FP/SIMD context out.
    pub fn run(&self, state: &mut VcpuContext, deliver: &dyn Fn(&PortPacket)) -> ZxResult {
        let VcpuContext {
            regs,
            world,
            interrupts,
            ptimer,
            timer_enables,
        } = state;
        let vtimer_enabled = *timer_enables & 1 << irq::VTIMER_PPI != 0;
        let ptimer_enabled = *timer_enables & 1 << irq::PTIMER_PPI != 0;
        // A MEM read the host left uncompleted is over: the access has
        // been stepped over, and from here on its exit is not the last.
        regs.clear_pending();
        let vgic = system::get().vgic.as_ref().map(Vgic::interface);
        self.guest.set_vcpu_off(self.index, false);
        self.running_on.store(percpu::current(), Ordering::SeqCst);
        let host_gic = irq::open_cpu_interface();
        irq::rearm();
        irq::take_kicks();
        let result = world::with_guest(world, |world, fp, debug| {
            if let Some(vgic) = vgic {
                interrupts.load(vgic);
            }
            let run = FastHvc {
                counts: &self.exits,
                vtimer: TimerLine::start(interrupts.holds_timer(irq::VTIMER_PPI)),
                ptimer: TimerLine::start(interrupts.holds_timer(irq::PTIMER_PPI)),
            };
            let (vtimer, ptimer_line) = (&run.vtimer, &run.ptimer);
            let mut hyp_timer = HypTimer::default();
            if vtimer.is_quiet() {
                irq::set_private_enabled(irq::VTIMER_PPI, false);
            }
            let result = loop {
                if self.kicked.load(Ordering::Acquire) && self.kicked.swap(false, Ordering::AcqRel)
                {
                    break Err(Status::CANCELED);
                }
                if vtimer.is_quiet() || ptimer_line.is_quiet() {
                    self.settle_timer_lines(
                        [vtimer, ptimer_line],
                        ptimer,
                        *timer_enables,
                        interrupts,
                    );
                }
                if !vtimer.is_quiet() && timer::guest_timer_asserted() {
                    self.vtimer_action(vtimer.level(true, vtimer_enabled));
                }
                if !ptimer_line.is_quiet() {
                    self.follow_ptimer(ptimer, ptimer_enabled, ptimer_line, &mut hyp_timer);
                }
                if let Some(vgic) = vgic {
                    interrupts.refill(vgic, &self.pending);
                }
                let (kind, syndrome) = world::enter(&mut regs.file, world.hcr, &run);
                let flow = match kind {
                    ExitVector::Irq | ExitVector::Fiq => {
                        self.exits.count(Counted::Interrupt);
                        self.physical_interrupt(vtimer, *timer_enables, interrupts, vgic)
                    }
                    ExitVector::SError => {
                        self.exits.count(Counted::Other);
                        self.guest
                            .warn(format_args!("vcpu {}: SError (ignored)", self.koid));
                        Flow::Continue
                    }
                    ExitVector::Sync => handle::handle(
                        &self.guest,
                        self.index,
                        regs,
                        ptimer,
                        world,
                        syndrome,
                        &self.exits,
                    ),
                };
                match flow {
                    Flow::Continue => {}
                    Flow::LoadFp => fp.switch_to_guest(&world.fp),
                    Flow::LoadDebug => debug.switch_to_guest(world),
                    Flow::WaitForInterrupt => {
                        let ptimer_due = ptimer.deadline().filter(|_| !ptimer_line.is_quiet());
                        hyp_timer.disarm();
                        if let Some(status) = self.wait_for_interrupt(interrupts, vgic, ptimer_due)
                        {
                            break Err(status);
                        }
                    }
                    Flow::Packet(packet) => {
                        deliver(&packet);
                        break Ok(());
                    }
                    Flow::Stop(status) => break Err(status),
                }
            };
            if let Some(vgic) = vgic {
                interrupts.save(vgic);
            }
            if vtimer.is_quiet() {
                irq::set_private_enabled(irq::VTIMER_PPI, true);
            }
            hyp_timer.disarm();
            result
        });
        irq::refuse_kicks();
        irq::restore(host_gic);
        self.running_on.store(NOT_RUNNING, Ordering::SeqCst);
        result
    }

    /// Carries out what the virtual timer's line asks for: its physical
    /// PPI is masked while the guest has the interrupt in hand.
    fn vtimer_action(&self, action: timer_line::Action) {
        match action {
            timer_line::Action::None => {}
            timer_line::Action::PendAndQuiet => {
                self.pending.set(irq::VTIMER_PPI);
                irq::set_private_enabled(irq::VTIMER_PPI, false);
            }
            timer_line::Action::Pend => {
                self.pending.set(irq::VTIMER_PPI);
            }
            timer_line::Action::Quiet => irq::set_private_enabled(irq::VTIMER_PPI, false),
            timer_line::Action::Release => irq::set_private_enabled(irq::VTIMER_PPI, true),
        }
    }

    /// Before an entry, while the physical timer's source is let through:
    /// pends PPI 30 once its condition holds, and otherwise keeps the EL2
    /// timer set to its deadline so that the guest exits then.
    fn follow_ptimer(
        &self,
        ptimer: &PhysicalTimer,
        enabled: bool,
        line: &TimerLine,
        hyp: &mut HypTimer,
    ) {
        match ptimer.deadline() {
            None => hyp.disarm(),
            Some(deadline) if timer::passed(deadline) => {
                hyp.disarm();
                if line.level(true, enabled) == timer_line::Action::PendAndQuiet {
                    self.pending.set(irq::PTIMER_PPI);
                }
            }
            Some(deadline) => hyp.arm(deadline),
        }
    }

    /// A physical IRQ made the guest exit: the monitor's own interrupts are
    /// handled here (their effect is seen at the top of the run loop); any
    /// other is the host's, which takes it and retries the enter.
    /// `vtimer` is the virtual timer's line.
    fn physical_interrupt(
        &self,
        vtimer: &TimerLine,
        enables: u32,
        interrupts: &mut InterruptState,
        vgic: Option<&dyn VirtualInterface>,
    ) -> Flow {
        let enabled = |ppi: u32| enables & 1 << ppi != 0;
        // One at a time: a level-triggered one (the maintenance interrupt)
        // stays asserted until its cause is cleared, so acknowledging in a
        // loop here would never end.
        match irq::take_monitor_irq() {
            Some(irq::VTIMER_PPI) => {
                // The guest's virtual timer fired while it ran.
                self.vtimer_action(vtimer.level(true, enabled(irq::VTIMER_PPI)));
                Flow::Continue
            }
            Some(irq::MAINTENANCE_PPI) => {
                // Underflow, or the guest deactivated a timer interrupt: the
                // top of the loop refills and settles the timer lines.
                if let Some(vgic) = vgic {
                    interrupts.reap(vgic);
                }
                Flow::Continue
            }
            Some(_) => Flow::Continue,
            None if irq::host_irq_pending() => Flow::Stop(Status::INTERNAL_INTR_RETRY),
            None => Flow::Continue,
        }
    }

    /// Before an entry, while a timer's source is kept quiet: once the
    /// guest is done with its interrupt (no list register holds it and it
    /// is not pending), looks at the line again: still asserted, the
    /// interrupt is pending again; gone, the source is let through.
    ///
    /// This is checked here rather than only on the EOI maintenance
    /// interrupt, because that interrupt can be lost: a refill for another
    /// interrupt (a cross-CPU SGI whose kick is taken first) rewrites the
    /// list registers and so clears the EOI state that raised it, and the
    /// line would then stay quiet for the rest of the run.
    ///
    /// Out of line: only entries with a timer line kept quiet call it, and
    /// inlined it made the run loop keep more registers and stack for all
    /// of them.
    #[inline(never)]
    fn settle_timer_lines(
        &self,
        [vtimer, ptimer_line]: [&TimerLine; 2],
        ptimer: &PhysicalTimer,
        enables: u32,
        interrupts: &mut InterruptState,
    ) {
        let enabled = |ppi: u32| enables & 1 << ppi != 0;
        let mut done_with = |ppi| !interrupts.holds_timer(ppi) && !self.pending.contains(ppi);
        if vtimer.is_quiet() && done_with(irq::VTIMER_PPI) {
            self.vtimer_action(
                vtimer.deactivated(timer::guest_timer_asserted(), enabled(irq::VTIMER_PPI)),
            );
        }
        if ptimer_line.is_quiet() && done_with(irq::PTIMER_PPI) {
            let asserted = ptimer.deadline().is_some_and(timer::passed);
            if ptimer_line.deactivated(asserted, enabled(irq::PTIMER_PPI))
                == timer_line::Action::Pend
            {
                self.pending.set(irq::PTIMER_PPI);
            }
        }
    }

    /// WFI (reference §5.4): returns at once when an interrupt is in a list
    /// register or pending, a kick waits, or one of the guest's timers has
    /// expired; otherwise waits in EL2, with the EL2 timer set to the
    /// earlier of the virtual timer's deadline and `ptimer_due` (the
    /// emulated physical timer's), until one of those or a host interrupt
    /// (INTR_RETRY). The WFI has already been stepped over. When the host
    /// asked for it (ZXV_VCPU_WFI), a WFI that would wait returns
    /// SHOULD_WAIT instead, its deadline kept for the host.
    fn wait_for_interrupt(
        &self,
        interrupts: &mut InterruptState,
        vgic: Option<&dyn VirtualInterface>,
        ptimer_due: Option<u64>,
    ) -> Option<Status> {
        if let Some(vgic) = vgic {
            interrupts.sync(vgic);
        }
        if interrupts.in_use() {
            return None;
        }
        let deadline = match (timer::guest_deadline(), ptimer_due) {
            (Some(v), Some(p)) => Some(v.min(p)),
            (v, p) => v.or(p),
        };
        if self.wfi.yields() {
            if self.has_wake_up(deadline) {
                return None;
            }
            self.wfi.yielded(deadline);
            return Some(Status::SHOULD_WAIT);
        }
        if let Some(d) = deadline {
            timer::arm_hyp_timer(d);
        }
        let woken = loop {
            if self.has_wake_up(deadline) {
                break None;
            }
            if irq::take_monitor_irq().is_some() {
                continue;
            }
            if irq::host_irq_pending() {
                break Some(Status::INTERNAL_INTR_RETRY);
            }
            crate::arch::insn::wfi();
        };
        if deadline.is_some() {
            timer::disarm_hyp_timer();
        }
        woken
    }

    /// Whether a WFI ends now: a kick waits, an interrupt is pending, or
    /// the guest's timer `deadline` has passed (the top of the run loop
    /// then sees its line asserted).
    fn has_wake_up(&self, deadline: Option<u64>) -> bool {
        self.kicked.load(Ordering::Acquire)
            || !self.pending.is_empty()
            || deadline.is_some_and(timer::passed)
    }
}

impl Vcpu {
    /// ZXV_VCPU_TIMER_PPIS read (between runs): the guest timers'
    /// interrupts as its GIC shows them. Pending: a list register holds it
    /// pending, it waits to go into one, or its line is asserted and it is
    /// not active; active: the guest has acknowledged it.
    pub fn timer_ppis(&self, context: &VcpuContext) -> TimerPpis {
        let now = timer::now();
        let sys = &context.world.sys;
        let vtimer = crate::objects::ptimer::condition(sys.cntv_ctl, sys.cntv_cval, now);
        let ptimer = context.ptimer.asserted(now);
        let mut ppis = TimerPpis {
            enabled: context.timer_enables,
            ..TimerPpis::default()
        };
        for (ppi, asserted) in [(irq::VTIMER_PPI, vtimer), (irq::PTIMER_PPI, ptimer)] {
            let lr = context.interrupts.lrs.state_of(ppi);
            let active = matches!(lr, gic::LrState::Active | gic::LrState::PendingActive);
            if lr.is_pending() || self.pending.contains(ppi) || (asserted && !active) {
                ppis.pending |= 1 << ppi;
            }
            if active {
                ppis.active |= 1 << ppi;
            }
        }
        ppis
    }

    /// ZXV_VCPU_TIMER_PPIS write: the timer PPIs the guest has enabled;
    /// INVALID_ARGS for anything but timer bits in `enabled`.
    pub fn set_timer_ppis(context: &mut VcpuContext, ppis: &TimerPpis) -> ZxResult {
        if ppis.enabled & !TIMER_PPI_MASK != 0
            || ppis.pending != 0
            || ppis.active != 0
            || ppis.reserved != 0
        {
            return Err(Status::INVALID_ARGS);
        }
        context.timer_enables = ppis.enabled;
        Ok(())
    }

    /// The exit counts so far (ZXV_INFO_VCPU_EXITS).
    pub fn exits(&self) -> VcpuExits {
        self.exits.snapshot()
    }

    /// zx_vcpu_kick: the current or next enter returns CANCELED; kicks
    /// collapse into one.
    pub fn kick(&self) {
        self.kicked.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Makes the CPU running this vCPU (in the guest or waiting in WFI)
    /// look at its kick flag and pending interrupts.
    fn notify(&self) {
        let cpu = self.running_on.load(Ordering::SeqCst);
        if cpu != NOT_RUNNING && cpu != percpu::current() {
            irq::kick_cpu(cpu);
        }
    }

    /// Whether a kick is waiting for an enter (ZX_INFO_VCPU_FLAG_KICKED).
    pub fn is_kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    /// zx_vcpu_interrupt: marks `vector` pending for the next entry: an
    /// INTID below 256, or on GICv2 an SGI with its source vCPU in bits
    /// 12:10 (docs/abi.md §2); OUT_OF_RANGE for anything else.
    pub fn interrupt(&self, vector: u32) -> ZxResult {
        let key = gic::key_of_vector(vector, self.sourced_sgis).ok_or(Status::OUT_OF_RANGE)?;
        self.pending.set(key);
        self.notify();
        Ok(())
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        self.guest.release_vcpu_slot(self.index);
    }
}
