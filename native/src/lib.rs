//! phrchain_native: the compiled hot path of phrchain.
//!
//! Optional: `phrchain.core.accel` uses it when it is importable and `PHRCHAIN_PURE=1`
//! is not set. The pure-Python code in `phrchain.core` is the specification; the test
//! suite checks this module against it on random inputs (tests/unit/test_native.py).

use pyo3::prelude::*;

mod canonical;
mod field25519;
mod smt;

/// Bumped whenever a function's signature or meaning changes, so a stale build is
/// refused (`phrchain.core.accel.ABI`) instead of half-working.
const ABI: u32 = 2;

#[pymodule]
fn phrchain_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ABI", ABI)?;
    m.add_function(wrap_pyfunction!(smt::smt_update, m)?)?;
    m.add_function(wrap_pyfunction!(smt::smt_prove, m)?)?;
    m.add_function(wrap_pyfunction!(smt::smt_batch, m)?)?;
    m.add_function(wrap_pyfunction!(canonical::canonical_encode, m)?)?;
    m.add_function(wrap_pyfunction!(canonical::canonical_decode, m)?)?;
    m.add_function(wrap_pyfunction!(field25519::field25519_pow, m)?)?;
    Ok(())
}
