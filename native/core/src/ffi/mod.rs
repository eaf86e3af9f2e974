//! The C ABI: one JSON entry point, its free function and the ABI version.
//!
//! ```c
//! char*    mig_call(const char* request_json);   /* never NULL; free with mig_free */
//! void     mig_free(char* response);
//! uint32_t mig_abi_version(void);
//! ```
//!
//! Every export runs inside [`std::panic::catch_unwind`]: since Rust 1.81 a panic unwinding out of
//! an `extern "C"` function aborts the process, which would kill the PowerShell host. A panic
//! becomes the error code `Panic` instead. New operations never change these three symbols:
//! versioning lives in the JSON.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use serde_json::Value;

use crate::{ABI_VERSION, ErrorCode};

/// Handles one JSON request and returns a newly allocated JSON response.
///
/// # Safety
/// `request` must be NULL or point to a NUL-terminated string that stays valid for the duration
/// of the call. The returned pointer is owned by the caller and must be released with
/// [`mig_free`], exactly once; it is never NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mig_call(request: *const c_char) -> *mut c_char {
    install_panic_hook();
    let response = catch_unwind(AssertUnwindSafe(|| {
        let _guard = InCall::enter();
        if request.is_null() {
            return crate::api::error_envelope(
                ErrorCode::InvalidArgument,
                "request pointer is null",
                None,
            );
        }
        // SAFETY: non-null and NUL-terminated per this function's contract.
        let bytes = unsafe { CStr::from_ptr(request) }.to_bytes();
        match std::str::from_utf8(bytes) {
            Ok(text) => crate::api::handle_json(text),
            Err(e) => crate::api::error_envelope(
                ErrorCode::InvalidArgument,
                &format!("request is not valid UTF-8 (at byte {})", e.valid_up_to()),
                None,
            ),
        }
    }))
    .unwrap_or_else(|payload| {
        let message = panic_message(payload.as_ref());
        tracing::error!(%message, "panic inside mig_call");
        crate::api::error_envelope(
            ErrorCode::Panic,
            &format!("internal panic: {message}"),
            None,
        )
    });
    into_c_string(response)
}

/// Releases a response returned by [`mig_call`].
///
/// # Safety
/// `response` must be NULL or a pointer obtained from [`mig_call`] that has not been freed yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mig_free(response: *mut c_char) {
    if response.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: allocated by CString::into_raw in mig_call and not freed before (contract).
        drop(unsafe { CString::from_raw(response) });
    }));
}

/// The ABI version: callers refuse to talk to a library whose version they do not know.
#[unsafe(no_mangle)]
pub extern "C" fn mig_abi_version() -> u32 {
    ABI_VERSION
}

fn into_c_string(value: Value) -> *mut c_char {
    // serde_json escapes U+0000 as \u0000, so the serialised text never holds a NUL byte.
    let text = value.to_string();
    match CString::new(text) {
        Ok(c) => c.into_raw(),
        Err(_) => CString::new(format!(
            r#"{{"ok":false,"error":{{"code":"{}","message":"response held a NUL byte"}}}}"#,
            ErrorCode::Internal
        ))
        .map(CString::into_raw)
        .unwrap_or(std::ptr::null_mut()),
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

thread_local! {
    /// Set while this thread runs inside [`mig_call`].
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
}

struct InCall;

impl InCall {
    fn enter() -> InCall {
        IN_CALL.with(|c| c.set(true));
        InCall
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.set(false));
    }
}

/// Panics inside a call are logged through `tracing` instead of printed to the host's stderr
/// (PowerShell's console); panics elsewhere in the process keep the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(Cell::get) {
                tracing::error!(panic = %info, "panic inside an ABI call");
            } else {
                previous(info);
            }
        }));
    });
}
