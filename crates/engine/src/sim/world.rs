//! The simulated machine's state and its virtual clock. Time moves only while the device
//! thread waits ([`World::wait`]): it jumps to the next thing that happens (a device
//! period, a capture packet, a timer tick, a late event), sleeping `tick` of real time per
//! simulated period on the way, so tests are fast and deterministic.

use super::control::SimControl;
use super::spec::{SimDeviceSpec, SimInputSpec};
use super::streams::{History, Stream};
use crate::format::{frames_to_hns, StreamFormat};
use crate::port::{DeviceState, Flow, Notification, NotificationSink, Wait};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// QPC time at which a simulated machine boots (1 s: no stamp is ever 0).
pub const BOOT_NS: u64 = 1_000_000_000;

/// The container ID of the simulated output device (one physical device).
pub const SIM_CONTAINER: u128 = 0x5157_0000_0000_4000_8000_0000_0000_0001;

pub(crate) struct Shared {
    pub world: Mutex<World>,
    pub cond: Condvar,
    pub control: Arc<SimControl>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An endpoint of the simulated machine.
pub(crate) struct Endpoint {
    pub id: String,
    pub name: String,
    pub flow: Flow,
    pub state: DeviceState,
    pub container: Option<u128>,
    pub mix: StreamFormat,
    pub default_period_hns: i64,
    pub min_period_hns: i64,
    /// The smallest shared buffer, 100 ns units.
    pub min_buffer_hns: i64,
    pub rates: Vec<u32>,
    /// Capture endpoints: what they record.
    pub input: Option<SimInputSpec>,
    /// Bumped when the endpoint's clients are invalidated (removal, format change).
    pub generation: u64,
    /// Render endpoints: what they played lately (for loopback captures).
    pub history: History,
}

/// `IAudioClient` initialization state.
pub(crate) enum Init {
    Fresh,
    /// `AUDCLNT_E_BUFFER_SIZE_NOT_ALIGNED`: GetBufferSize reports the aligned size; the
    /// client cannot be initialized again.
    Unaligned(u32),
    /// Initialize failed otherwise: the client is dead.
    Failed,
    Ready,
}

pub(crate) struct ClientState {
    pub endpoint: usize,
    pub generation: u64,
    pub init: Init,
    pub event: Option<usize>,
    pub stream: Option<Stream>,
}

pub(crate) struct HandleState {
    pub signaled: bool,
    /// Waitable timers: (next due, period) in ns.
    pub timer: Option<(u64, u64)>,
}

/// A simple slab: ids stay valid until removed.
pub(crate) struct Slab<T>(Vec<Option<T>>);

impl<T> Slab<T> {
    pub fn insert(&mut self, value: T) -> usize {
        match self.0.iter().position(Option::is_none) {
            Some(id) => {
                self.0[id] = Some(value);
                id
            }
            None => {
                self.0.push(Some(value));
                self.0.len() - 1
            }
        }
    }
    pub fn remove(&mut self, id: usize) -> Option<T> {
        self.0.get_mut(id).and_then(Option::take)
    }
    pub fn get(&self, id: usize) -> Option<&T> {
        self.0.get(id).and_then(Option::as_ref)
    }
    pub fn get_mut(&mut self, id: usize) -> Option<&mut T> {
        self.0.get_mut(id).and_then(Option::as_mut)
    }
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(id, v)| v.as_ref().map(|v| (id, v)))
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.0
            .iter_mut()
            .enumerate()
            .filter_map(|(id, v)| v.as_mut().map(|v| (id, v)))
    }
}

pub(crate) struct World {
    pub now_ns: u64,
    pub spec: SimDeviceSpec,
    pub endpoints: Vec<Endpoint>,
    pub default_render: Option<usize>,
    pub default_capture: Option<usize>,
    pub clients: Slab<ClientState>,
    pub handles: Slab<HandleState>,
    /// Signals a quirky driver sends later: (due, handle).
    pub pending: Vec<(u64, usize)>,
    pub sinks: Slab<Arc<dyn NotificationSink>>,
    /// Real nanoseconds slept per simulated nanosecond.
    pub pace: f64,
}

impl World {
    pub fn new(spec: SimDeviceSpec) -> Self {
        let mix = spec.mix_format;
        let render = |(name, id): &(String, String)| Self::render_endpoint(&spec, name, id);
        let mut endpoints: Vec<Endpoint> = spec.endpoints.iter().map(render).collect();
        let default_render = (!endpoints.is_empty()).then_some(0);
        let mut default_capture = None;
        if let Some(input) = &spec.input {
            let container = if input.detect_clock || !input.shared_clock {
                // Nothing says the clocks are one (built-in devices of a PC).
                crate::stream::COMPUTER_CONTAINER
            } else {
                SIM_CONTAINER
            };
            let rate = input.mix_format.sample_rate;
            default_capture = Some(endpoints.len());
            endpoints.push(Endpoint {
                id: "{sim}.input".into(),
                name: "Simulated input".into(),
                flow: Flow::Capture,
                state: DeviceState::ACTIVE,
                container: Some(container),
                mix: input.mix_format,
                default_period_hns: frames_to_hns(input.period_frames, rate),
                min_period_hns: frames_to_hns(input.period_frames / 2, rate),
                min_buffer_hns: frames_to_hns(input.buffer_frames, rate),
                rates: input
                    .supported_rates
                    .clone()
                    .unwrap_or_else(|| spec.supported_rates.clone()),
                input: Some(input.clone()),
                generation: 0,
                history: History::default(),
            });
        }
        let period_ns = spec.period_frames as f64 * 1e9 / mix.sample_rate.max(1) as f64;
        Self {
            now_ns: BOOT_NS,
            pace: spec.tick.as_nanos() as f64 / period_ns.max(1.0),
            spec,
            endpoints,
            default_render,
            default_capture,
            clients: Slab(Vec::new()),
            handles: Slab(Vec::new()),
            pending: Vec::new(),
            sinks: Slab(Vec::new()),
        }
    }

