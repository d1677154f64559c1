//! `IMMDeviceEnumerator`, `IMMDeviceCollection`, `IMMDevice` and endpoint notifications.

use super::{hr, WasapiClient, WasapiPort};
use std::sync::Arc;
use wasio_engine::port::{
    Device, DeviceCollection, DeviceEnumerator, DeviceState, Flow, Notification, NotificationSink,
    PortResult, Role, DISP_E_TYPEMISMATCH,
};
use windows::core::{implement, Interface, HSTRING, PCWSTR};
use windows::Win32::Devices::FunctionDiscovery::{
    PKEY_Device_ContainerId, PKEY_Device_FriendlyName,
};
use windows::Win32::Foundation::PROPERTYKEY;
use windows::Win32::Media::Audio::{
    eAll, eCapture, eCommunications, eConsole, eMultimedia, eRender, EDataFlow, ERole,
    IAudioClient, IMMDevice, IMMDeviceCollection, IMMDeviceEnumerator, IMMEndpoint,
    IMMNotificationClient, IMMNotificationClient_Impl, MMDeviceEnumerator, DEVICE_STATE,
};
use windows::Win32::System::Com::{CoCreateInstance, CoTaskMemFree, CLSCTX_ALL, STGM_READ};
use windows::Win32::System::Variant::{VT_CLSID, VT_EMPTY, VT_LPWSTR};

fn data_flow(flow: Flow) -> EDataFlow {
    match flow {
        Flow::Render => eRender,
        Flow::Capture => eCapture,
        Flow::All => eAll,
    }
}

fn flow_of(flow: EDataFlow) -> Flow {
    if flow == eRender {
        Flow::Render
    } else if flow == eCapture {
        Flow::Capture
    } else {
        Flow::All
    }
}

fn role(role: Role) -> ERole {
    match role {
        Role::Console => eConsole,
        Role::Multimedia => eMultimedia,
        Role::Communications => eCommunications,
    }
}

fn role_of(role: ERole) -> Role {
    if role == eMultimedia {
        Role::Multimedia
    } else if role == eCommunications {
        Role::Communications
    } else {
        Role::Console
    }
}

/// `IMMDeviceEnumerator`.
pub struct WasapiEnumerator(IMMDeviceEnumerator);

impl WasapiEnumerator {
    pub(crate) fn create() -> PortResult<Self> {
        // SAFETY: COM is initialized on this thread (the engine enters the MTA first).
        unsafe { CoCreateInstance(&MMDeviceEnumerator, None, CLSCTX_ALL) }
            .map(Self)
            .map_err(hr)
    }
}

impl DeviceEnumerator for WasapiEnumerator {
    type Port = WasapiPort;

    fn default_audio_endpoint(&self, flow: Flow, which: Role) -> PortResult<WasapiDevice> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.0.GetDefaultAudioEndpoint(data_flow(flow), role(which)) }
            .map(WasapiDevice)
            .map_err(hr)
    }

    fn device(&self, id: &str) -> PortResult<WasapiDevice> {
        let id = HSTRING::from(id);
        // SAFETY: a NUL-terminated wide string that outlives the call.
        unsafe { self.0.GetDevice(&id) }
            .map(WasapiDevice)
            .map_err(hr)
    }

    fn enum_audio_endpoints(
        &self,
        flow: Flow,
        states: DeviceState,
    ) -> PortResult<WasapiCollection> {
        // SAFETY: plain COM call on a valid interface.
        unsafe {
            self.0
                .EnumAudioEndpoints(data_flow(flow), DEVICE_STATE(states.0))
        }
        .map(WasapiCollection)
        .map_err(hr)
    }

    fn register_endpoint_notification_callback(
        &self,
        sink: Arc<dyn NotificationSink>,
    ) -> PortResult<WasapiRegistration> {
        let client: IMMNotificationClient = Forwarder { sink }.into();
        // SAFETY: plain COM call; the client stays alive until unregistered in drop.
        unsafe { self.0.RegisterEndpointNotificationCallback(&client) }.map_err(hr)?;
        Ok(WasapiRegistration {
            enumerator: self.0.clone(),
            client,
        })
    }
}

/// A registered notification client; unregistered on drop (on the thread that registered it).
pub struct WasapiRegistration {
    enumerator: IMMDeviceEnumerator,
    client: IMMNotificationClient,
}

impl Drop for WasapiRegistration {
    fn drop(&mut self) {
        // SAFETY: unregisters the client registered above.
        let _ = unsafe {
            self.enumerator
                .UnregisterEndpointNotificationCallback(&self.client)
        };
    }
}

/// Hands each notification to the engine's sink, as it came.
#[implement(IMMNotificationClient)]
struct Forwarder {
    sink: Arc<dyn NotificationSink>,
}

fn text(id: &PCWSTR) -> String {
    if id.is_null() {
        return String::new();
    }
    // SAFETY: Windows passes a NUL-terminated wide string valid during the call.
    unsafe { id.to_string() }.unwrap_or_default()
}

