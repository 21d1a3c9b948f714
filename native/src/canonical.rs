//! phrchain canonical JSON (`phrchain/core/encoding.py`), compiled.
//!
//! Both functions answer only when they are sure to agree with the reference, and
//! return `None` otherwise (anything unusual: a subclass, a float, a huge integer, a
//! lone surrogate, non-canonical bytes...); the Python wrapper then runs the reference,
//! which encodes, decodes or raises the exact error. So the compiled code can be
//! stricter than the reference, never looser.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};

const MAX_SAFE_INTEGER: i64 = (1i64 << 53) - 1;
/// `encoding.MAX_DEPTH`: nested containers a canonical value may have.
const MAX_DEPTH: usize = 32;
/// Past this nesting `encode_trusted` leaves the value to the reference (which also
/// detects circular references).
const TRUSTED_DEPTH: usize = 128;
const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(c >> 4) as usize]);
            out.push(HEX[(c & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends the canonical bytes of `v`; `Ok(false)` = leave it to the reference.
/// `checked`: also refuse (leave) what `encoding._check` refuses.
fn enc(v: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize, checked: bool) -> PyResult<bool> {
    if v.is_none() {
        out.extend_from_slice(b"null");
        return Ok(true);
    }
    if let Ok(b) = v.downcast_exact::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(true);
    }
    if let Ok(s) = v.downcast_exact::<PyString>() {
        let Ok(text) = s.to_str() else {
            return Ok(false);
        }; // lone surrogate
        push_string(out, text);
        return Ok(true);
    }
    if let Ok(i) = v.downcast_exact::<PyInt>() {
        let Ok(n) = i.extract::<i64>() else {
            return Ok(false);
        };
        if checked && !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) {
            return Ok(false);
        }
        out.extend_from_slice(n.to_string().as_bytes());
        return Ok(true);
    }
    let limit = if checked { MAX_DEPTH } else { TRUSTED_DEPTH };
    if let Ok(d) = v.downcast_exact::<PyDict>() {
        if depth >= limit {
            return Ok(false);
        }
        let mut items: Vec<(Bound<'_, PyString>, Bound<'_, PyAny>)> = Vec::with_capacity(d.len());
        for (k, item) in d.iter() {
            let Ok(k) = k.downcast_exact::<PyString>() else {
                return Ok(false);
            };
            items.push((k.clone(), item));
        }
        let mut keyed: Vec<(&str, &Bound<'_, PyAny>)> = Vec::with_capacity(items.len());
        for (k, item) in &items {
            let Ok(text) = k.to_str() else {
                return Ok(false);
            };
            if checked && !text.is_ascii() {
                return Ok(false);
            }
            keyed.push((text, item));
        }
        // UTF-8 byte order is code point order: the order of sort_keys.
        keyed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push(b'{');
        for (n, (k, item)) in keyed.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            push_string(out, k);
            out.push(b':');
            if !enc(item, out, depth + 1, checked)? {
                return Ok(false);
            }
        }
        out.push(b'}');
        return Ok(true);
    }
    let seq: Vec<Bound<'_, PyAny>> = if let Ok(l) = v.downcast_exact::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = v.downcast_exact::<PyTuple>() {
        t.iter().collect()
    } else {
        return Ok(false); // float, bytes, subclass, anything else: the reference decides
    };
    if depth >= limit {
        return Ok(false);
    }
    out.push(b'[');
    for (n, item) in seq.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if !enc(item, out, depth + 1, checked)? {
            return Ok(false);
        }
    }
    out.push(b']');
    Ok(true)
}

/// Canonical bytes of `value`, or None to leave it to the reference.
/// `checked=True` is `encoding.encode`, `False` is `encoding.encode_trusted`.
#[pyfunction]
pub fn canonical_encode<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    checked: bool,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(256);
    if enc(value, &mut out, 0, checked)? {
        Ok(Some(PyBytes::new(py, &out)))
    } else {
        Ok(None)
    }
}

struct Parser<'a, 'py> {
    py: Python<'py>,
    s: &'a [u8],
    i: usize,
}

/// `Ok(None)`: not canonical as far as this parser can tell; the reference decides.
type Parsed<'py> = PyResult<Option<Bound<'py, PyAny>>>;