    fn render_endpoint(spec: &SimDeviceSpec, name: &str, id: &str) -> Endpoint {
        let mix = spec.mix_format;
        Endpoint {
            id: id.to_string(),
            name: name.to_string(),
            flow: Flow::Render,
            state: DeviceState::ACTIVE,
            container: Some(SIM_CONTAINER),
            mix,
            default_period_hns: frames_to_hns(spec.period_frames, mix.sample_rate),
            min_period_hns: spec.min_period_hns(),
            min_buffer_hns: frames_to_hns(spec.buffer_frames, mix.sample_rate),
            rates: spec.supported_rates.clone(),
            input: None,
            generation: 0,
            history: History::default(),
        }
    }

    /// A new render endpoint, like the others; returns its index.
    pub fn plug_render(&mut self, name: &str, id: &str) -> usize {
        let endpoint = Self::render_endpoint(&self.spec, name, id);
        self.endpoints.push(endpoint);
        self.endpoints.len() - 1
    }

    pub fn signal(&mut self, handle: usize) {
        if let Some(h) = self.handles.get_mut(handle) {
            h.signaled = true;
        }
    }

    /// Whether any initialized render client holds an endpoint.
    pub fn render_held(&self) -> bool {
        self.clients.iter().any(|(_, c)| {
            let endpoint = &self.endpoints[c.endpoint];
            matches!(c.init, Init::Ready)
                && endpoint.flow == Flow::Render
                && c.generation == endpoint.generation
        })
    }

    /// The next moment something happens, if anything is scheduled.
    fn next_activity(&self) -> Option<u64> {
        let streams = self
            .clients
            .iter()
            .filter(|(_, c)| c.generation == self.endpoints[c.endpoint].generation)
            .filter_map(|(_, c)| c.stream.as_ref().and_then(Stream::next_due));
        let timers = self
            .handles
            .iter()
            .filter_map(|(_, h)| h.timer.map(|(due, _)| due));
        let pending = self.pending.iter().map(|&(due, _)| due);
        streams.chain(timers).chain(pending).min()
    }

    /// Runs everything due at or before `until`, in order, then sets the clock to `until`.
    fn run_until(&mut self, control: &SimControl, until: u64) {
        while let Some(due) = self.next_activity().filter(|&due| due <= until) {
            self.now_ns = self.now_ns.max(due);
            self.run_due(control, due);
        }
        self.now_ns = self.now_ns.max(until);
    }

    fn run_due(&mut self, control: &SimControl, due: u64) {
        let mut fired = Vec::new();
        self.pending.retain(|&(at, handle)| {
            if at <= due {
                fired.push(handle);
                false
            } else {
                true
            }
        });
        for (_, h) in self.handles.iter_mut() {
            if let Some((next, period)) = h.timer {
                if next <= due {
                    h.signaled = true;
                    // A period of 0 is a one-shot timer.
                    h.timer = (period > 0).then_some((next + period, period));
                }
            }
        }
        for handle in fired {
            self.signal(handle);
        }
        let ids: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                c.generation == self.endpoints[c.endpoint].generation
                    && c.stream
                        .as_ref()
                        .and_then(Stream::next_due)
                        .is_some_and(|d| d <= due)
            })
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            super::streams::period(self, control, id, due);
        }
    }

    /// `WaitForMultipleObjects`: the first signalled handle (auto-reset), or a timeout.
    pub fn wait(shared: &Shared, handles: &[usize], timeout_ms: u32) -> Wait {
        let mut world = shared.lock();
        let deadline = world.now_ns + timeout_ms as u64 * 1_000_000;
        loop {
            if let Some(index) = world.take_signal(handles) {
                return Wait::Signaled(index);
            }
            if world.now_ns >= deadline {
                return Wait::Timeout;
            }
            let next = world.next_activity().map_or(deadline, |d| d.min(deadline));
            let real = Duration::from_nanos(((next - world.now_ns) as f64 * world.pace) as u64);
            if !real.is_zero() {
                // Sleep in real time, unless another thread signals one of our handles.
                let until = Instant::now() + real;
                loop {
                    let now = Instant::now();
                    if now >= until || world.any_signaled(handles) {
                        break;
                    }
                    world = shared
                        .cond
                        .wait_timeout(world, until - now)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                if world.any_signaled(handles) {
                    continue;
                }
            }
            world.run_until(&shared.control, next);
        }
    }

    fn any_signaled(&self, handles: &[usize]) -> bool {
        handles
            .iter()
            .any(|&h| self.handles.get(h).is_some_and(|h| h.signaled))
    }

    fn take_signal(&mut self, handles: &[usize]) -> Option<usize> {
        let index = handles
            .iter()
            .position(|&h| self.handles.get(h).is_some_and(|h| h.signaled))?;
        if let Some(h) = self.handles.get_mut(handles[index]) {
            h.signaled = false;
        }
        Some(index)
    }

    /// The sinks to tell about a change (called outside the lock).
    pub fn sinks(&self) -> Vec<Arc<dyn NotificationSink>> {
        self.sinks.iter().map(|(_, s)| s.clone()).collect()
    }
}

/// Tells every registered notification client, outside the world's lock.
pub(crate) fn notify_all(shared: &Shared, notifications: &[Notification]) {
    let sinks = shared.lock().sinks();
    for notification in notifications {
        for sink in &sinks {
            sink.notify(notification);
        }
    }
}