impl IMMNotificationClient_Impl for Forwarder_Impl {
    fn OnDeviceStateChanged(&self, id: &PCWSTR, state: DEVICE_STATE) -> windows::core::Result<()> {
        self.sink.notify(&Notification::DeviceStateChanged {
            id: text(id),
            state: DeviceState(state.0),
        });
        Ok(())
    }
    fn OnDeviceAdded(&self, id: &PCWSTR) -> windows::core::Result<()> {
        self.sink
            .notify(&Notification::DeviceAdded { id: text(id) });
        Ok(())
    }
    fn OnDeviceRemoved(&self, id: &PCWSTR) -> windows::core::Result<()> {
        self.sink
            .notify(&Notification::DeviceRemoved { id: text(id) });
        Ok(())
    }
    fn OnDefaultDeviceChanged(
        &self,
        flow: EDataFlow,
        which: ERole,
        id: &PCWSTR,
    ) -> windows::core::Result<()> {
        self.sink.notify(&Notification::DefaultDeviceChanged {
            flow: flow_of(flow),
            role: role_of(which),
            id: text(id),
        });
        Ok(())
    }
    fn OnPropertyValueChanged(
        &self,
        _id: &PCWSTR,
        _key: &PROPERTYKEY,
    ) -> windows::core::Result<()> {
        Ok(())
    }
}

/// `IMMDeviceCollection`.
pub struct WasapiCollection(IMMDeviceCollection);

impl DeviceCollection for WasapiCollection {
    type Port = WasapiPort;

    fn count(&self) -> PortResult<u32> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.0.GetCount() }.map_err(hr)
    }

    fn item(&self, index: u32) -> PortResult<WasapiDevice> {
        // SAFETY: plain COM call; Windows checks the index.
        unsafe { self.0.Item(index) }.map(WasapiDevice).map_err(hr)
    }
}

/// `IMMDevice`.
pub struct WasapiDevice(pub(crate) IMMDevice);

impl Device for WasapiDevice {
    type Port = WasapiPort;

    fn id(&self) -> PortResult<String> {
        // SAFETY: GetId returns a CoTaskMem string we free after copying.
        unsafe {
            let id = self.0.GetId().map_err(hr)?;
            let text = id.to_string().unwrap_or_default();
            CoTaskMemFree(Some(id.0 as *const _));
            Ok(text)
        }
    }

    fn state(&self) -> PortResult<DeviceState> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.0.GetState() }
            .map(|s| DeviceState(s.0))
            .map_err(hr)
    }

    fn data_flow(&self) -> PortResult<Flow> {
        let endpoint = self.0.cast::<IMMEndpoint>().map_err(hr)?;
        // SAFETY: plain COM call on a valid interface.
        unsafe { endpoint.GetDataFlow() }.map(flow_of).map_err(hr)
    }

    fn friendly_name(&self) -> PortResult<String> {
        // SAFETY: plain COM calls; the PROPVARIANT frees itself on drop.
        let value = unsafe {
            self.0
                .OpenPropertyStore(STGM_READ)
                .and_then(|store| store.GetValue(&PKEY_Device_FriendlyName))
                .map_err(hr)?
        };
        // Read the string directly: PROPVARIANT's Display goes through PropVariantToBSTR,
        // which Wine does not implement (calling it kills the host process).
        if value.vt() != VT_LPWSTR {
            return Err(DISP_E_TYPEMISMATCH);
        }
        // SAFETY: vt says the union holds a NUL-terminated wide string owned by `value`.
        unsafe { value.Anonymous.Anonymous.Anonymous.pwszVal.to_string() }
            .map_err(|_| DISP_E_TYPEMISMATCH)
    }

    fn container_id(&self) -> PortResult<Option<u128>> {
        // SAFETY: plain COM calls; the PROPVARIANT frees itself on drop.
        let value = unsafe {
            self.0
                .OpenPropertyStore(STGM_READ)
                .and_then(|store| store.GetValue(&PKEY_Device_ContainerId))
                .map_err(hr)?
        };
        if value.vt() == VT_EMPTY {
            return Ok(None);
        }
        if value.vt() != VT_CLSID {
            return Err(DISP_E_TYPEMISMATCH);
        }
        // SAFETY: vt says the union holds a CLSID pointer owned by `value`.
        let guid = unsafe { value.Anonymous.Anonymous.Anonymous.puuid };
        // SAFETY: checked non-null; read while `value` is alive.
        Ok((!guid.is_null()).then(|| unsafe { (*guid).to_u128() }))
    }

    fn activate_audio_client(&self) -> PortResult<WasapiClient> {
        // SAFETY: plain COM call on a valid interface.
        unsafe { self.0.Activate::<IAudioClient>(CLSCTX_ALL, None) }
            .map(WasapiClient::new)
            .map_err(hr)
    }
}
