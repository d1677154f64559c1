//! The simulated endpoints: `IMMDeviceEnumerator`, `IMMDeviceCollection`, `IMMDevice` and
//! notification registrations.

use super::client_objects::SimClient;
use super::world::{ClientState, Init, Shared};
use super::SimPort;
use crate::port::*;
use std::sync::Arc;

/// `IMMDeviceEnumerator`.
pub struct SimEnumerator(pub(crate) Arc<Shared>);

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
