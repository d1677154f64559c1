//! The simulated WASAPI: an implementation of the port ([`crate::port`]) that behaves as
//! Windows documents, for tests and tools (feature `sim`; never in the shipped DLL).
//!
//! It has no stream orchestration of its own: the driver's stream engine
//! ([`crate::stream::StreamEngine`]) runs over it exactly as it runs over WASAPI. What it
//! simulates (see `client` for the rules of each mode):
//!
//! - endpoints with names, IDs, states, containers and notifications (a new default
//!   device, a device unplugged);
//! - `IAudioClient` in shared mode (10 ms engine periods, a buffer of at least three,
//!   `AUTOCONVERTPCM`), IAudioClient3 (default, fundamental, minimum and maximum periods,
//!   the mix format only), exclusive event-driven mode (buffer = period, one event per
//!   period, `AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED` and the aligned size from GetBufferSize)
//!   and exclusive polling;
//! - render devices that take one period per period and play silence when starved; an
//!   `IAudioClock` that reads where they are, with the QPC time of the reading;
//! - capture devices that record a packet per period, stamped at its first frame (Windows)
//!   or when read (Wine), with device positions, losing packets when nobody reads them;
//! - devices invalidated mid-stream (`AUDCLNT_E_DEVICE_INVALIDATED`);
//! - profiles for the known quirks ([`SimDeviceSpec`]): Wine's PulseAudio and ALSA
//!   drivers, Wine 10's nominal IAudioClient3, devices that want aligned periods, drivers
//!   whose events come late or in bursts.
//!
//! Time is simulated: it moves only while the device thread waits, to the next thing that
//! happens, so tests run fast and always alike ([`SimDeviceSpec::tick`] paces it).

mod backend;
mod client;
mod client_objects;
mod control;
mod objects;
mod spec;
mod streams;
mod world;

pub use backend::SimulatedBackend;
pub use client_objects::{SimCapture, SimClient, SimClient3, SimClock, SimRender};
pub use control::SimControl;
pub use objects::{SimCollection, SimDevice, SimEnumerator, SimRegistration};
pub use spec::{ramp_value, Client3Support, EventTiming, SimDeviceSpec, SimInputSpec, SimSignal};
pub use world::{BOOT_NS, SIM_CONTAINER};

use crate::capture_clock::StampMeaning;
use crate::port::*;
use crate::rt_guard::outside_rt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use world::{notify_all, HandleState, Shared, World};

/// The simulated WASAPI: a machine with the endpoints a [`SimDeviceSpec`] describes.
#[derive(Clone)]
pub struct SimPort {
    pub(crate) shared: Arc<Shared>,
}

impl SimPort {
    pub fn new(spec: SimDeviceSpec, control: Arc<SimControl>) -> Self {
        Self {
            shared: Arc::new(Shared {
                world: Mutex::new(World::new(spec)),
                cond: Condvar::new(),
                control,
            }),
        }
    }

    pub fn control(&self) -> &Arc<SimControl> {
        &self.shared.control
    }

    /// The simulated QPC time now, in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.shared.lock().now_ns
    }

    /// The user makes the next active render endpoint the Windows default; with no other,
    /// a new one is plugged in ("Simulated headset") and becomes the default. Every
    /// notification client hears of it (`OnDefaultDeviceChanged` once per role).
    pub fn change_default_endpoint(&self) {
        let mut notes = Vec::new();
        let id = {
            let mut world = self.shared.lock();
            let renders: Vec<usize> = (0..world.endpoints.len())
                .filter(|&i| {
                    world.endpoints[i].flow == Flow::Render
                        && world.endpoints[i].state == DeviceState::ACTIVE
                        && Some(i) != world.default_render
                })
                .collect();
            let next = match renders
                .iter()
                .find(|&&i| Some(i) > world.default_render)
                .or(renders.first())
            {
                Some(&next) => next,
                None => {
                    let id = format!("{{sim}}.output.{}", world.endpoints.len());
                    let added = world.plug_render("Simulated headset", &id);
                    notes.push(Notification::DeviceAdded { id: id.clone() });
                    notes.push(Notification::DeviceStateChanged {
                        id,
                        state: DeviceState::ACTIVE,
                    });
                    added
                }
            };
            world.default_render = Some(next);
            world.endpoints[next].id.clone()
        };
        notes.extend(
            [Role::Console, Role::Multimedia, Role::Communications]
                .into_iter()
                .map(|role| Notification::DefaultDeviceChanged {
                    flow: Flow::Render,
                    role,
                    id: id.clone(),
                }),
        );
        notify_all(&self.shared, &notes);
    }

    /// Unplugs the endpoint with this ID: its clients are invalidated, it is no longer
    /// active, and the notification clients hear of it (and of a new default, if it was
    /// the default).
    pub fn unplug(&self, id: &str) {
        let mut notes = Vec::new();
        {
            let mut world = self.shared.lock();
            let Some(index) = world.endpoints.iter().position(|e| e.id == id) else {
                return;
            };
            let endpoint = &mut world.endpoints[index];
            endpoint.state = DeviceState::UNPLUGGED;
            endpoint.generation += 1;
            let flow = endpoint.flow;
            notes.push(Notification::DeviceStateChanged {
                id: id.to_string(),
                state: DeviceState::UNPLUGGED,
            });
            let default = match flow {
                Flow::Capture => &mut world.default_capture,
                _ => &mut world.default_render,
            };
            if *default == Some(index) {
                *default = None;
                notes.push(Notification::DefaultDeviceChanged {
                    flow,
                    role: Role::Console,
                    id: String::new(),
                });
            }
            let held = world.render_held();
            self.shared
                .control
                .endpoint_held
                .store(held, Ordering::Release);
        }
        notify_all(&self.shared, &notes);
    }
}

