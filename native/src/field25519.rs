//! Exponentiation modulo p = 2^255 - 19, for `phrchain.core.keys`' on-curve check
//! (Euler's criterion: one 254-bit exponent, ~100 µs as a Python `pow`).
//!
//! Numbers are four 64-bit limbs, little-endian, kept below 2^256 between steps (not
//! necessarily below p) and fully reduced once at the end. The reference is Python's
//! `pow(base, exp, P)`; tests/unit/test_native.py compares them on random inputs.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

type Fe = [u64; 4];

const P: Fe = [
    0xffff_ffff_ffff_ffed,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
];

/// r + 38·carry, folding 2^256 ≡ 38 (mod p) until the result fits in four limbs.
fn fold(mut r: Fe, mut carry: u64) -> Fe {
    while carry != 0 {
        let mut c = carry as u128 * 38;
        for limb in r.iter_mut() {
            c += *limb as u128;
            *limb = c as u64;
            c >>= 64;
        }
        carry = c as u64;
    }
    r
}

fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0u64; 8];
    for i in 0..4 {
        let mut c: u128 = 0;
        for j in 0..4 {
            c += t[i + j] as u128 + a[i] as u128 * b[j] as u128;
            t[i + j] = c as u64;
            c >>= 64;
        }
        t[i + 4] = c as u64;
    }
    // t = lo + 2^256·hi ≡ lo + 38·hi
    let mut r = [0u64; 4];
    let mut c: u128 = 0;
    for i in 0..4 {
        c += t[i] as u128 + t[i + 4] as u128 * 38;
        r[i] = c as u64;
        c >>= 64;
    }
    fold(r, c as u64)
}

fn geq(a: &Fe, b: &Fe) -> bool {
    for i in (0..4).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

fn sub(a: &Fe, b: &Fe) -> Fe {
    let mut r = [0u64; 4];
    let mut borrow = 0u64;
    for i in 0..4 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow);
        r[i] = d2;
        borrow = (b1 || b2) as u64;
    }
    r
}

fn reduce(mut a: Fe) -> Fe {
    while geq(&a, &P) {
        a = sub(&a, &P);
    }
    a
}

fn from_le(b: &[u8]) -> Fe {
    let mut r = [0u64; 4];
    for (i, limb) in r.iter_mut().enumerate() {
        *limb = u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
    }
    r
}

/// `pow(base, exp, 2**255 - 19)`; base and exp as 32 little-endian bytes (any value
/// below 2^256), the result fully reduced, 32 little-endian bytes.
#[pyfunction]
pub fn field25519_pow<'py>(
    py: Python<'py>,
    base: &[u8],
    exp: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    if base.len() != 32 || exp.len() != 32 {
        return Err(PyValueError::new_err(
            "field25519_pow takes 32-byte little-endian numbers",
        ));
    }
    let b = from_le(base);
    let e = from_le(exp);
    let mut acc: Fe = [1, 0, 0, 0];
    for i in (0..256).rev() {
        acc = mul(&acc, &acc);
        if (e[i / 64] >> (i % 64)) & 1 == 1 {
            acc = mul(&acc, &b);
        }
    }
    let r = reduce(acc);
    let mut out = [0u8; 32];
    for i in 0..4 {
        out[8 * i..8 * i + 8].copy_from_slice(&r[i].to_le_bytes());
    }
    Ok(PyBytes::new(py, &out))
}