impl<'py> Parser<'_, 'py> {
    fn value(&mut self, depth: usize) -> Parsed<'py> {
        let py = self.py;
        match self.s.get(self.i) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(self.string()?.map(|s| PyString::new(py, &s).into_any())),
            Some(b't') => Ok(self
                .literal(b"true")
                .then(|| PyBool::new(py, true).to_owned().into_any())),
            Some(b'f') => Ok(self
                .literal(b"false")
                .then(|| PyBool::new(py, false).to_owned().into_any())),
            Some(b'n') => Ok(self.literal(b"null").then(|| py.None().into_bound(py))),
            Some(b'-' | b'0'..=b'9') => match self.integer() {
                Some(n) => Ok(Some(n.into_pyobject(py)?.into_any())),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn integer(&mut self) -> Option<i64> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let n = self.i - digits;
        // no fraction or exponent, no leading zero, no "-0", at most 16 digits
        if n == 0 || n > 16 || matches!(self.s.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        if self.s[digits] == b'0' && (n > 1 || digits > start) {
            return None;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        let v: i64 = text.parse().ok()?;
        (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER)
            .contains(&v)
            .then_some(v)
    }

    /// A string exactly as the canonical encoder writes it.
    fn string(&mut self) -> PyResult<Option<String>> {
        self.i += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        let mut start = self.i;
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Ok(None);
            };
            match c {
                b'"' => {
                    out.extend_from_slice(&self.s[start..self.i]);
                    self.i += 1;
                    // the whole input was checked to be UTF-8 and escapes add ASCII only
                    return Ok(String::from_utf8(out).ok());
                }
                0..=0x1f => return Ok(None),
                b'\\' => {
                    out.extend_from_slice(&self.s[start..self.i]);
                    let Some(&e) = self.s.get(self.i + 1) else {
                        return Ok(None);
                    };
                    let ch = match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'u' => {
                            let Some(hex) = self.s.get(self.i + 2..self.i + 6) else {
                                return Ok(None);
                            };
                            if hex[0] != b'0' || hex[1] != b'0' || !matches!(hex[2], b'0' | b'1') {
                                return Ok(None);
                            }
                            let Some(lo) = HEX.iter().position(|&x| x == hex[3]) else {
                                return Ok(None);
                            };
                            let ch = ((hex[2] - b'0') << 4) | lo as u8;
                            if matches!(ch, b'\n' | b'\r' | b'\t' | 0x08 | 0x0c) {
                                return Ok(None); // written short, never as \u00xx
                            }
                            self.i += 4;
                            ch
                        }
                        _ => return Ok(None),
                    };
                    out.push(ch);
                    self.i += 2;
                    start = self.i;
                }
                _ => self.i += 1,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Parsed<'py> {
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        self.i += 1;
        let d = PyDict::new(self.py);
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Some(d.into_any()));
        }
        let mut last: Option<String> = None;
        loop {
            if self.s.get(self.i) != Some(&b'"') {
                return Ok(None);
            }
            let Some(key) = self.string()? else {
                return Ok(None);
            };
            // ASCII keys, strictly increasing: sorted and no duplicates
            if !key.is_ascii() || last.as_ref().is_some_and(|l| l.as_str() >= key.as_str()) {
                return Ok(None);
            }
            if self.s.get(self.i) != Some(&b':') {
                return Ok(None);
            }
            self.i += 1;
            let Some(v) = self.value(depth)? else {
                return Ok(None);
            };
            d.set_item(PyString::new(self.py, &key), v)?;
            last = Some(key);
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Some(d.into_any()));
                }
                _ => return Ok(None),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Parsed<'py> {
        if depth > MAX_DEPTH {
            return Ok(None);
        }
        self.i += 1;
        let l = PyList::empty(self.py);
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Some(l.into_any()));
        }
        loop {
            let Some(v) = self.value(depth)? else {
                return Ok(None);
            };
            l.append(v)?;
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Some(l.into_any()));
                }
                _ => return Ok(None),
            }
        }
    }
}

/// The value of canonical bytes, or None to leave them to the reference (which
/// decodes them or raises the exact error).
#[pyfunction]
pub fn canonical_decode<'py>(py: Python<'py>, data: &[u8]) -> Parsed<'py> {
    if std::str::from_utf8(data).is_err() {
        return Ok(None);
    }
    let mut p = Parser { py, s: data, i: 0 };
    let v = p.value(0)?;
    if p.i != data.len() {
        return Ok(None);
    }
    Ok(v)
}