impl AudioPort for SimPort {
    type Apartment = ();
    type Handle = SimHandle;
    type MmTask = ();
    type Enumerator = SimEnumerator;
    type Collection = SimCollection;
    type Device = SimDevice;
    type Client = SimClient;
    type Client3 = SimClient3;
    type Render = SimRender;
    type Capture = SimCapture;
    type Clock = SimClock;
    type Registration = SimRegistration;

    fn enter_mta(&self) -> PortResult<()> {
        Ok(())
    }

    fn create_enumerator(&self) -> PortResult<SimEnumerator> {
        Ok(SimEnumerator(self.shared.clone()))
    }

    fn create_event(&self) -> PortResult<SimHandle> {
        let id = self.shared.lock().handles.insert(HandleState {
            signaled: false,
            timer: None,
        });
        Ok(SimHandle {
            id,
            shared: self.shared.clone(),
        })
    }

    fn set_event(&self, event: &SimHandle) -> PortResult<()> {
        outside_rt(|| {
            let mut world = self.shared.lock();
            world.handles.get(event.id).ok_or(E_HANDLE)?;
            world.signal(event.id);
            self.shared.cond.notify_all();
            Ok(())
        })
    }

    fn reset_event(&self, event: &SimHandle) -> PortResult<()> {
        let mut world = self.shared.lock();
        let handle = world.handles.get_mut(event.id).ok_or(E_HANDLE)?;
        handle.signaled = false;
        Ok(())
    }

    fn create_waitable_timer(&self, _high_resolution: bool) -> PortResult<SimHandle> {
        self.create_event()
    }

    fn set_waitable_timer(
        &self,
        timer: &SimHandle,
        due_hns: i64,
        period_ms: u32,
    ) -> PortResult<()> {
        let mut world = self.shared.lock();
        let now = world.now_ns;
        let due = if due_hns < 0 {
            now + due_hns.unsigned_abs() * 100
        } else {
            (due_hns as u64 * 100).max(now)
        };
        let handle = world.handles.get_mut(timer.id).ok_or(E_HANDLE)?;
        handle.signaled = false;
        handle.timer = Some((due, period_ms as u64 * 1_000_000));
        Ok(())
    }

    fn wait_for_multiple(&self, handles: &[&SimHandle], timeout_ms: u32) -> PortResult<Wait> {
        outside_rt(|| {
            let mut ids = [usize::MAX; 4];
            for (slot, handle) in ids.iter_mut().zip(handles) {
                *slot = handle.id;
            }
            Ok(World::wait(
                &self.shared,
                &ids[..handles.len().min(4)],
                timeout_ms,
            ))
        })
    }

    fn qpc_ns(&self) -> u64 {
        self.now_ns()
    }

    fn av_set_mm_thread_characteristics(&self, _task: &str) -> PortResult<()> {
        let control = &self.shared.control;
        control.mmcss_entered.fetch_add(1, Ordering::Relaxed);
        control.mmcss_active.store(true, Ordering::Release);
        Ok(())
    }

    fn av_set_mm_thread_priority(&self, _task: &(), _priority: MmPriority) -> PortResult<()> {
        Ok(())
    }

    fn av_revert_mm_thread_characteristics(&self, _task: ()) -> PortResult<()> {
        self.shared
            .control
            .mmcss_active
            .store(false, Ordering::Release);
        Ok(())
    }

    fn set_thread_priority(&self, priority: ThreadPriority) -> PortResult<()> {
        self.shared
            .control
            .time_critical
            .store(priority == ThreadPriority::TimeCritical, Ordering::Release);
        Ok(())
    }

    fn is_wine(&self) -> bool {
        let world = self.shared.lock();
        world
            .spec
            .input
            .as_ref()
            .is_some_and(|i| i.stamps == StampMeaning::ReadTime)
    }
}

/// An event or waitable timer of the simulated machine.
pub struct SimHandle {
    id: usize,
    shared: Arc<Shared>,
}

impl SimHandle {
    pub(crate) fn id(&self) -> usize {
        self.id
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.lock().handles.remove(self.id);
    }
}
