//! The host's imports: Extism's guest ABI (`extism:host/env`), whose memory the host addresses by
//! 64-bit offsets, and Hangar's own functions (`hangar`), which take 32-bit pointers into the
//! guest's memory and move a whole input, output, key or value in one host call.
//!
//! Off WASM (the crate's own unit tests) the imports do not exist: the functions below panic.

#[cfg(target_arch = "wasm32")]
mod imp {
    #[link(wasm_import_module = "extism:host/env")]
    extern "C" {
        pub fn input_length() -> u64;
        pub fn alloc(length: u64) -> u64;
        pub fn free(offset: u64);
        pub fn length(offset: u64) -> u64;
        pub fn load_u8(offset: u64) -> u32;
        pub fn load_u64(offset: u64) -> u64;
        pub fn store_u8(offset: u64, v: u32);
        pub fn store_u64(offset: u64, v: u64);
        pub fn error_set(offset: u64);
    }

    #[link(wasm_import_module = "hangar")]
    extern "C" {
        pub fn input_read(dst: *mut u8, n: u32);
        pub fn output_write(src: *const u8, n: u32);
        pub fn log(level: u64, msg: u64);
        pub fn kv_read(key: *const u8, key_len: u32, dst: *mut u8, cap: u32) -> i32;
        pub fn kv_write(key: *const u8, key_len: u32, value: *const u8, value_len: u32);
        pub fn salt() -> u64;
        pub fn leaks(record: u32, src: *const u8, n: u32, dst: *mut u8) -> u32;
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::missing_safety_doc)]
mod imp {
    fn absent() -> ! {
        panic!("hangar_pdk: host functions exist only in a WASM guest")
    }
    pub unsafe fn input_length() -> u64 { absent() }
    pub unsafe fn alloc(_: u64) -> u64 { absent() }
    pub unsafe fn free(_: u64) { absent() }
    pub unsafe fn length(_: u64) -> u64 { absent() }
    pub unsafe fn load_u8(_: u64) -> u32 { absent() }
    pub unsafe fn load_u64(_: u64) -> u64 { absent() }
    pub unsafe fn store_u8(_: u64, _: u32) { absent() }
    pub unsafe fn store_u64(_: u64, _: u64) { absent() }
    pub unsafe fn error_set(_: u64) { absent() }
    pub unsafe fn input_read(_: *mut u8, _: u32) { absent() }
    pub unsafe fn output_write(_: *const u8, _: u32) { absent() }
    pub unsafe fn log(_: u64, _: u64) { absent() }
    pub unsafe fn kv_read(_: *const u8, _: u32, _: *mut u8, _: u32) -> i32 { absent() }
    pub unsafe fn kv_write(_: *const u8, _: u32, _: *const u8, _: u32) { absent() }
    pub unsafe fn salt() -> u64 { absent() }
    pub unsafe fn leaks(_: u32, _: *const u8, _: u32, _: *mut u8) -> u32 { absent() }
}

use imp::*;

/// Returns the call's input, in one host call (`hangar input_read`).
pub fn input() -> Vec<u8> {
    let n = unsafe { input_length() } as usize;
    let mut buf = vec![0u8; n];
    if n > 0 {
        unsafe { input_read(buf.as_mut_ptr(), n as u32) };
    }
    buf
}

/// Sets the call's output, in one host call (`hangar output_write`).
pub fn output(data: &[u8]) {
    unsafe { output_write(data.as_ptr(), data.len() as u32) };
}

/// Copies data into Extism's memory and returns its offset, 32 bytes per loop turn: the host
/// charges fuel per loop body.
fn store(data: &[u8]) -> u64 {
    let n = data.len() as u64;
    unsafe {
        let off = alloc(n);
        let mut chunks = data.chunks_exact(8);
        let mut i = 0u64;
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            store_u64(off + i, u64::from_le_bytes(w));
            i += 8;
        }
        for &b in chunks.remainder() {
            store_u8(off + i, b as u32);
            i += 1;
        }
        off
    }
}

/// Copies a block of Extism's memory and frees it.
fn load(off: u64) -> Vec<u8> {
    if off == 0 {
        return Vec::new();
    }
    unsafe {
        let n = length(off) as usize;
        let mut buf = Vec::with_capacity(n);
        let mut i = 0usize;
        while i + 8 <= n {
            buf.extend_from_slice(&load_u64(off + i as u64).to_le_bytes());
            i += 8;
        }
        while i < n {
            buf.push(load_u8(off + i as u64) as u8);
            i += 1;
        }
        free(off);
        buf
    }
}

/// Sets Extism's error for the call.
pub fn error_set(msg: &str) {
    unsafe { imp::error_set(store(msg.as_bytes())) };
}

/// `hangar log`.
pub fn log(level: u64, msg: &[u8]) {
    unsafe { imp::log(level, store(msg)) };
}

/// The largest value the host stores (host.MaxKVValue): kv_get's first buffer.
const KV_BUF: usize = 64 << 10;

/// `hangar kv_read`, with a buffer of the largest value first, then of the value's size if it
/// grew past it in between.
pub fn kv_get(key: &[u8]) -> Option<Vec<u8>> {
    let mut cap = KV_BUF;
    loop {
        let mut v = vec![0u8; cap];
        let n = unsafe { kv_read(key.as_ptr(), key.len() as u32, v.as_mut_ptr(), cap as u32) };
        if n < 0 {
            return None;
        }
        if n as usize <= cap {
            v.truncate(n as usize);
            return Some(v);
        }
        cap = n as usize;
    }
}

/// `hangar kv_write`.
pub fn kv_set(key: &[u8], value: &[u8]) {
    unsafe { kv_write(key.as_ptr(), key.len() as u32, value.as_ptr(), value.len() as u32) };
}

/// The plugin's salt, read from the host once per instance.
static mut SALT: Option<Vec<u8>> = None;

/// `hangar salt`, once.
pub fn salt() -> Vec<u8> {
    // Through a raw pointer: the instance runs one call at a time, on one thread.
    let salt = unsafe { &mut *std::ptr::addr_of_mut!(SALT) };
    salt.get_or_insert_with(|| load(unsafe { imp::salt() })).clone()
}

/// `hangar leaks`: the query `q` (uvarint-prefixed strings) about record `record`; the answer's
/// bits go to `bitmap`.
pub fn leaks(record: u32, q: &[u8], bitmap: &mut [u8]) {
    unsafe { imp::leaks(record, q.as_ptr(), q.len() as u32, bitmap.as_mut_ptr()) };
}
