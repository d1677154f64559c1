//! The simulated WASAPI's objects: [`SimPort`] and the port's traits over the simulated
//! machine ([`super::world`]). Each method is one call with Windows' documented answers;
//! the bookkeeping of the simulated OS runs outside the allocation guard's real-time
//! accounting (it stands for Windows, whose allocations are not the driver's).

use super::control::SimControl;
use super::spec::SimDeviceSpec;
use super::world::{notify_all, ClientState, HandleState, Init, Shared, World};
use crate::capture_clock::StampMeaning;
use crate::port::*;
use crate::rt_guard::outside_rt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

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

/// `IMMDeviceEnumerator`.
pub struct SimEnumerator(Arc<Shared>);

impl DeviceEnumerator for SimEnumerator {
    type Port = SimPort;

    fn default_audio_endpoint(&self, flow: Flow, _role: Role) -> PortResult<SimDevice> {
        let world = self.0.lock();
        let index = match flow {
            Flow::Render => world.default_render,
            Flow::Capture => world.default_capture,
            Flow::All => return Err(E_INVALIDARG),
        };
        index
            .map(|index| SimDevice(self.0.clone(), index))
            .ok_or(E_NOTFOUND)
    }

    fn device(&self, id: &str) -> PortResult<SimDevice> {
        let world = self.0.lock();
        world
            .endpoints
            .iter()
            .position(|e| e.id.eq_ignore_ascii_case(id))
            .map(|index| SimDevice(self.0.clone(), index))
            .ok_or(E_NOTFOUND)
    }

    fn enum_audio_endpoints(&self, flow: Flow, states: DeviceState) -> PortResult<SimCollection> {
        let world = self.0.lock();
        let items = world
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| (flow == Flow::All || e.flow == flow) && states.contains(e.state))
            .map(|(index, _)| index)
            .collect();
        Ok(SimCollection(self.0.clone(), items))
    }

    fn register_endpoint_notification_callback(
        &self,
        sink: Arc<dyn NotificationSink>,
    ) -> PortResult<SimRegistration> {
        let id = self.0.lock().sinks.insert(sink);
        Ok(SimRegistration(self.0.clone(), id))
    }
}

/// A registered notification client.
pub struct SimRegistration(Arc<Shared>, usize);

impl Drop for SimRegistration {
    fn drop(&mut self) {
        self.0.lock().sinks.remove(self.1);
    }
}

/// `IMMDeviceCollection`: a snapshot of the endpoints at enumeration.
pub struct SimCollection(Arc<Shared>, Vec<usize>);

impl DeviceCollection for SimCollection {
    type Port = SimPort;

    fn count(&self) -> PortResult<u32> {
        Ok(self.1.len() as u32)
    }

    fn item(&self, index: u32) -> PortResult<SimDevice> {
        let endpoint = *self.1.get(index as usize).ok_or(E_INVALIDARG)?;
        Ok(SimDevice(self.0.clone(), endpoint))
    }
}

/// `IMMDevice`.
pub struct SimDevice(Arc<Shared>, usize);

impl Device for SimDevice {
    type Port = SimPort;

    fn id(&self) -> PortResult<String> {
        Ok(self.0.lock().endpoints[self.1].id.clone())
    }

    fn state(&self) -> PortResult<DeviceState> {
        Ok(self.0.lock().endpoints[self.1].state)
    }

    fn data_flow(&self) -> PortResult<Flow> {
        Ok(self.0.lock().endpoints[self.1].flow)
    }

    fn friendly_name(&self) -> PortResult<String> {
        Ok(self.0.lock().endpoints[self.1].name.clone())
    }

    fn container_id(&self) -> PortResult<Option<u128>> {
        Ok(self.0.lock().endpoints[self.1].container)
    }

    fn activate_audio_client(&self) -> PortResult<SimClient> {
        let mut world = self.0.lock();
        let endpoint = &world.endpoints[self.1];
        if endpoint.state != DeviceState::ACTIVE {
            return Err(AUDCLNT_E_DEVICE_INVALIDATED);
        }
        let generation = endpoint.generation;
        let id = world.clients.insert(ClientState {
            endpoint: self.1,
            generation,
            init: Init::Fresh,
            event: None,
            stream: None,
        });
        Ok(SimClient {
            id,
            shared: self.0.clone(),
        })
    }
}

pub use super::client_objects::{SimCapture, SimClient, SimClient3, SimClock, SimRender};
