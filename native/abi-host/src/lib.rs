//! Loads the built ImapMigration cdylib with libloading and calls its C ABI exactly as the
//! PowerShell module's P/Invoke shim does: one JSON request in, one JSON response out, the
//! response released through `mig_free`.
//!
//! A test host: a missing symbol or a response that is not UTF-8 JSON panics here, so the
//! test or benchmark using it fails at that call.
#![allow(unsafe_code)]
#![allow(
    clippy::expect_used,
    reason = "test host: a broken library or response must fail the calling test at once"
)]

use std::ffi::{CStr, CString, c_char};
use std::path::{Path, PathBuf};

use libloading::{Library, Symbol};
use serde_json::Value;

type CallFn = unsafe extern "C" fn(*const c_char) -> *mut c_char;
type FreeFn = unsafe extern "C" fn(*mut c_char);
type VersionFn = unsafe extern "C" fn() -> u32;

/// The loaded library. It is never unloaded while in use: the library owns a tokio runtime whose
/// threads must not outlive its code.
pub struct NativeLibrary {
    lib: Library,
    path: PathBuf,
}

impl NativeLibrary {
    /// Loads the library at `path`.
    pub fn load(path: &Path) -> Result<Self, libloading::Error> {
        // SAFETY: loading runs the library's initialisers; ours has none with preconditions.
        let lib = unsafe { Library::new(path) }?;
        Ok(Self {
            lib,
            path: path.to_owned(),
        })
    }

    /// The file this library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `mig_abi_version()`.
    pub fn abi_version(&self) -> u32 {
        // SAFETY: the symbol has this exact signature in the library (ffi module).
        unsafe {
            let f: Symbol<VersionFn> = self
                .lib
                .get(b"mig_abi_version\0")
                .expect("mig_abi_version is exported");
            f()
        }
    }

    /// Sends raw request bytes (which must not contain NUL) and returns the raw response text.
    pub fn call_raw(&self, request: &[u8]) -> String {
        let c = CString::new(request).expect("request without NUL bytes");
        // SAFETY: symbols have these exact signatures; the request pointer is valid for the call;
        // the response is a NUL-terminated string owned by us until passed to mig_free.
        unsafe {
            let call: Symbol<CallFn> = self.lib.get(b"mig_call\0").expect("mig_call is exported");
            let free: Symbol<FreeFn> = self.lib.get(b"mig_free\0").expect("mig_free is exported");
            let p = call(c.as_ptr());
            assert!(!p.is_null(), "mig_call returned NULL");
            let text = CStr::from_ptr(p)
                .to_str()
                .expect("response is UTF-8")
                .to_owned();
            free(p);
            text
        }
    }

    /// Sends a JSON request and parses the response envelope.
    pub fn call(&self, request: &Value) -> Value {
        let text = self.call_raw(request.to_string().as_bytes());
        serde_json::from_str(&text).expect("response is JSON")
    }

    /// Calls `mig_call(NULL)`.
    pub fn call_null(&self) -> Value {
        // SAFETY: as in call_raw; NULL is explicitly allowed by the ABI.
        unsafe {
            let call: Symbol<CallFn> = self.lib.get(b"mig_call\0").expect("mig_call is exported");
            let free: Symbol<FreeFn> = self.lib.get(b"mig_free\0").expect("mig_free is exported");
            let p = call(std::ptr::null());
            let text = CStr::from_ptr(p)
                .to_str()
                .expect("response is UTF-8")
                .to_owned();
            free(p);
            serde_json::from_str(&text).expect("response is JSON")
        }
    }
}

/// Where cargo put the workspace's build output for the profile these tests were built with.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("IMAPMIGRATION_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// The built cdylib: `IMAPMIGRATION_LIB`, else `target/<profile>/libimapmigration.so`.
pub fn library_path() -> PathBuf {
    if let Ok(p) = std::env::var("IMAPMIGRATION_LIB") {
        return PathBuf::from(p);
    }
    target_dir().join(format!(
        "{}imapmigration{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// The built worker binary beside the library.
pub fn worker_path() -> PathBuf {
    target_dir().join(format!("imapmigration{}", std::env::consts::EXE_SUFFIX))
}
