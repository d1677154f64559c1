//! Self-registration: what `regsvr32` calls, writing exactly the keys hosts read.
//!
//! - `HKCR\CLSID\{clsid}` = driver name, with `InprocServer32` = absolute DLL path and
//!   `ThreadingModel` = `Both` (a host creating the driver from an MTA gets it directly).
//! - `HKLM\SOFTWARE\ASIO\Wasio` with `CLSID` and `Description`, where hosts enumerate.
//!
//! A 32-bit DLL registered by 32-bit regsvr32 lands in the WOW6432Node views 32-bit hosts read.

use crate::com::guard_hresult;
use crate::{ASIO_KEY_NAME, CLSID_WASIO};
use windows::core::{HSTRING, PCWSTR};
use windows::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_SUCCESS, HMODULE, WIN32_ERROR};
use windows::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
};
use windows::Win32::System::Registry::{
    RegCloseKey, RegCreateKeyExW, RegDeleteTreeW, RegSetValueExW, HKEY, HKEY_CLASSES_ROOT,
    HKEY_LOCAL_MACHINE, KEY_WRITE, REG_OPTION_NON_VOLATILE, REG_SZ,
};

const SELFREG_E_CLASS: i32 = 0x8004_0201_u32 as i32;

fn hresult_from_win32(e: WIN32_ERROR) -> i32 {
    if e.0 == 0 {
        0
    } else {
        ((e.0 & 0xFFFF) | 0x8007_0000) as i32
    }
}

/// The absolute path of this DLL.
pub(crate) fn module_path() -> Result<String, i32> {
    let mut module = HMODULE::default();
    // SAFETY: asks which module contains this function; no reference count is taken.
    unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            PCWSTR(module_path as *const () as *const u16),
            &mut module,
        )
    }
    .map_err(|e| e.code().0)?;
    let mut buffer = vec![0u16; 32_768];
    // SAFETY: the buffer is writable for its whole length.
    let len = unsafe { GetModuleFileNameW(Some(module), &mut buffer) } as usize;
    if len == 0 || len >= buffer.len() {
        return Err(SELFREG_E_CLASS);
    }
    Ok(String::from_utf16_lossy(&buffer[..len]))
}

struct Key(HKEY);

impl Key {
    fn create(parent: HKEY, path: &str) -> Result<Key, i32> {
        let mut key = HKEY::default();
        // SAFETY: creates or opens a key under a predefined root; `key` receives the handle.
        let status = unsafe {
            RegCreateKeyExW(
                parent,
                &HSTRING::from(path),
                None,
                PCWSTR::null(),
                REG_OPTION_NON_VOLATILE,
                KEY_WRITE,
                None,
                &mut key,
                None,
            )
        };
        if status != ERROR_SUCCESS {
            return Err(hresult_from_win32(status));
        }
        Ok(Key(key))
    }

    /// Sets a string value; `None` is the key's default value.
    fn set(&self, name: Option<&str>, value: &str) -> Result<(), i32> {
        let wide: Vec<u16> = value.encode_utf16().chain(std::iter::once(0)).collect();
        // SAFETY: reinterprets the UTF-16 buffer as the bytes REG_SZ expects.
        let bytes =
            unsafe { std::slice::from_raw_parts(wide.as_ptr() as *const u8, wide.len() * 2) };
        let name = name.map(HSTRING::from);
        let name_ptr = name.as_ref().map_or(PCWSTR::null(), |n| PCWSTR(n.as_ptr()));
        // SAFETY: the key is open for writing; `bytes` outlives the call.
        let status = unsafe { RegSetValueExW(self.0, name_ptr, None, REG_SZ, Some(bytes)) };
        if status != ERROR_SUCCESS {
            return Err(hresult_from_win32(status));
        }
        Ok(())
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: closes the handle this Key owns.
        let _ = unsafe { RegCloseKey(self.0) };
    }
}

fn clsid_key_path() -> String {
    format!("CLSID\\{CLSID_WASIO}")
}

fn register() -> Result<(), i32> {
    let path = module_path()?;
    let clsid = Key::create(HKEY_CLASSES_ROOT, &clsid_key_path())?;
    clsid.set(None, ASIO_KEY_NAME)?;
    let server = Key::create(
        HKEY_CLASSES_ROOT,
        &format!("{}\\InprocServer32", clsid_key_path()),
    )?;
    server.set(None, &path)?;
    server.set(Some("ThreadingModel"), "Both")?;
    let asio = Key::create(
        HKEY_LOCAL_MACHINE,
        &format!("SOFTWARE\\ASIO\\{ASIO_KEY_NAME}"),
    )?;
    asio.set(Some("CLSID"), &CLSID_WASIO.to_string())?;
    asio.set(Some("Description"), ASIO_KEY_NAME)?;
    Ok(())
}

fn delete_tree(root: HKEY, path: &str) -> Result<(), i32> {
    // SAFETY: deletes one subtree under a predefined root.
    let status = unsafe { RegDeleteTreeW(root, &HSTRING::from(path)) };
    if status == ERROR_SUCCESS || status == ERROR_FILE_NOT_FOUND {
        Ok(())
    } else {
        Err(hresult_from_win32(status))
    }
}

fn unregister() -> Result<(), i32> {
    delete_tree(
        HKEY_LOCAL_MACHINE,
        &format!("SOFTWARE\\ASIO\\{ASIO_KEY_NAME}"),
    )?;
    delete_tree(HKEY_CLASSES_ROOT, &clsid_key_path())
}

/// Called by `regsvr32 wasio.dll`.
#[no_mangle]
pub extern "system" fn DllRegisterServer() -> i32 {
    guard_hresult(|| match register() {
        Ok(()) => 0,
        Err(hr) => {
            // Leave nothing half-registered.
            let _ = unregister();
            hr
        }
    })
}

/// Called by `regsvr32 /u wasio.dll`: removes exactly the keys DllRegisterServer wrote.
#[no_mangle]
pub extern "system" fn DllUnregisterServer() -> i32 {
    guard_hresult(|| match unregister() {
        Ok(()) => 0,
        Err(hr) => hr,
    })
}
